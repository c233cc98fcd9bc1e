// Manifests, floors, commands, benchmark snapshots, approvals and kv: the same assertions on
// every adapter (test/contract/stores.ts).
import t from 'tap';
import type { BenchmarkRecord, ManifestPurpose } from '../../src/core/records.js';
import type { StateStore } from '../../src/core/store-ports.js';
import './postgres.js';
import { refused } from './raw.js';
import { eachStore } from './stores.js';

/** Runs r1..r3 on testnet and p1 on production. */
async function withRuns(store: StateStore): Promise<StateStore> {
  for (const [id, track, version] of [['r1', 'testnet', 'v1'], ['r2', 'testnet', 'v2'], ['r3', 'testnet', 'v3'], ['p1', 'production', 'v1']]) {
    await store.createRun({ id: id!, track: track!, version: version!, ref: 'main', commit: `sha-${id}`, retryOf: null, createdAt: 1_000 });
  }
  return store;
}

/** A payload builder that records every seq it was asked to build for. */
function recordingBuilder(): { build: (seq: number) => Uint8Array; asked: number[] } {
  const asked: number[] = [];
  return { asked, build: (seq) => (asked.push(seq), new TextEncoder().encode(`{"seq":${seq}}`)) };
}

const reserve = async (store: StateStore, runId: string, track: string, build: (seq: number) => Uint8Array, purpose: ManifestPurpose = 'release') =>
  await store.manifests.reserve({ runId, track, kind: purpose === 'rollback' ? 'rollback' : 'release', purpose, version: 'v', commit: 'sha', at: 5, build });

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

await eachStore(t, 'reserving again for the same run and purpose returns the same seq and bytes without building twice', async (t, store) => {
  await withRuns(store);
  const b = recordingBuilder();
  const first = await reserve(store, 'r1', 'testnet', b.build);
  const again = await reserve(store, 'r1', 'testnet', b.build);
  t.equal(first.seq, 1);
  t.equal(again.seq, 1);
  t.same(again.payload, first.payload);
  t.equal(text(again.payload), '{"seq":1}');
  t.same(b.asked, [1], 'the builder ran once');
  t.match(await store.manifests.forRun('r1', 'release'), { track: 'testnet', seq: 1, runId: 'r1', kind: 'release', envelope: null, createdAt: 5 });
});

await eachStore(t, 'runs take consecutive seqs per track, and each track counts on its own', async (t, store) => {
  await withRuns(store);
  const b = recordingBuilder();
  t.equal((await reserve(store, 'r1', 'testnet', b.build)).seq, 1);
  t.equal((await reserve(store, 'r2', 'testnet', b.build)).seq, 2);
  t.equal((await reserve(store, 'p1', 'production', b.build)).seq, 1);
  t.equal((await reserve(store, 'r2', 'testnet', b.build, 'canary')).seq, 3, 'another purpose of the same run is another manifest');
  t.same(b.asked, [1, 2, 1, 3]);
  t.same((await store.manifests.list('testnet')).map((m) => [m.seq, m.runId, m.purpose]), [[1, 'r1', 'release'], [2, 'r2', 'release'], [3, 'r2', 'canary']]);
  t.same((await store.manifests.list()).map((m) => [m.track, m.seq]), [['production', 1], ['testnet', 1], ['testnet', 2], ['testnet', 3]]);
});

await eachStore(t, 'reservations made at once take distinct consecutive seqs, and one run\'s twice is one manifest', async (t, store) => {
  await withRuns(store);
  const b = recordingBuilder();
  const got = await Promise.all([
    reserve(store, 'r1', 'testnet', b.build), reserve(store, 'r2', 'testnet', b.build), reserve(store, 'r3', 'testnet', b.build),
    reserve(store, 'r1', 'testnet', b.build), reserve(store, 'r1', 'testnet', b.build, 'rollback'),
  ]);
  t.same(got.map((m) => m.seq).slice(0, 3).concat(got[4]!.seq).sort(), [1, 2, 3, 4]);
  t.equal(got[3]!.seq, got[0]!.seq, 'the same run and purpose got its own record back');
  t.same([...b.asked].sort(), [1, 2, 3, 4], 'each seq built once');
});

