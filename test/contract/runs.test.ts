// Runs, retries, snapshots, stage results, attempts, leases and the event log: the same
// assertions on every adapter (test/contract/stores.ts). SQLite-only checks (the file, WAL,
// migrating old files) stay in test/adapters/store.test.ts.
import t from 'tap';
import type { StageResult } from '../../src/core/run.js';
import type { StateStore } from '../../src/core/store-ports.js';
import './postgres.js';
import { refused, refusalKind } from './raw.js';
import { eachStore } from './stores.js';

const newRun = async (store: StateStore, id: string, version: string, opts: { track?: string; retryOf?: string; at?: number } = {}) =>
  await store.createRun({ id, track: opts.track ?? 'testnet', version, ref: 'main', commit: 'c0ffee', retryOf: opts.retryOf ?? null, createdAt: opts.at ?? 1_000 });

const finish = async (store: StateStore, runId: string, status: 'completed' | 'failed', at: number) =>
  await store.saveSnapshot({ runId, machineVersion: 1, state: status, status, snapshot: {}, reason: null, code: null, at });

await eachStore(t, 'events are append-only: UPDATE and DELETE are refused by the schema', async (t, store) => {
  await store.appendEvent({ at: 1, runId: null, stage: null, kind: 'note', actor: 'test', data: { n: 1 } });
  t.match((await refused(store, "UPDATE events SET kind = 'edited'"))?.message, /events are append-only/);
  t.match((await refused(store, 'DELETE FROM events'))?.message, /events are append-only/);
  t.match(await store.events(), [{ seq: 1, kind: 'note', actor: 'test', data: { n: 1 } }]);
});

await eachStore(t, 'a version runs once per track; only a retry may run it again', async (t, store) => {
  t.match(await newRun(store, 'r1', 'v1.0.0'), { status: 'pending', stage: 'idle', retryOf: null, finishedAt: null, createdAt: 1_000 });
  await t.rejects(() => newRun(store, 'r2', 'v1.0.0'), { code: 'E_DUPLICATE' });
  t.ok(await newRun(store, 'r3', 'v1.0.0', { track: 'production' }), 'the same version on another track is a separate run');
  t.equal((await newRun(store, 'r4', 'v1.0.0', { retryOf: 'r1', at: 2_000 })).retryOf, 'r1');
  t.equal((await store.findRun('testnet', 'v1.0.0'))?.id, 'r4', 'the retry is the run found for the version');
  t.same(await store.versionsSeen('testnet'), ['v1.0.0']);
  t.same((await store.listRuns()).map((r) => r.id), ['r4', 'r3', 'r1'], 'newest first, ties in insertion order');
  t.same((await store.listRuns({ track: 'production' })).map((r) => r.id), ['r3']);
  t.same((await store.runCounts()).sort((a, b) => a.track.localeCompare(b.track)),
    [{ track: 'production', status: 'pending', n: 1 }, { track: 'testnet', status: 'pending', n: 2 }]);
  await t.rejects(store.requireRun('ghost'), { code: 'E_RUN_NOT_FOUND' });
});

await eachStore(t, 'a run has at most one retry: the store refuses a second, and retry_of never changes', async (t, store) => {
  await newRun(store, 'r1', 'v1.0.0');
  t.equal(await store.findRetry('r1'), null);
  await newRun(store, 'r2', 'v1.0.0', { retryOf: 'r1', at: 2_000 });
  await t.rejects(() => newRun(store, 'r3', 'v1.0.0', { retryOf: 'r1', at: 3_000 }), { code: 'E_DUPLICATE', message: /retry_of/ });
  t.equal(await store.getRun('r3'), null, 'the refused retry left no run behind');
  t.equal((await store.findRetry('r1'))?.id, 'r2');
  t.ok(await newRun(store, 'r4', 'v1.0.0', { retryOf: 'r2', at: 4_000 }), 'a retry may itself be retried once');
  t.match((await refused(store, "UPDATE runs SET retry_of = 'r4' WHERE id = 'r3' OR id = 'r2'"))?.message, /retry_of is fixed/);
});

