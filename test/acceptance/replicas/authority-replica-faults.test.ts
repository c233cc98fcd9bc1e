// Issue 13, "Kill the leader": three real `upshift daemon` replicas on one real PostgreSQL.
// The leader is killed with kill -9 at each sign and deploy failpoint (between reservation
// and signature, between signature and stored envelope, after the stored envelope and before
// publish, after the first publish), and separately its database session is terminated
// (pg_terminate_backend). Each time another replica finishes the run, and across every
// envelope the database holds (manifests, deployment manifests, what replicas hold for
// gossip) there is exactly one envelope per (track, seq), each the bytes its reserved
// payload signs to; the fence log shows no write of an old epoch after a newer one was taken.
// Last, the leader is stopped (SIGSTOP) past stall_timeout and resumed: the same checks.
// The cases run in two lanes at once, each a database of its own on one server (they wait
// on stall timeouts and stage processes far more than they compute).
import { existsSync } from 'node:fs';
import t, { type Test } from 'tap';
import type { Daemon } from '../../../scripts/demo/fleet.js';
import { postgresAvailable, startPostgres } from '../../helpers/postgres.js';
import { doubled, replicaBed, type ReplicaBed } from '../../helpers/replica-bed.js';
import { poll, WAIT } from '../../helpers/timeouts.js';

if (!postgresAvailable()) t.plan(0, 'PostgreSQL is not installed (.ci/run installs it)');

/** One lane: a bed, and the replicas of its current case. */
function laneOf(bed: ReplicaBed) {
  let running: Daemon[] = [];

  /** A fresh set of replicas: auth-1 (started with `env`) leads, auth-2 and auth-3 follow. */
  async function freshReplicas(env: Record<string, string>): Promise<{ first: Daemon; epoch: number; log: () => string }> {
    await bed.stopAll();
    const first = await bed.start(1, env);
    // auth-1's log file collects every case: read only what this start wrote
    const from = bed.log(first).length;
    const log = () => bed.log(first).slice(from);
    const led = await poll(bed.status, (i) => i.leader?.replica === 'auth-1', WAIT.run);
    if (led.leader?.replica !== 'auth-1') throw new Error(`auth-1 did not lead: ${JSON.stringify(led)}`);
    running = [first, ...await bed.startAll([2, 3])];
    return { first, epoch: led.leader.epoch, log };
  }

  /** The run of `version` completes under a replica other than auth-1, with a newer epoch. */
  async function finishedByAnother(t: Test, version: string, epoch: number): Promise<void> {
    const next = await poll(bed.status, (i) => i.leader !== null && i.leader.replica !== 'auth-1', WAIT.run);
    t.not(next.leader?.replica, 'auth-1', 'another replica leads');
    t.ok((next.leader?.epoch ?? 0) > epoch, 'with a newer epoch', { next });
    const done = await poll(bed.runs, (rs) => rs.some((r) => r.version === version && r.status === 'completed'), WAIT.run);
    const run = done.find((r) => r.version === version);
    t.equal(run?.status, 'completed', 'the run completed under the new leader',
      { runs: done, log: bed.tail(running.find((d) => d.id === next.leader?.replica)) });
  }

  async function invariants(t: Test): Promise<void> {
    const seen = await bed.envelopes();
    t.ok(seen.size > 0, 'manifests were signed');
    t.same(doubled(seen), [], 'exactly one envelope per (track, seq) across the store', { seen: [...seen.keys()] });
    const signed = (await bed.admin.query('SELECT track, seq FROM manifests')).rows.map((r) => `${r.track}/${r.seq}`);
    t.ok(signed.every((k) => seen.has(k)), 'every reserved seq has its envelope stored');
    t.same(await bed.resignedDiffers(), [], 'each stored envelope is the bytes its reserved payload signs to');
    t.ok([...seen.values()].some((e) => e.where.some((w) => w.startsWith('kv '))), 'replicas hold some for gossip');
    t.same(await bed.breaches(), [], 'no write of an old epoch committed after a newer epoch was taken');
    const compared = (await bed.admin.query(
      `SELECT count(*)::int AS n FROM upshift_epochs e JOIN upshift_epochs s ON s.fleet = e.fleet AND s.epoch = e.epoch + 1
        WHERE e.writes > 0 AND s.prior_writes IS NOT NULL`)).rows[0].n;
    t.ok(compared > 0, `the fence log compared ${compared} takeover(s) after fenced writes`);
  }
  /** Fresh replicas and a new version whose run auth-1 holds at its test stage (the sample's hold marker). */
  async function heldAtTest(t: Test, name: string) {
    const marker = bed.marker(name);
    const replicas = await freshReplicas({ SAMPLE_HOLD: 'test', SAMPLE_HOLD_MARKER: marker });
    const version = bed.commit(`v${++n}`);
    t.ok(await poll(() => existsSync(marker), Boolean, WAIT.run), 'the run reached its test stage (held)');
    return { ...replicas, version };
  }
  return { bed, freshReplicas, heldAtTest, finishedByAnother, invariants };
}
type Lane = ReturnType<typeof laneOf>;
interface Case { name: string; run: (t: Test, lane: Lane) => Promise<void> }

