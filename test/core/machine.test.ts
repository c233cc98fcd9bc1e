import t from 'tap';
import { initialTransition, transition, type AnyEventObject } from 'xstate';
import { pipelineMachine } from '../../src/core/machine.js';
import type { StageOutcome } from '../../src/core/run.js';

const input = { runId: 'r-1', track: 'testnet', version: 'abc', commit: 'a'.repeat(40) };
const done = (id: string, output: StageOutcome): AnyEventObject => ({ type: `xstate.done.actor.${id}`, output });
const passed: StageOutcome = { outcome: 'passed', reason: 'ok' };

function walk(events: AnyEventObject[]) {
  let [snap] = initialTransition(pipelineMachine, input);
  for (const e of events) [snap] = transition(pipelineMachine, snap, e as never);
  return snap;
}

t.test('a run starts idle and START enters building', async (t) => {
  t.equal(walk([]).value, 'idle');
  t.equal(walk([{ type: 'START' }]).value, 'building');
});

t.test('seven passing stages end completed, in pipeline order', async (t) => {
  const order = ['build', 'test', 'audit', 'benchmark', 'sign', 'canary', 'deploy'];
  const seen: unknown[] = [];
  let [snap] = initialTransition(pipelineMachine, input);
  [snap] = transition(pipelineMachine, snap, { type: 'START' });
  for (const id of order) {
    seen.push(snap.value);
    [snap] = transition(pipelineMachine, snap, done(id, passed) as never);
  }
  t.same(seen, ['building', 'testing', 'auditing', 'benchmarking', 'signing', 'canary', 'deploying']);
  t.equal(snap.value, 'completed');
  t.equal(snap.status, 'done');
  t.equal(snap.context.stop, null);
});

t.test('a skipped canary (no candidates) still moves on to deploy', async (t) => {
  const snap = walk([{ type: 'START' }, ...['build', 'test', 'audit', 'benchmark', 'sign'].map((s) => done(s, passed)), done('canary', { outcome: 'skipped', reason: 'no canary candidates' })]);
  t.equal(snap.value, 'deploying');
  t.equal(snap.context.outcomes.canary?.reason, 'no canary candidates');
});

t.test('a failing test gate ends the run failed with its reason', async (t) => {
  const snap = walk([{ type: 'START' }, done('build', passed), done('test', { outcome: 'failed', reason: 'pass rate 0.5 < 0.95', code: 'E_GATE' })]);
  t.equal(snap.value, 'failed');
  t.same(snap.context.stop, { stage: 'test', outcome: 'failed', reason: 'pass rate 0.5 < 0.95', code: 'E_GATE' });
});

t.test('a benchmark regression ends the run rolled_back', async (t) => {
  const snap = walk([{ type: 'START' }, done('build', passed), done('test', passed), done('audit', passed), done('benchmark', { outcome: 'rolled_back', reason: 'latency_ms +25%' })]);
  t.equal(snap.value, 'rolled_back');
  t.equal(snap.context.stop?.stage, 'benchmark');
});

t.test('a stage actor that throws ends the run failed with the error code', async (t) => {
  const err = Object.assign(new Error('git exploded'), { code: 'E_GIT' });
  const snap = walk([{ type: 'START' }, { type: 'xstate.error.actor.build', error: err }]);
  t.equal(snap.value, 'failed');
  t.same(snap.context.stop, { stage: 'build', outcome: 'failed', reason: 'git exploded', code: 'E_GIT' });
});

t.test('an abort before release ends rolled_back; during deploy it reverts first', async (t) => {
  const early = walk([{ type: 'START' }, { type: 'ABORT', reason: 'bad idea', by: 'ops' }]);
  t.equal(early.value, 'rolled_back');
  t.equal(early.context.stop?.reason, 'aborted by ops: bad idea');
  const late = walk([{ type: 'START' }, ...['build', 'test', 'audit', 'benchmark', 'sign', 'canary'].map((s) => done(s, passed)), { type: 'ABORT', reason: 'pager', by: 'ops' }]);
  t.equal(late.value, 'reverting');
  t.equal(walk([{ type: 'START' }, ...['build', 'test', 'audit', 'benchmark', 'sign', 'canary'].map((s) => done(s, passed)), { type: 'ABORT', reason: 'pager', by: 'ops' }, done('revert', passed)]).value, 'rolled_back');
});

t.test('terminal states ignore further events', async (t) => {
  const snap = walk([{ type: 'START' }, done('build', { outcome: 'failed', reason: 'exit 2' }), { type: 'START' }, { type: 'ABORT', reason: 'x', by: 'y' }]);
  t.equal(snap.value, 'failed');
  t.equal(snap.context.stop?.reason, 'exit 2');
});