await eachStore(t, 'a builder that throws reserves nothing and leaves the seq free', async (t, store) => {
  await withRuns(store);
  await t.rejects(reserve(store, 'r1', 'testnet', () => {
    throw new Error('cannot build');
  }), /cannot build/);
  t.equal(await store.manifests.forRun('r1', 'release'), null);
  t.equal((await reserve(store, 'r2', 'testnet', recordingBuilder().build)).seq, 1);
});

await eachStore(t, 'the payload bytes, track and seq of a reserved manifest cannot be updated', async (t, store) => {
  await withRuns(store);
  await reserve(store, 'r1', 'testnet', recordingBuilder().build);
  t.match((await refused(store, 'UPDATE manifests SET payload = ? WHERE seq = 1', [Buffer.from('forged')]))?.message, /manifest payload is immutable/);
  t.match((await refused(store, 'UPDATE manifests SET seq = 7 WHERE seq = 1'))?.message, /manifest payload is immutable/);
  t.match((await refused(store, "UPDATE manifests SET track = 'production'"))?.message, /manifest payload is immutable/);
  t.equal(text((await store.manifests.get('testnet', 1))!.payload), '{"seq":1}');
});

await eachStore(t, 'payload bytes and envelopes round-trip byte for byte', async (t, store) => {
  await withRuns(store);
  const bytes = new Uint8Array(256).map((_, i) => i);
  const m = await reserve(store, 'r1', 'testnet', () => bytes);
  t.same([...m.payload], [...bytes]);
  t.same([...(await store.manifests.get('testnet', 1))!.payload], [...bytes]);
  const envelope = '{"payloadType":"x",  "signatures":[{"sig":"\\u00e9 é ✓","keyid":"k"}],\n "b":1.0}';
  await store.manifests.setEnvelope('testnet', 1, envelope);
  t.equal((await store.manifests.get('testnet', 1))?.envelope, envelope, 'whitespace, key order, escapes and numbers as written');
});

await eachStore(t, 'an envelope is set once: the identical one again is fine, a different one or none is refused', async (t, store) => {
  await withRuns(store);
  await reserve(store, 'r1', 'testnet', recordingBuilder().build);
  t.equal(await store.manifests.latestSigned('testnet'), null, 'a reserved manifest is not signed yet');
  await store.manifests.setEnvelope('testnet', 1, '{"sig":"A"}');
  await store.manifests.setEnvelope('testnet', 1, '{"sig":"A"}');
  await t.rejects(store.manifests.setEnvelope('testnet', 1, '{"sig":"B"}'), /manifest envelope is immutable/);
  t.match((await refused(store, 'UPDATE manifests SET envelope = NULL'))?.message, /manifest envelope is immutable/, 'clearing is not a way around it');
  t.equal((await store.manifests.latestSigned('testnet'))?.envelope, '{"sig":"A"}');
  await t.rejects(store.manifests.setEnvelope('testnet', 9, '{"sig":"A"}'), { code: 'E_SEQ_CONFLICT' });
});

await eachStore(t, 'the latest signed manifest of a track skips newer reservations that are not signed yet', async (t, store) => {
  await withRuns(store);
  const b = recordingBuilder();
  for (const id of ['r1', 'r2', 'r3']) await reserve(store, id, 'testnet', b.build);
  await store.manifests.setEnvelope('testnet', 1, 'env-1');
  await store.manifests.setEnvelope('testnet', 2, 'env-2');
  t.match(await store.manifests.latestSigned('testnet'), { seq: 2, runId: 'r2', envelope: 'env-2', commit: 'sha', createdAt: 5 });
  t.equal(await store.manifests.latestSigned('production'), null);
});

await eachStore(t, 'released versions: signed release manifests of runs not rolled back, but the one asking', async (t, store) => {
  await withRuns(store);
  const b = recordingBuilder();
  for (const id of ['r1', 'r2', 'r3']) await store.manifests.reserve({ runId: id, track: 'testnet', kind: 'release', purpose: 'release', version: `v-${id}`, commit: 'sha', at: 5, build: b.build });
  for (const seq of [1, 2, 3]) await store.manifests.setEnvelope('testnet', seq, `env-${seq}`);
  await store.saveSnapshot({ runId: 'r3', machineVersion: 1, state: 'rolled_back', status: 'rolled_back', snapshot: {}, reason: null, code: null, at: 9 });
  t.same((await store.manifests.releasedVersions('testnet')).sort(), ['v-r1', 'v-r2']);
  t.same(await store.manifests.releasedVersions('testnet', 'r1'), ['v-r2']);
});