await eachStore(t, 'approved retries made at once: one is created with its approval, the others get it back', async (t, store) => {
  const first = { machineVersion: 1, snapshot: { value: 'idle' }, at: 2_000 };
  await newRun(store, 'r1', 'v1');
  await finish(store, 'r1', 'failed', 1_500);
  const made = await Promise.all(['a', 'b', 'c'].map((who) => store.createRetry(
    { id: `retry-${who}`, track: 'testnet', version: 'v1', ref: 'main', commit: 'c0ffee', retryOf: 'r1', createdAt: 2_000 },
    first, { by: who, reason: 'flaky' })));
  t.equal(made.filter((m) => m.created).length, 1, 'exactly one retry');
  const retry = made.find((m) => m.created)!.run;
  t.same(made.map((m) => m.run.id), [retry.id, retry.id, retry.id]);
  t.same(await store.approvals.get(retry.id), { by: retry.id.slice(-1), reason: 'flaky', at: 2_000 });
  t.same(await store.loadSnapshot(retry.id), { machineVersion: 1, state: 'idle', snapshot: { value: 'idle' } });
  t.same((await store.events({ runId: retry.id })).map((e) => e.kind), ['run.created', 'run.approved']);
});

await eachStore(t, 'the last stable release is the newest completed run of the track, excluding the given run', async (t, store) => {
  for (const [id, v] of [['r1', 'v1'], ['r2', 'v2'], ['r3', 'v3']] as const) await newRun(store, id, v);
  await newRun(store, 'p1', 'v9', { track: 'production' });
  await finish(store, 'r1', 'completed', 10);
  await finish(store, 'r2', 'completed', 20);
  await finish(store, 'r3', 'failed', 30);
  await finish(store, 'p1', 'completed', 40);
  t.equal((await store.lastStable('testnet'))?.id, 'r2');
  t.equal((await store.lastStable('testnet', 'r2'))?.id, 'r1');
  t.equal(await store.lastStable('staging'), null);
});

await eachStore(t, 'a snapshot moves the run with it, stamps terminal runs once and logs only real state changes', async (t, store) => {
  await newRun(store, 'r1', 'v1');
  const save = async (state: string, status: 'running' | 'completed', at: number, snapshot: unknown) =>
    await store.saveSnapshot({ runId: 'r1', machineVersion: 3, state, status, snapshot, reason: status === 'completed' ? 'all stages passed' : null, code: null, at });
  await save('building', 'running', 10, { step: 1 });
  t.match(await store.getRun('r1'), { status: 'running', stage: 'building', updatedAt: 10, finishedAt: null });
  t.same((await store.unfinishedRuns()).map((r) => r.id), ['r1']);
  await save('building', 'running', 20, { step: 2 });
  t.same(await store.loadSnapshot('r1'), { machineVersion: 3, state: 'building', snapshot: { step: 2 } });
  await save('completed', 'completed', 30, { step: 3 });
  await save('completed', 'completed', 40, { step: 4 });
  t.match(await store.getRun('r1'), { status: 'completed', stage: 'completed', reason: 'all stages passed', updatedAt: 40, finishedAt: 30 });
  t.same((await store.events({ runId: 'r1' })).map((e) => [e.kind, e.data.from, e.data.to, e.at]), [
    ['run.state', 'idle', 'building', 10],
    ['run.state', 'building', 'completed', 30],
  ]);
  const ghost = await store.saveSnapshot({ runId: 'ghost', machineVersion: 1, state: 'building', status: 'running', snapshot: {}, reason: null, code: null, at: 1 })
    .then(() => null, (err: unknown) => err);
  t.equal(refusalKind(ghost), 'foreign key', 'a snapshot of no run is refused');
  t.equal((await store.unfinishedRuns()).length, 0);
  t.equal(await store.loadSnapshot('ghost'), null);
});

const result = (outcome: StageResult['outcome'], reason: string): StageResult =>
  ({ runId: 'r1', stage: 'test', outcome, reason, code: 'E_X', evidence: { passed: 40, nested: { a: [1, 'two'] } }, startedAt: 5, finishedAt: 9, attempts: 1 });

