// The orchestrator on PostgreSQL: a real pipeline run (build, test, audit, benchmark, sign,
// canary, deploy of the sample app) driven to completion on a PgStore, then a regression
// rolled back at benchmark against the first run's baseline read from PostgreSQL. The
// fleet-side ports (none of which this run's state lives in) are the local SQLite store's.
import t from 'tap';
import { verifyManifest } from '../../src/trust/verify-manifest.js';
import { heldManifest } from '../../src/runtime/status.js';
import { testAuthority } from '../helpers/authority.js';
import { openPgStore } from './postgres.js';

t.test('a good version passes all seven stages on PostgreSQL and its manifest verifies', async (t) => {
  let local: { listRuns(): Promise<unknown[]> } | null = null;
  const a = await testAuthority(t, {
    openStore: async (stateDir) => {
      // the node's journal stays in its state dir, which the sandbox check wants closed to stage commands
      const opened = await openPgStore(t, () => Date.now(), { fleet: 'local', localDir: stateDir });
      local = opened.local;
      return opened.store;
    },
  });
  const store = a.service.deps.store;
  t.equal(store.constructor.name, 'PgStore');
  const c = await a.service.resolve('main');
  const { run } = await a.service.startOrFind(c);
  const done = await a.service.orchestrator.drive(run.id);
  t.equal(done.status, 'completed', done.reason ?? '');
  t.same((await store.stageResults(run.id)).map((s) => [s.stage, s.outcome]), [
    ['build', 'passed'], ['test', 'passed'], ['audit', 'passed'], ['benchmark', 'passed'], ['sign', 'passed'], ['canary', 'skipped'], ['deploy', 'passed'],
  ]);
  const m = await store.manifests.forRun(run.id, 'release');
  const { payload } = verifyManifest(m?.envelope ?? '', a.service.deps.keyset);
  t.equal(payload.seq, 1);
  t.equal(payload.commit, c.commit);
  t.equal(payload.code_hash, (await store.runFacts(run.id)).codeHash, 'the code hash BUILD recorded, read back from PostgreSQL');
  t.equal((await heldManifest(a.service.deps.config, store, 'testnet'))?.seq, 1, 'the release is held for gossip');
  t.equal(await store.leaseHolder(run.id), null, 'the driver let its lease go');
  t.match(await store.loadSnapshot(run.id), { state: 'completed' });
  const kinds = (await store.events({ runId: run.id })).map((e) => e.kind);
  t.equal(kinds[0], 'run.created');
  t.ok(kinds.filter((k) => k === 'stage.result').length === 7, 'seven results in the event log');
  t.same(await local!.listRuns(), [], 'nothing of the run went to the local SQLite store');

  a.commitVersion({ version: 'v1.1.0', latencyMs: 13 });
  const second = (await a.service.startOrFind(await a.service.resolve('main'))).run;
  const rolled = await a.service.orchestrator.drive(second.id);
  t.equal(rolled.status, 'rolled_back');
  t.match(rolled.reason, /latency_ms 10\.0 ms → 13\.0 ms/);
  t.equal(await store.manifests.forRun(second.id, 'release'), null, 'nothing was signed');
});
