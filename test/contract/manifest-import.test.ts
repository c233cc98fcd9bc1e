// Imported manifests (the E_SEQ_REGRESSION repair) on every adapter: stored once for their
// (track, seq), confirmed when identical, refused when anything else holds that seq, counted
// by the track's seq line so the next reservation is above them, and invisible to the runs.
import t from 'tap';
import type { StateStore } from '../../src/core/store-ports.js';
import './postgres.js';
import { eachStore } from './stores.js';

const enc = (s: string) => new TextEncoder().encode(s);
const reserve = (store: StateStore, runId: string, track = 'testnet') => store.manifests.reserve({
  runId, track, kind: 'release', purpose: 'release', version: runId, commit: 'sha', at: 5, build: (seq) => enc(`{"seq":${seq},"run":"${runId}"}`),
});

await eachStore(t, 'an imported envelope is stored once, confirmed, refused when different, and the seq line counts it', async (t, store) => {
  for (const id of ['r1', 'r2']) await store.createRun({ id, track: 'testnet', version: id, ref: 'main', commit: 'sha', retryOf: null, createdAt: 1 });
  const one = await reserve(store, 'r1');
  await store.manifests.setEnvelope('testnet', one.seq, 'env-1');
  t.equal(await store.manifests.importSigned('testnet', 7, enc('{"seq":7}'), 'env-7'), 'stored');
  t.equal(await store.manifests.importSigned('testnet', 7, enc('{"seq":7}'), 'env-7'), 'same');
  await t.rejects(store.manifests.importSigned('testnet', 7, enc('{"seq":7,"x":1}'), 'env-7b'), { code: 'E_SEQ_CONFLICT' });
  await t.rejects(store.manifests.importSigned('testnet', 1, enc('{"seq":1}'), 'env-other'), { code: 'E_SEQ_CONFLICT' },
    'a seq a run of this store signed');
  t.equal(await store.manifests.importSigned('testnet', 1, one.payload, 'env-1'), 'same', 'the envelope it signed');
  t.equal(await store.manifests.imported('testnet', 7), 'env-7');
  t.equal(await store.manifests.imported('testnet', 8), null);
  t.equal(await store.manifests.imported('production', 7), null, 'per track');
  t.equal((await reserve(store, 'r2')).seq, 8, 'the next seq is one above the imported one');
  t.same((await store.manifests.list('testnet')).map((m) => m.seq), [1, 8], 'no run owns the imported seq');
  t.equal(await store.manifests.importSigned('testnet', 12, enc('{"seq":12}'), 'env-12'), 'stored');
  t.equal(await store.manifests.importSigned('testnet', 3, enc('{"seq":3}'), 'env-3'), 'stored', 'a gap below is fine');
  await t.rejects(store.manifests.importSigned('testnet', 8, enc('{"seq":8}'), 'env-8'), { code: 'E_SEQ_CONFLICT' },
    'a reserved seq with other bytes');
});

await eachStore(t, 'a reserved, unsigned payload with the same bytes is the same manifest', async (t, store) => {
  await store.createRun({ id: 'r1', track: 'testnet', version: 'v1', ref: 'main', commit: 'sha', retryOf: null, createdAt: 1 });
  const m = await reserve(store, 'r1');
  t.equal(await store.manifests.importSigned('testnet', m.seq, m.payload, 'env-signed-elsewhere'), 'same');
  t.equal(await store.manifests.imported('testnet', m.seq), null, 'nothing stored beside the reservation');
});
