// Facts between stages, canary plans and deadlines, the source poll, and events appended
// once (the promotion gate): the same assertions on every adapter. Migrating older SQLite
// files stays in test/adapters/run-facts.test.ts and run-plans.test.ts.
import t from 'tap';
import type { StageResult } from '../../src/core/run.js';
import type { StateStore } from '../../src/core/store-ports.js';
import { markAwaiting, promote, promotionState } from '../../src/stages/canary-promotion.js';
import './postgres.js';
import { refused } from './raw.js';
import { eachStore } from './stores.js';

const HASH = 'ab'.repeat(32);
const result = (runId: string, stage: StageResult['stage'], evidence: Record<string, unknown>): StageResult =>
  ({ runId, stage, outcome: 'passed', reason: 'ok', evidence, startedAt: 1, finishedAt: 2, attempts: 1 });

async function withRun(store: StateStore): Promise<StateStore> {
  await store.createRun({ id: 'r1', track: 'testnet', version: 'v1', ref: 'main', commit: 'c'.repeat(40), retryOf: null, createdAt: 1 });
  return store;
}

await eachStore(t, 'facts are recorded with the stage result and read back typed', async (t, store) => {
  await withRun(store);
  t.same(await store.runFacts('r1'), { codeHash: null, test: null, benchmark: null }, 'nothing before any stage');
  await store.recordStageResult(result('r1', 'build', { code_hash: 'display only' }), { codeHash: HASH });
  await store.recordStageResult(result('r1', 'test', {}), { test: { passed: 9, failed: 1, skipped: 2, passRate: 0.9 } });
  const benchmark = { baselineVersion: 'v0', metrics: { 'micro.latency_ms': { value: 10, better: 'lower' as const, baseline: 11, change: -0.09, worse: false } } };
  await store.recordStageResult(result('r1', 'benchmark', {}), { benchmark });
  t.same(await store.runFacts('r1'), { codeHash: HASH, test: { passed: 9, failed: 1, skipped: 2, passRate: 0.9 }, benchmark });
});

await eachStore(t, 'a refused second result records no facts either; a malformed code hash records nothing', async (t, store) => {
  await withRun(store);
  await store.recordStageResult(result('r1', 'build', {}), { codeHash: HASH });
  await t.rejects(store.recordStageResult(result('r1', 'build', {}), { codeHash: 'cd'.repeat(32) }), { code: 'E_DUPLICATE' });
  t.equal((await store.runFacts('r1')).codeHash, HASH);
  await t.rejects(store.recordStageResult(result('r1', 'test', {}), { codeHash: 'short' }), /CHECK|check constraint/);
  t.equal(await store.getStageResult('r1', 'test'), null, 'the result went with its facts');
});

await eachStore(t, 'a plan, a confirmation and a deadline are fixed the first time and returned after', async (t, store) => {
  await withRun(store);
  t.equal(await store.plans.canaryPlan('r1'), undefined, 'not chosen yet');
  const plan = { canaries: ['web-2'], selection: 'one per region', selectedAt: 10, confirmBy: 610 };
  t.same(await store.plans.fixCanaryPlan('r1', plan, 10), plan);
  t.same(await store.plans.fixCanaryPlan('r1', { ...plan, canaries: ['web-9'] }, 20), plan, 'a second choice is ignored');
  await store.plans.recordCanaryConfirms('r1', { 'web-2': 50 });
  await store.plans.recordCanaryConfirms('r1', { 'web-2': 99, 'web-3': 70 });
  t.same(await store.plans.canaryConfirms('r1'), { 'web-2': 50, 'web-3': 70 }, 'the first confirmation stays');
  t.equal(await store.plans.deadline('r1', 'deploy.progress'), null);
  t.equal(await store.plans.fixDeadline('r1', 'deploy.progress', 700), 700);
  t.equal(await store.plans.fixDeadline('r1', 'deploy.progress', 900), 700, 'a restart gets the stored deadline back');
  t.equal(await store.plans.deadline('r1', 'deploy.progress'), 700);
  t.match((await refused(store, 'UPDATE run_deadlines SET at = 1'))?.message, /fixed/);
  t.match((await refused(store, "UPDATE canary_plans SET selection = 'x'"))?.message, /fixed/);
});

await eachStore(t, 'no candidates is remembered as such', async (t, store) => {
  await withRun(store);
  t.equal(await store.plans.fixCanaryPlan('r1', null, 10), null);
  t.equal(await store.plans.canaryPlan('r1'), null);
});

await eachStore(t, 'the source poll: a good poll replaces the branches, a failed one keeps them', async (t, store) => {
  t.equal(await store.sourcePolls.last(), null);
  t.same(await store.sourcePolls.branches(), []);
  await store.sourcePolls.recordSuccess(10, [{ track: 'testnet', branch: 'main', present: true }, { track: 'edge', branch: 'next', present: false }]);
  t.same(await store.sourcePolls.last(), { at: 10, ok: true, code: null, message: null });
  t.same(await store.sourcePolls.branches(), [
    { track: 'edge', branch: 'next', present: false, checkedAt: 10 }, { track: 'testnet', branch: 'main', present: true, checkedAt: 10 },
  ]);
  await store.sourcePolls.recordFailure(20, { code: 'E_GIT', message: 'unreachable' });
  t.same(await store.sourcePolls.last(), { at: 20, ok: false, code: 'E_GIT', message: 'unreachable' });
  t.equal((await store.sourcePolls.branches()).length, 2, 'a failed poll learns nothing about branches');
  await store.sourcePolls.recordSuccess(30, [{ track: 'testnet', branch: 'main', present: true }]);
  t.same((await store.sourcePolls.branches()).map((b) => [b.track, b.checkedAt]), [['testnet', 30]], 'a dropped track goes');
});

await eachStore(t, 'the promotion gate: awaiting is marked once, and only an awaiting run is promoted, once', async (t, store) => {
  await withRun(store);
  t.equal(await promote(store, 'r1', 'cli:a', 'early', 2), false, 'not waiting: not promoted');
  await markAwaiting(store, 'r1', 3, {});
  await markAwaiting(store, 'r1', 4, {});
  t.equal(await promotionState(store, 'r1'), 'awaiting');
  const raced = await Promise.all(['a', 'b', 'c', 'd'].map((who) => promote(store, 'r1', `cli:${who}`, 'ok', 5)));
  t.equal(raced.filter(Boolean).length, 1, 'four promotes at once: one wins');
  t.equal(await promotionState(store, 'r1'), 'promoted');
  await markAwaiting(store, 'r1', 6, {});
  const kinds = (await store.events({ runId: 'r1' })).map((e) => e.kind).filter((k) => k !== 'run.created');
  t.same(kinds, ['canary.awaiting_promotion', 'run.promoted'], 'each mark once');
});