let n = 0;
const killedAt = (point: string): Case => ({
  name: `the leader is killed with kill -9 at ${point}; another replica finishes the run`,
  run: async (t, { bed, freshReplicas, finishedByAnother, invariants }) => {
    const { first, epoch } = await freshReplicas({ UPSHIFT_FAILPOINTS: point });
    const version = bed.commit(`v${++n}`);
    const exit = await bed.exited(first);
    t.equal(exit.signal, 'SIGKILL', `auth-1 killed itself at ${point}`, { log: bed.tail(first) });
    await finishedByAnother(t, version, epoch);
    const events = (await bed.admin.query(
      "SELECT count(*)::int AS n FROM events e JOIN runs r ON r.id = e.run_id WHERE r.version = $1 AND e.kind = 'stage.started' AND e.stage = $2",
      [version, point.split(':')[0]])).rows[0].n;
    t.ok(events >= 1, `${point.split(':')[0]} started ${events} time(s)`);
    await invariants(t);
  },
});

const terminated: Case = {
  name: 'the leader\'s database session is terminated: it logs E_FENCED, stops and exits non-zero',
  run: async (t, { bed, heldAtTest, finishedByAnother, invariants }) => {
    const { first, epoch, log, version } = await heldAtTest(t, 'terminated');
    const { rows } = await bed.admin.query(
      "SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = 'upshift-leader:auth-1' AND datname = $1",
      [bed.database]);
    t.same(rows, [{ ok: true }], 'the leader session was terminated');
    const exit = await bed.exited(first);
    t.equal(exit.code, 1, 'the deposed leader exits non-zero (failing closed)', { log: bed.tail(first) });
    t.match(log(), /"code":"E_FENCED"/, 'and logged E_FENCED');
    await finishedByAnother(t, version, epoch);
    await invariants(t);
  },
};

const stalled: Case = {
  name: 'the leader is stopped (SIGSTOP) past stall_timeout, then resumed: it exits E_FENCED, another finishes',
  run: async (t, { bed, heldAtTest, finishedByAnother, invariants }) => {
    const { first, epoch, log, version } = await heldAtTest(t, 'stalled');
    const pid = first.child?.pid as number;
    process.kill(pid, 'SIGSTOP');
    const next = await poll(bed.status, (i) => i.leader !== null && i.leader.replica !== 'auth-1', WAIT.run);
    t.ok((next.leader?.epoch ?? 0) > epoch, 'a follower deposed the stalled leader', { next });
    process.kill(pid, 'SIGCONT');
    const exit = await bed.exited(first);
    t.equal(exit.code, 1, 'resumed, the deposed leader exits non-zero', { log: bed.tail(first) });
    t.match(log(), /"code":"E_FENCED"/, 'and logged E_FENCED');
    t.match(log(), /"stage":"test"/, 'its log holds its stages');
    t.notMatch(log(), /"stage":"sign"/, 'it never reached its sign stage');
    await finishedByAnother(t, version, epoch);
    await invariants(t);
  },
};

// the kill points: sign:reserved (reserved, not signed), sign:signed (signed, the envelope not
// stored), sign:recorded (stored, nothing published), deploy:published (the first deployment
// step published). About the same wait in each lane; every case of the file, each once.
const LANES: Case[][] = [
  [killedAt('sign:reserved'), killedAt('sign:signed'), killedAt('deploy:published')],
  [killedAt('sign:recorded'), terminated, stalled],
];

const server = await startPostgres(t);
t.test('two lanes of cases, side by side', { jobs: LANES.length }, async (t) => {
  for (const [i, cases] of LANES.entries()) {
    t.test(`lane ${i + 1}`, async (t) => {
      const lane = laneOf(await replicaBed(t, { server }));
      for (const c of cases) await t.test(c.name, (t) => c.run(t, lane));
    });
  }
});
