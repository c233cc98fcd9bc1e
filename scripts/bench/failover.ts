// authority_failover (issue 13): how long the fleet is without a leader when the leader is
// killed (-9) or stalls (SIGSTOP past stall_timeout), and what one fenced write costs with a
// synchronous standby, all on a real PostgreSQL started for the run.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { PgTarget } from '../../src/adapters/postgres/connect.js';
import { Leadership } from '../../src/adapters/postgres/leader.js';
import { migrate } from '../../src/adapters/postgres/migrate.js';
import { PG_MIGRATIONS } from '../../src/adapters/postgres/migrations.js';
import { startPostgres } from '../../test/helpers/postgres.js';
import { progress, round1, summarize } from './util.js';

const CHILD = fileURLToPath(new URL('./leader-child.js', import.meta.url));

interface Replica { child: ChildProcess; lines: string[]; next(pattern: RegExp): Promise<number> }

/** A replica process; `next` resolves with performance.now() when a matching line arrives. */
function replica(target: PgTarget, name: string, stallMs: number): Replica {
  const child = spawn(process.execPath, [CHILD, JSON.stringify(target), name, String(stallMs)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: string[] = [];
  const waiters: Array<{ pattern: RegExp; resolve: (at: number) => void }> = [];
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
    const at = performance.now();
    lines.push(line);
    for (const w of waiters.splice(0)) if (w.pattern.test(line)) w.resolve(at); else waiters.push(w);
  });
  return {
    child, lines,
    next: (pattern) => new Promise((resolve, reject) => {
      waiters.push({ pattern, resolve });
      child.once('exit', (code) => reject(new Error(`replica ${name} exited ${code} waiting for ${pattern}`)));
    }),
  };
}

export async function benchFailover(opts: { rounds: number; stallMs: number; writes: number }): Promise<object> {
  const cleanups: Array<() => void | Promise<void>> = [];
  const t = { teardown: (fn: () => void | Promise<void>) => void cleanups.unshift(fn) };
  const children: ChildProcess[] = [];
  try {
    const db = await startPostgres(t);
    const admin = await db.client();
    await migrate(admin, PG_MIGRATIONS);
    await admin.query('CREATE TABLE bench_counter (n bigint NOT NULL); INSERT INTO bench_counter VALUES (0)');
    const target: PgTarget = { hosts: [db.host], database: db.database, user: db.user };

    // a follower counts as ready once its session waits on the leader lock (not while it boots)
    const blocked = async (name: string): Promise<void> => {
      for (;;) {
        const { rows } = await admin.query("SELECT 1 FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'", [`upshift-leader:${name}`]);
        if (rows.length > 0) return;
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    const start = (name: string): Replica => {
      const r = replica(target, name, opts.stallMs);
      children.push(r.child);
      return r;
    };
    let leader = start('r0');
    await leader.next(/^lead /);
    const kill9: number[] = [];
    for (let i = 1; i <= opts.rounds; i++) {
      const follower = start(`r${i}`);
      await blocked(`r${i}`);
      const led = follower.next(/^lead /);
      const t0 = performance.now();
      leader.child.kill('SIGKILL');
      kill9.push((await led) - t0);
      leader = follower;
    }
    progress(`authority_failover: kill -9 ${kill9.map((x) => x.toFixed(0)).join(', ')} ms`);

    const stall: number[] = [];
    let fencedAfterResume = 0;
    for (let i = 1; i <= Math.max(1, Math.floor(opts.rounds / 2)); i++) {
      const follower = start(`s${i}`);
      await blocked(`s${i}`);
      const led = follower.next(/^lead /);
      const t0 = performance.now();
      leader.child.kill('SIGSTOP');
      stall.push((await led) - t0);
      const fenced = leader.next(/^fenced$/).then(() => true, () => false);
      leader.child.kill('SIGCONT');
      if (await fenced) fencedAfterResume++;
      leader = follower;
    }
    progress(`authority_failover: stall ${stall.map((x) => x.toFixed(0)).join(', ')} ms`);

    // fenced writes with a synchronous standby, in process
    const standby = await db.standbyOf(t, { sync: true });
    const l = await Leadership.campaign({ target: { ...target, hosts: [db.host, standby.host] }, fleet: 'bench-writes', replica: 'w', stallTimeoutMs: opts.stallMs });
    cleanups.unshift(() => l.resign());
    const writes: number[] = [];
    for (let i = 0; i < opts.writes; i++) {
      const t0 = performance.now();
      await l.fenced((q) => q.query('UPDATE bench_counter SET n = n + 1'));
      writes.push(performance.now() - t0);
    }
    await admin.end();
    const sorted = [...writes].sort((a, b) => a - b);
    return {
      name: 'authority_failover',
      kill9_to_new_leader_ms: summarize(kill9),
      target_kill9_ms: 1000,
      stall_to_new_leader_ms: summarize(stall),
      stall_timeout_ms: opts.stallMs,
      target_stall_ms: opts.stallMs + 2000,
      deposed_leader_fenced_after_resume: `${fencedAfterResume}/${stall.length}`,
      fenced_write_sync_standby_ms: { p50: round1(sorted[Math.floor(sorted.length / 2)] as number), p99: round1(sorted[Math.floor(sorted.length * 0.99)] as number), n: writes.length },
      target_fenced_write_p50_ms: 2,
    };
  } finally {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) { c.kill('SIGCONT'); c.kill('SIGKILL'); }
    for (const fn of cleanups) await fn();
  }
}
