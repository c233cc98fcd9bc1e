// Loopback ports for daemons this process starts. A port found free and then closed stays
// free only until someone else takes it: an outgoing connection's source port, or another
// test's probe. So ports come from below Linux's ephemeral range (which neither takes), and
// each is reserved across processes by a file naming its holder's pid, until that process ends.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const held = new Set<string>(); // reservation files this process holds

process.once('exit', () => {
  for (const path of held) rmSync(path, { force: true });
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8')); // an unreaped orphan is gone
  } catch {
    return true;
  }
}

function take(path: string): boolean {
  try {
    writeFileSync(path, String(process.pid), { flag: 'wx' });
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EROFS') return true; // no shared reservations here: the bind check alone
    if (code !== 'EEXIST') throw err;
    return false;
  }
}

/** Take the reservation file, or reclaim it from a process that has ended. */
function reserve(path: string): boolean {
  if (take(path)) return true;
  const holder = Number(readFileSync(path, 'utf8'));
  if (holder > 0 && alive(holder)) return false;
  rmSync(path, { force: true });
  return take(path); // false if another process reclaimed it first
}

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

export interface PortRange { dir: string; low: number; high: number }

// below Linux's default ip_local_port_range (32768-60999)
const DEFAULT_RANGE: PortRange = { dir: join(tmpdir(), 'upshift-ports'), low: 20_000, high: 32_768 };

/** A 127.0.0.1 port nobody listens on, reserved for this process until it exits. */
export async function freePort(range: PortRange = DEFAULT_RANGE): Promise<number> {
  mkdirSync(range.dir, { recursive: true });
  const span = range.high - range.low;
  for (let tries = 0; tries < Math.max(500, span * 4); tries++) {
    const port = range.low + Math.floor(Math.random() * span);
    const path = join(range.dir, String(port));
    if (held.has(path) || !reserve(path)) continue;
    if (await bindable(port)) {
      held.add(path);
      return port;
    }
    rmSync(path, { force: true });
  }
  throw new Error(`no free loopback port in ${range.low}-${range.high - 1} (reservations in ${range.dir})`);
}
