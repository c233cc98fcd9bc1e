// A real PostgreSQL server per test, in a temp dir, on a unix socket only. initdb runs as
// the `postgres` user when the tests run as root. A watchdog kills the server's process
// group when the test process dies, so a killed or timed-out test leaves nothing behind.
// initdb runs once per PostgreSQL version into a template data dir that every server after
// copies (a copy costs about half of initdb's CPU and a third of its time).
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { tempDir } from './tmp.js';
import { freePort } from '../../scripts/demo/ports.js';

interface Teardownable {
  teardown(fn: () => void | Promise<void>): void;
}

export interface TestPostgres {
  /** The socket directory: pass as `host`. */
  host: string;
  port: number;
  user: string;
  database: string;
  /** A client of `database` (default: this server's `database`). */
  client(database?: string): Promise<pg.Client>;
  /** SIGKILL the server (and its backends). */
  kill(): Promise<void>;
  /** A streaming standby of this server (pg_basebackup), synchronous when asked. */
  standbyOf(t: Teardownable, opts: { sync: boolean }): Promise<TestPostgres>;
  /** Promote this standby to a primary. */
  promote(): Promise<void>;
}

function pgBin(): string | null {
  const found = spawnSync('sh', ['-c', 'ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1'], { encoding: 'utf8' });
  const dir = found.stdout.trim();
  return dir || null;
}

export function postgresAvailable(): boolean {
  return pgBin() !== null;
}

export interface PostgresOptions {
  /** Also listen on 127.0.0.1 (on `port`, a free one), for tests that put a proxy in between. */
  tcp?: boolean;
}

export async function startPostgres(t: Teardownable, opts: PostgresOptions = {}): Promise<TestPostgres> {
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
    mkdirSync(data, { mode: 0o700 });
    chownSync(data, uid, gid);
  } else {
    mkdirSync(data, { mode: 0o700 });
  }
  const copy = wrap(['cp', '-a', `${template(bin, wrap)}/.`, data]);
  const done = spawnSync(copy[0] as string, copy.slice(1), { encoding: 'utf8' });
  if (done.status !== 0) throw new Error(`copying the template data dir failed: ${done.stderr}`);
  return launch(t, { bin, data, sock, wrap, port: opts.tcp ? await freePort() : 5432, tcp: opts.tcp === true });
}

/**
 * A data dir fresh from initdb, made once per PostgreSQL version and user and kept in the temp
 * dir. Test processes that start at once each make their own under a unique name and rename
 * it into place: the first rename wins, the others drop theirs, nobody sees a partial one.
 */
function template(bin: string, wrap: (cmd: string[]) => string[]): string {
  const said = spawnSync(join(bin, 'initdb'), ['--version'], { encoding: 'utf8' }).stdout;
  const version = /\d+(?:\.\d+)+/.exec(said)?.[0] ?? 'unknown';
  const dir = join(tmpdir(), `upshift-pg-template-${version}-${process.getuid?.() ?? 'u'}`);
  if (existsSync(join(dir, 'PG_VERSION'))) return dir;
  const mine = `${dir}.${process.pid}.${Date.now()}`;
  const init = wrap([join(bin, 'initdb'), '-D', mine, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8']);
  const done = spawnSync(init[0] as string, init.slice(1), { encoding: 'utf8' });
  if (done.status !== 0) throw new Error(`initdb failed: ${done.stderr}`);
  try {
    renameSync(mine, dir);
  } catch {
    // another process put its template in place first: use that one
    rmSync(mine, { recursive: true, force: true });
  }
  return dir;
}

interface Launch { bin: string; data: string; sock: string; wrap: (cmd: string[]) => string[]; port: number; tcp: boolean }

/** Start the server on `data`, listening only on a socket in `sock`; wait until it answers. */
async function launch(t: Teardownable, l: Launch, extra: string[] = []): Promise<TestPostgres> {
  const port = l.port;
  const server = l.wrap([join(l.bin, 'postgres'), '-D', l.data, '-k', l.sock, '-p', String(port),
    '-c', `listen_addresses=${l.tcp ? '127.0.0.1' : ''}`, '-c', 'fsync=off', '-c', 'max_connections=120', ...extra]);
  const child = spawn(server[0] as string, server.slice(1), { detached: true, stdio: 'ignore' });
  const pgid = child.pid as number;
  // the watchdog outlives us only long enough to take the server down with it
  const watchdog = spawn('sh', ['-c', `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done; kill -9 -${pgid} 2>/dev/null`],
    { detached: true, stdio: 'ignore' });
  watchdog.unref();
  child.unref();
  const gone = async (): Promise<void> => {
    for (let i = 0; i < 100; i++) {
      try { process.kill(-pgid, 0); } catch { return; }
      await sleep(50);
    }
  };
  const kill = async (): Promise<void> => {
    try { process.kill(-pgid, 'SIGKILL'); } catch { /* already gone */ }
    await gone();
  };
  t.teardown(async () => {
    await kill();
    try { process.kill(-(watchdog.pid as number), 'SIGKILL'); } catch { /* already gone */ }
  });
  const info = { host: l.sock, port, user: 'postgres', database: 'postgres' };
  const client = async (database = info.database): Promise<pg.Client> => {
    const c = new pg.Client({ ...info, database });
    c.on('error', () => { /* a killed server surfaces on the next query */ });
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
  const standbyOf = async (t2: Teardownable, opts: { sync: boolean }): Promise<TestPostgres> => {
    const root = tempDir(t2, 'upshift-pg-standby-');
    const data = join(root, 'data');
    const sock = join(root, 'sock');
    mkdirSync(sock);
    if (process.getuid?.() === 0) {
      const owner = statSync(l.sock);
      chmodSync(root, 0o755);
      chownSync(sock, owner.uid, owner.gid);
      mkdirSync(data, { mode: 0o700 });
      chownSync(data, owner.uid, owner.gid);
    }
    const name = `standby_${process.pid}_${Date.now() % 100000}`;
    // a fast checkpoint to start from: a spread one (the default) waits about 15 s on an idle server
    const base = l.wrap([join(l.bin, 'pg_basebackup'), '-h', l.sock, '-p', String(port), '-U', 'postgres', '-D', data,
      '-R', '-X', 'stream', '-c', 'fast', '-d', `application_name=${name}`]);
    const done = spawnSync(base[0] as string, base.slice(1), { encoding: 'utf8' });
    if (done.status !== 0) throw new Error(`pg_basebackup failed: ${done.stderr}`);
    // a TCP standby on its own port: both servers listen on 127.0.0.1
    const standby = await launch(t2, { ...l, data, sock, port: l.tcp ? await freePort() : port });
    if (opts.sync) {
      const c = await client();
      await c.query(`ALTER SYSTEM SET synchronous_standby_names = '${name}'`);
      await c.query('SELECT pg_reload_conf()');
      for (let i = 0; ; i++) {
        const { rows } = await c.query("SELECT sync_state FROM pg_stat_replication WHERE application_name = $1", [name]);
        if (rows[0]?.sync_state === 'sync') break;
        if (i > 300) throw new Error('the standby never became synchronous');
        await sleep(100);
      }
      await c.end();
    }
    return standby;
  };
  const promote = async (): Promise<void> => {
    const cmd = l.wrap([join(l.bin, 'pg_ctl'), 'promote', '-w', '-D', l.data]);
    const done = spawnSync(cmd[0] as string, cmd.slice(1), { encoding: 'utf8' });
    if (done.status !== 0) throw new Error(`pg_ctl promote failed: ${done.stderr}`);
  };
  return { ...info, client, kill, standbyOf, promote };
}