await eachStore(t, 'a stage result is recorded once: a second record is refused (E_DUPLICATE) and the first is kept', async (t, store) => {
  await newRun(store, 'r1', 'v1');
  await store.recordStageResult(result('passed', 'pass rate 1.000'));
  await t.rejects(store.recordStageResult(result('failed', 'flaky rerun')), { code: 'E_DUPLICATE' });
  t.same(await store.getStageResult('r1', 'test'), result('passed', 'pass rate 1.000'));
  t.equal(await store.getStageResult('r1', 'build'), null);
  t.equal((await store.stageResults('r1')).length, 1);
  t.same((await store.events({ runId: 'r1' })).map((e) => e.kind), ['stage.result'], 'the refused record logs nothing');
});

await eachStore(t, 'attempts count up per stage and remember the first start and any stray pid', async (t, store) => {
  await newRun(store, 'r1', 'v1');
  t.same(await store.startAttempt('r1', 'build', 100), { attempt: 1, firstStartedAt: 100 });
  await store.setAttemptPid('r1', 'build', 1, 4242);
  t.same(await store.startAttempt('r1', 'build', 200), { attempt: 2, firstStartedAt: 100 });
  t.same(await store.startAttempt('r1', 'test', 300), { attempt: 1, firstStartedAt: 300 });
  t.same(await store.strayPids('r1'), [{ stage: 'build', attempt: 1, pid: 4242 }]);
  await store.setAttemptPid('r1', 'build', 1, null);
  t.same(await store.strayPids('r1'), []);
  const at = await Promise.all([400, 401, 402].map((ms) => store.startAttempt('r1', 'deploy', ms)));
  t.same(at.map((a) => a.attempt).sort(), [1, 2, 3], 'attempts started at once each get their own number');
});

await eachStore(t, 'leases: a live holder blocks others, an expired or dead one is taken over, only the owner releases', async (t, store) => {
  await newRun(store, 'r1', 'v1');
  const asked: number[] = [];
  const alive = (answer: boolean) => (pid: number) => (asked.push(pid), answer);
  t.ok(await store.acquireLease('r1', 'daemon', 100, 1_000, 0, alive(true)));
  t.notOk(await store.acquireLease('r1', 'cli', 200, 2_000, 500, alive(true)), 'a live, unexpired holder blocks');
  t.same(asked, [100], 'the holder pid is the one checked');
  t.ok(await store.acquireLease('r1', 'daemon', 100, 1_500, 600, alive(true)), 'the holder renews');
  t.ok(await store.acquireLease('r1', 'cli', 200, 3_000, 1_500, alive(true)), 'an expired lease is taken over');
  t.same(await store.leaseHolder('r1'), { owner: 'cli', pid: 200, until: 3_000 });
  t.ok(await store.acquireLease('r1', 'daemon', 300, 4_000, 1_600, alive(false)), 'a dead holder is taken over');
  await store.releaseLease('r1', 'cli');
  t.equal((await store.leaseHolder('r1'))?.owner, 'daemon', 'a non-owner cannot release');
  await store.releaseLease('r1', 'daemon');
  t.equal(await store.leaseHolder('r1'), null);
  await t.rejects(async () => await store.acquireLease('ghost', 'cli', 1, 2, 0, alive(true)), { code: 'E_RUN_NOT_FOUND' });
  const takers = await Promise.all(['a', 'b', 'c', 'd'].map((who, i) => store.acquireLease('r1', who, 10 + i, 9_000, 5_000, alive(true))));
  t.equal(takers.filter(Boolean).length, 1, 'of four takers at once, one holds the lease');
});

await eachStore(t, 'events: newest of some kinds, a run\'s in order, and the tail of the log', async (t, store) => {
  await newRun(store, 'r1', 'v1');
  for (let i = 1; i <= 5; i++) await store.appendEvent({ at: i, runId: i % 2 ? 'r1' : null, stage: null, kind: `k${i % 3}`, actor: 'test', data: { i } });
  t.same((await store.eventsOfKind(['k1', 'k2'])).map((e) => e.data.i), [5, 4, 2, 1]);
  t.same((await store.eventsOfKind(['k1'], 1)).map((e) => e.data.i), [4]);
  t.same((await store.events({ runId: 'r1' })).map((e) => e.data.i), [1, 3, 5]);
  t.same((await store.events({ limit: 2 })).map((e) => e.data.i), [4, 5], 'the last two, oldest first');
  const seqs = (await store.events()).map((e) => e.seq);
  t.same(seqs, [...seqs].sort((a, b) => a - b));
  t.equal(typeof seqs[0], 'number');
  await store.ping();
});
