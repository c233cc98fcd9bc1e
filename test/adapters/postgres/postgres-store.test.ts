// PgStore.open and the store under a leader's fenced session, on a real PostgreSQL server:
// the host walk, one migrator, a schema newer than this build, and a deposed leader whose
// store writes nothing (E_FENCED) while its reads still answer.
import t from 'tap';
import { join } from 'node:path';
import { Leadership } from '../../../src/adapters/postgres/leader.js';
import { PG_MIGRATIONS } from '../../../src/adapters/postgres/migrations.js';
import { leaderSession } from '../../../src/adapters/postgres/session.js';
import { PgStore } from '../../../src/adapters/postgres/store.js';
import { Store } from '../../../src/adapters/sqlite/store.js';
import type { PgTarget } from '../../../src/adapters/postgres/connect.js';
import { startPostgres } from '../../helpers/postgres.js';
import { tempDir } from '../../helpers/tmp.js';

const db = await startPostgres(t);
const admin = await db.client();
t.teardown(() => admin.end());
let n = 0;

async function freshTarget(): Promise<PgTarget> {
  const database = `store_${++n}`;
  await admin.query(`CREATE DATABASE ${database}`);
  return { hosts: [db.host], database, user: db.user };
}

const local = (t: Tap.Test) => Store.open(join(tempDir(t), 'upshift.db'), () => 1);
const newRun = (id: string, version: string) => ({ id, track: 'testnet', version, ref: 'main', commit: 'c'.repeat(40), retryOf: null, createdAt: 1 });

t.test('open walks past a host that does not answer, and stores open together migrate once', async (t) => {
  const target = await freshTarget();
  const stores = await Promise.all([0, 1, 2].map(() => PgStore.open(
    { ...target, hosts: ['127.0.0.1:1', db.host], connectTimeoutMs: 2000 }, { now: () => 1, local: local(t) })));
  t.teardown(() => Promise.all(stores.map((s) => s.close())));
  await stores[0]!.createRun(newRun('r1', 'v1'));
  t.equal((await stores[2]!.getRun('r1'))?.version, 'v1', 'all three reach the same database');
  const probe = await PgStore.open(target, { now: () => 1, local: local(t) });
  t.teardown(() => probe.close());
  t.same((await probe.session.read((q) => q.query('SELECT version FROM upshift_migrations ORDER BY version'))).rows.map((r) => r.version),
    PG_MIGRATIONS.map((m) => m.version), 'each migration once');
  await t.rejects(PgStore.open({ ...target, hosts: ['127.0.0.1:1'], connectTimeoutMs: 2000 },
    { now: () => 1, local: local(t) }), { code: 'E_STORE_UNAVAILABLE' });
});

t.test('a database whose schema is newer than this build is refused with E_SCHEMA_NEWER', async (t) => {
  const target = await freshTarget();
  const first = await PgStore.open(target, { now: () => 1, local: local(t) });
  await first.session.write((q) => q.query("INSERT INTO upshift_migrations (version, name) VALUES (99, 'from the future')"));
  await first.close();
  await t.rejects(PgStore.open(target, { now: () => 1, local: local(t) }), { code: 'E_SCHEMA_NEWER' });
});

/** A leads, on a fenced store; `handOver()` resigns it, lets B take the lock and returns B's fenced store. */
async function twoLeaders(t: Tap.Test, fleet: string) {
  const target = await freshTarget();
  await (await PgStore.open(target, { now: () => 1, local: local(t) })).close(); // the schema, before any election
  const a = await Leadership.campaign({ target, fleet, replica: 'a', stallTimeoutMs: 60_000 });
  const storeA = await PgStore.open(target, { now: () => 1, local: local(t), session: (pool) => leaderSession(pool, a) });
  t.teardown(() => storeA.close());
  const handOver = async () => {
    const bWaits = Leadership.campaign({ target, fleet, replica: 'b', stallTimeoutMs: 60_000 });
    await a.resign();
    const b = await bWaits;
    t.teardown(() => b.resign());
    const storeB = await PgStore.open(target, { now: () => 1, local: local(t), session: (pool) => leaderSession(pool, b) });
    t.teardown(() => storeB.close());
    return storeB;
  };
  return { storeA, handOver };
}

t.test('under a leader, a deposed replica\'s store writes nothing (E_FENCED) and still reads', async (t) => {
  const { storeA, handOver } = await twoLeaders(t, 'fenced-store');
  await storeA.createRun(newRun('r1', 'v1'));
  const reserved = await storeA.manifests.reserve({ runId: 'r1', track: 'testnet', kind: 'release', purpose: 'release', version: 'v1',
    commit: 'c'.repeat(40), at: 2, build: (seq) => new TextEncoder().encode(`seq ${seq}`) });
  t.equal(reserved.seq, 1);

  const storeB = await handOver();

  await t.rejects(storeA.createRun(newRun('r2', 'v2')), { code: 'E_FENCED' });
  await t.rejects(storeA.manifests.setEnvelope('testnet', 1, 'env-from-a'), { code: 'E_FENCED' });
  await t.rejects(storeA.recordStageResult({ runId: 'r1', stage: 'build', outcome: 'passed', reason: 'ok', evidence: {}, startedAt: 1, finishedAt: 2, attempts: 1 }),
    { code: 'E_FENCED' });
  t.equal((await storeA.getRun('r1'))?.version, 'v1', 'the deposed replica still serves reads');
  t.equal(await storeB.getRun('r2'), null, 'nothing the deposed replica tried was written');
  t.equal((await storeB.manifests.get('testnet', 1))?.envelope, null);
  t.same(await storeB.stageResults('r1'), []);

  // the new leader resumes: the same reservation comes back with the same bytes, and it signs it
  const again = await storeB.manifests.reserve({ runId: 'r1', track: 'testnet', kind: 'release', purpose: 'release', version: 'v1',
    commit: 'c'.repeat(40), at: 3, build: () => { throw new Error('not built twice'); } });
  t.same([...again.payload], [...reserved.payload]);
  await storeB.manifests.setEnvelope('testnet', 1, 'env-from-b');
  t.equal((await storeA.manifests.latestSigned('testnet'))?.envelope, 'env-from-b');
});

t.test('a new leader takes over the run lease of a deposed one at once; within one epoch a live lease holds', async (t) => {
  const { storeA, handOver } = await twoLeaders(t, 'lease-store');
  await storeA.createRun(newRun('r1', 'v1'));
  const alive = () => true; // the deposed leader's process is still up (cut off, or stalled)
  t.ok(await storeA.acquireLease('r1', 'a-driver', 100, 30_000, 0, alive), 'the leader drives r1');
  t.notOk(await storeA.acquireLease('r1', 'a-other', 101, 30_000, 1, alive), 'another driver of the same epoch waits');

  const storeB = await handOver();
  t.ok(await storeB.acquireLease('r1', 'b-driver', 200, 30_000, 2, alive), 'the new leader takes the unexpired lease of the old epoch');
  t.same(await storeB.leaseHolder('r1'), { owner: 'b-driver', pid: 200, until: 30_000 });
  await t.rejects(storeA.acquireLease('r1', 'a-driver', 100, 60_000, 3, alive), { code: 'E_FENCED' }, 'the deposed leader cannot take it back');
});
