// Issue 13, "PostgreSQL failover": three real `upshift daemon` replicas whose host lists
// name a primary and its synchronous standby. While a run is held in its test stage the
// primary is killed (kill -9) and the standby promoted. A replica that exits is restarted,
// as systemd would (Restart=on-failure). The run completes, with no seq lost or doubled.
import { existsSync } from 'node:fs';
import t from 'tap';
import type { Daemon } from '../../../scripts/demo/fleet.js';
import { postgresAvailable, type TestPostgres } from '../../helpers/postgres.js';
import { doubled, replicaBed, type ReplicaBed } from '../../helpers/replica-bed.js';
import { poll, WAIT } from '../../helpers/timeouts.js';

if (!postgresAvailable()) t.plan(0, 'PostgreSQL is not installed (.ci/run installs it)');

let standby: TestPostgres | null = null;
const bed: ReplicaBed = await replicaBed(t, { hosts: () => [bed.db.host, (standby as TestPostgres).host] });
standby = await bed.db.standbyOf(t, { sync: true });
const marker = bed.marker('failover');
const hold = { SAMPLE_HOLD: 'test', SAMPLE_HOLD_MARKER: marker };

const first = await bed.start(1, hold);
await poll(bed.status, (i) => i.leader?.replica === 'auth-1', WAIT.run);
const all: Daemon[] = [first, ...await bed.startAll([2, 3], hold)];

// systemd's part: restart a replica that exited, until the test ends
const restarts: string[] = [];
let watching = true;
const supervise = async (n: number): Promise<void> => {
  while (watching) {
    const d = bed.replicas.get(n) as Daemon;
    const exit = await Promise.race([bed.exited(d), new Promise<null>((r) => setTimeout(() => r(null), 500))]);
    if (exit && watching) {
      restarts.push(`auth-${n} ${JSON.stringify(exit)}`);
      await bed.start(n, hold).catch(() => undefined);
    }
  }
};
const supervisors = [1, 2, 3].map(supervise);
t.teardown(async () => {
  watching = false;
  await Promise.all(supervisors);
});

t.test('the primary is killed and its synchronous standby promoted; the run completes', async (t) => {
  const version = bed.commit('v1');
  t.ok(await poll(() => existsSync(marker), Boolean, WAIT.run), 'the run reached its test stage (held)');
  const sb = standby as TestPostgres;
  const killedAt = Date.now();
  await bed.db.kill();
  await sb.promote();
  const admin = await sb.client();
  t.teardown(() => admin.end());
  const runs = async () => (await admin.query('SELECT version, status, stage FROM runs')).rows as Array<{ version: string; status: string }>;
  const done = await poll(runs, (rs) => rs.some((r) => r.version === version && r.status === 'completed'), WAIT.run, 500);
  t.comment(`restarts: ${JSON.stringify(restarts)}`);
  t.equal(done.find((r) => r.version === version)?.status, 'completed', 'the run completed on the promoted standby',
    { runs: done, logs: all.map((d) => bed.tail(d)) });
  t.comment(`primary killed to run completed: ${Date.now() - killedAt} ms`);
  const leader = (await admin.query('SELECT epoch::int, replica FROM upshift_leader')).rows[0];
  t.ok(leader, 'a leader on the promoted standby', { leader });
  t.comment(`leader: ${JSON.stringify(leader)}`);
  const seqs = (await admin.query('SELECT track, seq::int, envelope IS NOT NULL AS signed FROM manifests ORDER BY seq')).rows;
  t.ok(seqs.length > 0 && seqs.every((r: { signed: boolean }) => r.signed), 'every reserved seq is signed', { seqs });
  t.same(seqs.map((r: { seq: number }) => r.seq), seqs.map((_: unknown, i: number) => i + 1), 'no seq lost or doubled');
  const breaches = (await admin.query(
    `SELECT e.epoch FROM upshift_epochs e JOIN upshift_epochs n ON n.fleet = e.fleet AND n.epoch = e.epoch + 1
      WHERE n.prior_writes IS NOT NULL AND e.writes <> n.prior_writes`)).rows;
  t.same(breaches, [], 'the fence log, replicated synchronously, shows no old-epoch write after a takeover');
  const seen = await envelopesOn(admin);
  t.same(doubled(seen), [], 'one envelope per (track, seq)');
  watching = false;
});

async function envelopesOn(admin: Awaited<ReturnType<TestPostgres['client']>>) {
  const seen = new Map<string, { envelopes: Set<string>; where: string[] }>();
  for (const table of ['manifests', 'deployment_manifests']) {
    for (const r of (await admin.query(`SELECT track, seq, envelope FROM ${table} WHERE envelope IS NOT NULL`)).rows) {
      const k = `${r.track}/${r.seq}`;
      const e = seen.get(k) ?? { envelopes: new Set<string>(), where: [] };
      e.envelopes.add(r.envelope);
      e.where.push(table);
      seen.set(k, e);
    }
  }
  return seen;
}
