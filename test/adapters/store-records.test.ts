import t from 'tap';
import { join } from 'node:path';
import { Store, type BenchmarkRecord, type ManifestPurpose } from '../../src/adapters/sqlite/store.js';
import { tempDir } from '../helpers/tmp.js';

/** A store in a temp dir with runs r1..r3 on testnet and p1 on production. */
async function storeWithRuns(t: Tap.Test): Promise<Store> {
  const store = Store.open(join(tempDir(t), 'upshift.db'), () => 1_000);
  t.teardown(() => store.close());
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

const reserve = async (store: Store, runId: string, track: string, build: (seq: number) => Uint8Array, purpose: ManifestPurpose = 'release') =>
  await store.manifests.reserve({ runId, track, kind: purpose === 'rollback' ? 'rollback' : 'release', purpose, version: 'v', commit: 'sha', at: 5, build });

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

t.test('reserving again for the same run and purpose returns the same seq and bytes without building twice', async (t) => {
  const store = await storeWithRuns(t);
  const b = recordingBuilder();
  const first = (await reserve(store, 'r1', 'testnet', b.build));
  const again = (await reserve(store, 'r1', 'testnet', b.build));
  t.equal(first.seq, 1);
  t.equal(again.seq, 1);
  t.same(again.payload, first.payload);
  t.equal(text(again.payload), '{"seq":1}');
  t.same(b.asked, [1], 'the builder ran once');
});

t.test('runs take consecutive seqs per track, and each track counts on its own', async (t) => {
  const store = await storeWithRuns(t);
  const b = recordingBuilder();
  t.equal((await reserve(store, 'r1', 'testnet', b.build)).seq, 1);
  t.equal((await reserve(store, 'r2', 'testnet', b.build)).seq, 2);
  t.equal((await reserve(store, 'p1', 'production', b.build)).seq, 1);
  t.equal((await reserve(store, 'r2', 'testnet', b.build, 'canary')).seq, 3, 'another purpose of the same run is another manifest');
  t.same(b.asked, [1, 2, 1, 3]);
  t.same((await store.manifests.list('testnet')).map((m) => [m.seq, m.runId, m.purpose]), [[1, 'r1', 'release'], [2, 'r2', 'release'], [3, 'r2', 'canary']]);
});

t.test('a builder that throws reserves nothing and leaves the seq free', async (t) => {
  const store = await storeWithRuns(t);
  await t.rejects(async () => (await reserve(store, 'r1', 'testnet', () => {
    throw new Error('cannot build');
  })), /cannot build/);
  t.equal(await store.manifests.forRun('r1', 'release'), null);
  t.equal((await reserve(store, 'r2', 'testnet', recordingBuilder().build)).seq, 1);
});

t.test('the payload bytes, track and seq of a reserved manifest cannot be updated', async (t) => {
  const store = await storeWithRuns(t);
  (await reserve(store, 'r1', 'testnet', recordingBuilder().build));
  t.throws(() => store.db.prepare('UPDATE manifests SET payload = ? WHERE seq = 1').run(Buffer.from('forged')), /manifest payload is immutable/);
  t.throws(() => store.db.prepare('UPDATE manifests SET seq = 7 WHERE seq = 1').run(), /manifest payload is immutable/);
  t.throws(() => store.db.prepare("UPDATE manifests SET track = 'production'").run(), /manifest payload is immutable/);
  t.equal(text((await store.manifests.get('testnet', 1))!.payload), '{"seq":1}');
});

t.test('an envelope is set once: the identical one again is fine, a different one or none is refused', async (t) => {
  const store = await storeWithRuns(t);
  (await reserve(store, 'r1', 'testnet', recordingBuilder().build));
  t.equal(await store.manifests.latestSigned('testnet'), null, 'a reserved manifest is not signed yet');
  await store.manifests.setEnvelope('testnet', 1, '{"sig":"A"}');
  await store.manifests.setEnvelope('testnet', 1, '{"sig":"A"}');
  await t.rejects(async () => await store.manifests.setEnvelope('testnet', 1, '{"sig":"B"}'), /manifest envelope is immutable/);
  t.throws(() => store.db.prepare('UPDATE manifests SET envelope = NULL').run(), /manifest envelope is immutable/, 'clearing is not a way around it');
  t.equal((await store.manifests.latestSigned('testnet'))?.envelope, '{"sig":"A"}');
  await t.rejects(async () => await store.manifests.setEnvelope('testnet', 9, '{"sig":"A"}'), { code: 'E_SEQ_CONFLICT' });
});

t.test('the latest signed manifest of a track skips newer reservations that are not signed yet', async (t) => {
  const store = await storeWithRuns(t);
  const b = recordingBuilder();
  for (const id of ['r1', 'r2', 'r3']) (await reserve(store, id, 'testnet', b.build));
  await store.manifests.setEnvelope('testnet', 1, 'env-1');
  await store.manifests.setEnvelope('testnet', 2, 'env-2');
  t.match(await store.manifests.latestSigned('testnet'), { seq: 2, runId: 'r2', envelope: 'env-2', commit: 'sha', createdAt: 5 });
  t.equal(await store.manifests.latestSigned('production'), null);
});

t.test('a floor only goes up', async (t) => {
  const store = await storeWithRuns(t);
  t.equal(await store.floors.get('testnet'), null);
  await store.floors.raise('testnet', 5, 10);
  await store.floors.raise('testnet', 3, 20);
  t.equal(await store.floors.get('testnet'), 5, 'a lower seq does not lower it');
  await store.floors.raise('testnet', 7, 30);
  await store.floors.raise('production', 2, 30);
  t.same(await store.floors.all(), { testnet: 7, production: 2 });
});

t.test('commands wait in order until consumed', async (t) => {
  const store = await storeWithRuns(t);
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

t.test('saving a benchmark twice for the same run and suite keeps the first', async (t) => {
  const store = await storeWithRuns(t);
  await store.benchmarks.save(bench('r1', 'micro', 10));
  await store.benchmarks.save(bench('r1', 'micro', 99));
  await store.benchmarks.save(bench('r1', 'macro', 20));
  await store.benchmarks.save(bench('r2', 'micro', 11));
  t.same(await store.benchmarks.forRun('r1'), [bench('r1', 'macro', 20), bench('r1', 'micro', 10)]);
  t.same((await store.benchmarks.list({ track: 'testnet' })).map((b) => [b.runId, b.suite]), [['r1', 'macro'], ['r2', 'micro'], ['r1', 'micro']]);
  t.same(await store.benchmarks.list({ track: 'production' }), []);
});

t.test('an approval is stored per run and a later one replaces it', async (t) => {
  const store = await storeWithRuns(t);
  t.equal(await store.approvals.get('r1'), null);
  await store.approvals.approve('r1', 'alice', 'flake', 10);
  await store.approvals.approve('r1', 'bob', 'checked logs', 20);
  t.same(await store.approvals.get('r1'), { by: 'bob', reason: 'checked logs', at: 20 });
});

t.test('kv values are read back and overwritten', async (t) => {
  const store = await storeWithRuns(t);
  t.equal(await store.kv.get('cursor'), null);
  await store.kv.set('cursor', 'a');
  await store.kv.set('cursor', 'b');
  t.equal(await store.kv.get('cursor'), 'b');
});
