// The uniqueness rules the guarantees rest on live in the schema of both adapters: one
// manifest per (track, seq), one reservation per (run, purpose), one result per (run, stage).
// A write that goes around the ports (raw SQL) is refused as a unique violation, and a
// second result through the port is refused with E_DUPLICATE, on either adapter.
import t from 'tap';
import type { StageResult } from '../../src/core/run.js';
import type { StateStore } from '../../src/core/store-ports.js';
import './postgres.js';
import { refused, refusalKind } from './raw.js';
import { eachStore } from './stores.js';

async function twoRuns(store: StateStore): Promise<void> {
  for (const id of ['r1', 'r2']) {
    await store.createRun({ id, track: 'testnet', version: `v-${id}`, ref: 'main', commit: 'c'.repeat(40), retryOf: null, createdAt: 1 });
  }
}

const INSERT_MANIFEST = `INSERT INTO manifests (track, seq, run_id, kind, purpose, version, commit_sha, payload, created_at)
  VALUES (?, ?, ?, 'release', ?, 'v', 'sha', ?, 1)`;

await eachStore(t, 'a second manifest at the same (track, seq) is refused by the schema', async (t, store) => {
  await twoRuns(store);
  const first = await store.manifests.reserve({ runId: 'r1', track: 'testnet', kind: 'release', purpose: 'release', version: 'v', commit: 'sha', at: 1,
    build: () => new Uint8Array([1]) });
  const err = await refused(store, INSERT_MANIFEST, ['testnet', first.seq, 'r2', 'release', Buffer.from([2])]);
  t.equal(refusalKind(err), 'unique');
  t.same([...(await store.manifests.get('testnet', first.seq))!.payload], [1], 'the first keeps its bytes');
  t.equal((await store.manifests.list('testnet')).length, 1);
  t.equal(await refused(store, INSERT_MANIFEST, ['production', first.seq, 'r2', 'release', Buffer.from([2])]), null,
    'the same seq on another track is another manifest');
});

await eachStore(t, 'a second reservation for the same (run, purpose) is refused by the schema', async (t, store) => {
  await twoRuns(store);
  await store.manifests.reserve({ runId: 'r1', track: 'testnet', kind: 'release', purpose: 'canary', version: 'v', commit: 'sha', at: 1,
    build: () => new Uint8Array([1]) });
  const err = await refused(store, INSERT_MANIFEST, ['testnet', 2, 'r1', 'canary', Buffer.from([2])]);
  t.equal(refusalKind(err), 'unique');
  t.equal(await store.manifests.get('testnet', 2), null);
  t.equal((await store.manifests.forRun('r1', 'canary'))?.seq, 1);
});

const result = (runId: string, reason: string): StageResult =>
  ({ runId, stage: 'build', outcome: 'passed', reason, evidence: {}, startedAt: 1, finishedAt: 2, attempts: 1 });

await eachStore(t, 'a second result for the same (run, stage) is refused with E_DUPLICATE, through the port or around it', async (t, store) => {
  await twoRuns(store);
  const raced = await Promise.allSettled([store.recordStageResult(result('r1', 'one')), store.recordStageResult(result('r1', 'two'))]);
  t.same(raced.map((r) => r.status).sort(), ['fulfilled', 'rejected'], 'of two records at once, one is kept');
  t.match(raced.find((r) => r.status === 'rejected'), { reason: { code: 'E_DUPLICATE' } });
  await t.rejects(store.recordStageResult(result('r1', 'three')), { code: 'E_DUPLICATE' });
  const err = await refused(store, `INSERT INTO stage_results (run_id, stage, outcome, reason, code, evidence, started_at, finished_at, attempts)
    VALUES ('r1', 'build', 'failed', 'forged', NULL, '{}', 1, 2, 1)`);
  t.equal(refusalKind(err), 'unique');
  t.equal((await store.stageResults('r1')).length, 1);
  t.equal((await store.events({ runId: 'r1' })).filter((e) => e.kind === 'stage.result').length, 1, 'one result event');
  await store.recordStageResult(result('r2', 'another run'));
  t.equal((await store.getStageResult('r2', 'build'))?.reason, 'another run');
});