await eachStore(t, 'a floor only goes up', async (t, store) => {
  t.equal(await store.floors.get('testnet'), null);
  await store.floors.raise('testnet', 5, 10);
  await store.floors.raise('testnet', 3, 20);
  t.equal(await store.floors.get('testnet'), 5, 'a lower seq does not lower it');
  await store.floors.raise('testnet', 7, 30);
  await store.floors.raise('production', 2, 30);
  t.same(await store.floors.all(), { testnet: 7, production: 2 });
});

await eachStore(t, 'commands wait in order until consumed', async (t, store) => {
  await withRuns(store);
  const first = await store.commands.enqueue({ runId: 'r1', kind: 'abort', reason: 'bad canary', by: 'ops', at: 10 });
  const second = await store.commands.enqueue({ runId: 'r1', kind: 'abort', reason: 'again', by: 'ops', at: 11 });
  await store.commands.enqueue({ runId: 'r2', kind: 'abort', reason: 'other run', by: 'ops', at: 12 });
  t.same(await store.commands.pending('r1'), [
    { id: first, runId: 'r1', kind: 'abort', reason: 'bad canary', by: 'ops', at: 10 },
    { id: second, runId: 'r1', kind: 'abort', reason: 'again', by: 'ops', at: 11 },
  ]);
  await store.commands.consume(first, 20);
  t.same((await store.commands.pending('r1')).map((c) => c.id), [second]);
  await store.commands.consume(second, 21);
  t.same(await store.commands.pending('r1'), []);
  t.equal((await store.commands.pending('r2')).length, 1);
});

const bench = (runId: string, suite: string, value: number): BenchmarkRecord => ({
  runId, suite, track: 'testnet', version: 'v1', commit: 'sha', metrics: { p50_ms: { value, better: 'lower', unit: 'ms' } }, samples: [value], createdAt: value,
});

await eachStore(t, 'saving a benchmark twice for the same run and suite keeps the first', async (t, store) => {
  await withRuns(store);
  await store.benchmarks.save(bench('r1', 'micro', 10));
  await store.benchmarks.save(bench('r1', 'micro', 99));
  await store.benchmarks.save(bench('r1', 'macro', 20));
  await store.benchmarks.save(bench('r2', 'micro', 11));
  t.same(await store.benchmarks.forRun('r1'), [bench('r1', 'macro', 20), bench('r1', 'micro', 10)]);
  t.same((await store.benchmarks.list({ track: 'testnet' })).map((b) => [b.runId, b.suite]), [['r1', 'macro'], ['r2', 'micro'], ['r1', 'micro']]);
  t.same((await store.benchmarks.list({ limit: 1 })).map((b) => [b.runId, b.suite]), [['r1', 'macro']]);
  t.same(await store.benchmarks.list({ track: 'production' }), []);
});

await eachStore(t, 'an approval is stored per run with its event, and a later one replaces it', async (t, store) => {
  await withRuns(store);
  t.equal(await store.approvals.get('r1'), null);
  await store.approvals.approve('r1', 'alice', 'flake', 10);
  await store.approvals.approve('r1', 'bob', 'checked logs', 20);
  t.same(await store.approvals.get('r1'), { by: 'bob', reason: 'checked logs', at: 20 });
  t.same((await store.events({ runId: 'r1' })).filter((e) => e.kind === 'run.approved').map((e) => [e.actor, e.stage, e.data.reason]),
    [['alice', 'audit', 'flake'], ['bob', 'audit', 'checked logs']]);
});

await eachStore(t, 'kv values are read back, overwritten, set together and listed by prefix in key order', async (t, store) => {
  t.equal(await store.kv.get('cursor'), null);
  await store.kv.set('cursor', 'a');
  await store.kv.set('cursor', 'b');
  t.equal(await store.kv.get('cursor'), 'b');
  await store.kv.setMany({ 'held:b': '2', 'held:a': '1', 'held:B': 'upper', 'helm': 'no', 'held:\u00e9': 'accent' });
  t.same(await store.kv.withPrefix('held:'), ['upper', '1', '2', 'accent'], 'byte order, as SQLite sorts');
  t.same(await store.kv.withPrefix('nothing:'), []);
});
