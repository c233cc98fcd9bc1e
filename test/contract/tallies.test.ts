// What /metrics reads, on every adapter: stage results incrementally by position (a scrape
// costs the rows added since the last one), runs by track and status, ended applies.
import t from 'tap';
import type { StateStore } from '../../src/core/store-ports.js';
import type { StageName } from '../../src/core/run.js';
import { eachStore } from './stores.js';
import './postgres.js';


const run = (store: StateStore, id: string, track: string) =>
  store.createRun({ id, track, version: id, ref: 'main', commit: 'a'.repeat(40), retryOf: null, createdAt: 1 });
const result = (store: StateStore, runId: string, stage: StageName, outcome: 'passed' | 'failed', ms: number) =>
  store.recordStageResult({ runId, stage, outcome, reason: 'r', evidence: {}, startedAt: 1_000, finishedAt: 1_000 + ms, attempts: 1 });

await eachStore(t, 'stage results are read after a position, oldest first, a page at a time', async (t, store) => {
  t.same(await store.tallies.stageResultsAfter(0), []);
  await run(store, 'r1', 'testnet');
  await run(store, 'r2', 'production');
  await result(store, 'r1', 'build', 'passed', 40);
  await result(store, 'r2', 'build', 'passed', 50);
  await result(store, 'r1', 'test', 'failed', 7);
  const all = await store.tallies.stageResultsAfter(0);
  t.same(all.map((s) => [s.track, s.stage, s.outcome, s.durationMs]),
    [['testnet', 'build', 'passed', 40], ['production', 'build', 'passed', 50], ['testnet', 'test', 'failed', 7]]);
  t.ok(all.every((s, i) => i === 0 || s.rowid > (all[i - 1]?.rowid ?? 0)), 'positions increase');
  const page = await store.tallies.stageResultsAfter(0, 2);
  t.equal(page.length, 2);
  const rest = await store.tallies.stageResultsAfter(page[1]?.rowid ?? 0);
  t.same(rest.map((s) => s.stage), ['test'], 'the next scrape reads only what came after');
  await result(store, 'r2', 'test', 'passed', 3);
  t.same((await store.tallies.stageResultsAfter(rest[0]?.rowid ?? 0)).map((s) => [s.track, s.stage]), [['production', 'test']]);
});

await eachStore(t, 'runs are counted by track and status', async (t, store) => {
  t.same(await store.tallies.runsByStatus(), []);
  await run(store, 'r1', 'testnet');
  await run(store, 'r2', 'testnet');
  await run(store, 'r3', 'production');
  const counts = (await store.tallies.runsByStatus()).sort((a, b) => a.track.localeCompare(b.track));
  t.same(counts, [{ track: 'production', status: 'pending', n: 1 }, { track: 'testnet', status: 'pending', n: 2 }]);
});

await eachStore(t, 'a store that ended no apply counts none', async (t, store) => {
  t.same(await store.tallies.appliesByOutcome(), []);
});
