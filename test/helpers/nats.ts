// A real nats-server with JetStream per test, on a random loopback port (read from its
// ports file), storage in a temp dir. A watchdog kills it when the test process dies.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { tempDir } from './tmp.js';
import { freePort } from '../../scripts/demo/ports.js';

interface Teardownable {
  teardown(fn: () => void | Promise<void>): void;
}

export interface TestNats {
  url: string;
  stop(): Promise<void>;
  /** Start again on the same port and storage (after stop). */
  restart(): Promise<void>;
}

export function natsAvailable(): boolean {
  return spawnSync('sh', ['-c', 'command -v nats-server'], { encoding: 'utf8' }).status === 0;
}

/** `config`: a nats-server configuration file (users, permissions), given with `-c`. */
function parsedOrNull(text: string): { nats?: string[] } | null {
  try {
    return JSON.parse(text) as { nats?: string[] };
  } catch {
    return null;
  }
}

export async function startNats(t: Teardownable, fixedPort?: number, config?: string): Promise<TestNats> {
  const dir = tempDir(t, 'upshift-nats-');
  let pgid = 0;
  // reserved, not random (-1): a restart must find the port still free
  let port = fixedPort ?? await freePort();
  const launch = async (): Promise<void> => {
    const portsDir = join(dir, `ports-${Date.now()}`);
    spawnSync('mkdir', ['-p', portsDir]);
    const args = ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', join(dir, 'js'), '--ports_file_dir', portsDir, ...(config ? ['-c', config] : [])];
    const child = spawn('nats-server', args,
      { detached: true, stdio: 'ignore' });
    pgid = child.pid as number;
    child.unref();
    const watchdog = spawn('sh', ['-c', `while kill -0 ${process.pid} 2>/dev/null && kill -0 ${pgid} 2>/dev/null; do sleep 1; done; kill -9 -${pgid} 2>/dev/null`],
      { detached: true, stdio: 'ignore' });
    watchdog.unref();
    for (let i = 0; i < 600; i++) {
      const file = existsSync(portsDir) ? readdirSync(portsDir).find((f) => f.endsWith('.ports')) : undefined;
      // the server writes the file in place: read before it is whole, it is not JSON yet
      const ports = file ? parsedOrNull(readFileSync(join(portsDir, file), 'utf8')) : null;
      if (ports?.nats?.[0]) {
        port = Number(new URL(ports.nats[0]).port);
        return;
      }
      await sleep(50);
    }
    throw new Error('nats-server did not start');
  };
  const stop = async (): Promise<void> => {
    try { process.kill(-pgid, 'SIGKILL'); } catch { return; }
    for (let i = 0; i < 100; i++) {
      try { process.kill(-pgid, 0); } catch { return; }
      await sleep(50);
    }
  };
  await launch();
  t.teardown(stop);
  return {
    get url() { return `nats://127.0.0.1:${port}`; },
    stop,
    restart: launch,
  };
}
