import t from 'tap';
import { verifyManifest } from '../../src/trust/verify-manifest.js';
import { heldManifest } from '../../src/runtime/status.js';
import { testAuthority } from '../helpers/authority.js';

t.test('a good version passes all seven stages and its manifest verifies', async (t) => {
  const a = await testAuthority(t);
  const c = await a.service.resolve('main');
  t.equal(c.track, 'testnet');
  t.equal(c.version, a.repo.head(), 'testnet versions are commit SHAs');
  const { run } = await a.service.startOrFind(c);
  const done = await a.service.orchestrator.drive(run.id);
  t.equal(done.status, 'completed', done.reason ?? '');
  const stages = await a.service.deps.store.stageResults(run.id);
  t.same(stages.map((s) => [s.stage, s.outcome]), [
    ['build', 'passed'], ['test', 'passed'], ['audit', 'passed'], ['benchmark', 'passed'], ['sign', 'passed'], ['canary', 'skipped'], ['deploy', 'passed'],
  ]);
  t.match(stages[1]?.reason, /pass rate 1\.000 \(20 passed, 0 failed\)/);
  t.match(stages[3]?.reason, /no baseline for micro/);
  t.equal(stages[5]?.evidence.note, 'no canary candidates');
  const m = await a.service.deps.store.manifests.forRun(run.id, 'release');
  const { payload } = verifyManifest(m?.envelope ?? '', a.service.deps.keyset);
  t.equal(payload.seq, 1);
  t.equal(payload.commit, c.commit);
  t.equal(payload.code_hash, stages[0]?.evidence.code_hash);
  t.same(payload.evidence.test, { passed: 20, failed: 0, skipped: 0, pass_rate: 1 });
  t.equal((await heldManifest(a.service.deps.config, a.service.deps.store, 'testnet'))?.seq, 1, 'the release is held for gossip');
  t.equal(await a.service.deps.store.floors.get('testnet'), null, 'no floor raised: the authority runs no app');
  t.ok(a.logs.some((l) => l.runId === run.id && l.stage === 'build' && l.msg === 'stage finished'), 'logs carry run id and stage');
});

t.test('a version whose latency regresses past the tolerance is rolled back at benchmark, naming the metric', async (t) => {
  const a = await testAuthority(t);
  const first = (await a.service.startOrFind(await a.service.resolve('main'))).run;
  t.equal((await a.service.orchestrator.drive(first.id)).status, 'completed');
  a.commitVersion({ version: 'v1.1.0', latencyMs: 13 });
  const second = (await a.service.startOrFind(await a.service.resolve('main'))).run;
  const done = await a.service.orchestrator.drive(second.id);
  t.equal(done.status, 'rolled_back');
  t.equal(done.stage, 'rolled_back');
  t.match(done.reason, /latency_ms 10\.0 ms → 13\.0 ms \(\+30\.0%, lower is better/);
  t.equal(await a.service.deps.store.manifests.forRun(second.id, 'release'), null, 'nothing was signed');
});

t.test('a version with 2 of 20 tests failing stops at the test gate with the failing names', async (t) => {
  const a = await testAuthority(t);
  a.commitVersion({ version: 'v1.0.1', latencyMs: 10, failingTests: 2 });
  const { run } = await a.service.startOrFind(await a.service.resolve('main'));
  const done = await a.service.orchestrator.drive(run.id);
  t.equal(done.status, 'failed');
  t.equal(done.code, 'E_GATE');
  const test = await a.service.deps.store.getStageResult(run.id, 'test');
  t.match(test?.reason, /0\.900 \(18 passed, 2 failed\)/);
  t.match(test?.evidence.failing_tests, ['case 1', 'case 2']);
  t.equal(await a.service.deps.store.getStageResult(run.id, 'audit'), null, 'later stages never ran');
});

t.test('a version already run is found, not run again', async (t) => {
  const a = await testAuthority(t);
  const c = await a.service.resolve('main');
  const first = await a.service.startOrFind(c);
  const again = await a.service.startOrFind(c);
  t.equal(first.created, true);
  t.equal(again.created, false);
  t.equal(again.run.id, first.run.id);
});

t.test('an unknown ref is refused with E_UNKNOWN_REF and creates no run', async (t) => {
  const a = await testAuthority(t);
  await t.rejects(a.service.resolve('no-such-branch'), { code: 'E_UNKNOWN_REF' });
  t.same(await a.service.deps.store.listRuns(), []);
});
