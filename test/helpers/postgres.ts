// A real PostgreSQL server per test, in a temp dir, on a unix socket only. initdb runs as
// the `postgres` user when the tests run as root. A watchdog kills the server's process
// group when the test process dies, so a killed or timed-out test leaves nothing behind.
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { tempDir } from './tmp.js';

interface Teardownable {
  teardown(fn: () => void | Promise<void>): void;
}

export interface TestPostgres {
  /** The socket directory: pass as `host`. */
  host: string;
  port: number;
  user: string;
  database: string;
  client(): Promise<pg.Client>;
}

function pgBin(): string | null {
  const found = spawnSync('sh', ['-c', 'ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1'], { encoding: 'utf8' });
  const dir = found.stdout.trim();
  return dir || null;
}

export function postgresAvailable(): boolean {
  return pgBin() !== null;
}

export async function startPostgres(t: Teardownable): Promise<TestPostgres> {
  const bin = pgBin();
  if (!bin) throw new Error('PostgreSQL is not installed (.ci/run installs postgresql)');
  const root = tempDir(t, 'upshift-pg-');
  const data = join(root, 'data');
  const sock = join(root, 'sock');
  mkdirSync(sock);
  const asRoot = process.getuid?.() === 0;
  const wrap = (cmd: string[]): string[] => (asRoot ? ['runuser', '-u', 'postgres', '--', ...cmd] : cmd);
  if (asRoot) {
    const ids = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
    const uid = Number(ids.stdout.trim());
    const gid = Number(spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout.trim());
    chmodSync(root, 0o755);
    chownSync(sock, uid, gid);
    mkdirSync(data);
    chownSync(data, uid, gid);
  }
  const init = wrap([join(bin, 'initdb'), '-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8']);
  const done = spawnSync(init[0] as string, init.slice(1), { encoding: 'utf8' });
  if (done.status !== 0) throw new Error(`initdb failed: ${done.stderr}`);
  const port = 5432;
  const server = wrap([join(bin, 'postgres'), '-D', data, '-k', sock, '-p', String(port),
    '-c', 'listen_addresses=', '-c', 'fsync=off', '-c', 'max_connections=50']);
  const child = spawn(server[0] as string, server.slice(1), { detached: true, stdio: 'ignore' });
  const pgid = child.pid as number;
  // the watchdog outlives us only long enough to take the server down with it
  const watchdog = spawn('sh', ['-c', `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done; kill -9 -${pgid} 2>/dev/null`],
    { detached: true, stdio: 'ignore' });
  watchdog.unref();
  child.unref();
  t.teardown(async () => {
    try { process.kill(-pgid, 'SIGKILL'); } catch { /* already gone */ }
    try { process.kill(-(watchdog.pid as number), 'SIGKILL'); } catch { /* already gone */ }
    for (let i = 0; i < 100; i++) {
      try { process.kill(-pgid, 0); } catch { return; }
      await sleep(50);
    }
  });
  const info = { host: sock, port, user: 'postgres', database: 'postgres' };
  const client = async (): Promise<pg.Client> => {
    const c = new pg.Client(info);
    await c.connect();
    return c;
  };
  for (let i = 0; ; i++) {
    try {
      const c = await client();
      await c.end();
      break;
    } catch (err) {
      if (i > 600) throw err;
      await sleep(100);
    }
  }
  return { ...info, client };
}
