// "Signing survives failover": before reserving a seq, the newest manifest this node holds for
// the track must be in the store as that exact envelope (or the same payload, reserved and not
// yet signed); a store that lost it (a failover without a synchronous standby) reserves
// nothing and fails E_SEQ_REGRESSION.
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Store } from '../../src/adapters/sqlite/store.js';
import type { StateStore } from '../../src/core/store-ports.js';
import { serializeEnvelope, signEnvelope } from '../../src/trust/envelope.js';
import { signerFromSeed } from '../../src/trust/keyfile.js';
import { refuseSeqRegression } from '../../src/stages/seq-guard.js';
import { reserveAndSign } from '../../src/stages/release-manifest.js';
import type { StageContext } from '../../src/stages/context.js';
import { tempDir } from '../helpers/tmp.js';

const signer = signerFromSeed(new Uint8Array(randomBytes(32)));
const payloadOf = (seq: number, v = 'v1') => new TextEncoder().encode(`{"seq":${seq},"version":"${v}"}`);
const envelopeOf = (bytes: Uint8Array) => serializeEnvelope(signEnvelope('application/vnd.upshift.manifest+json', bytes, [signer]));

async function storeWith(t: Tap.Test, runs: number): Promise<StateStore> {
  const store = Store.open(join(tempDir(t, 'upshift-seq-guard-'), 'upshift.db'), () => 1_000);
  t.teardown(() => store.close());
  for (let i = 1; i <= runs; i++) {
    await store.createRun({ id: `r${i}`, track: 'testnet', version: `v${i}`, ref: 'main', commit: `sha${i}`, retryOf: null, createdAt: 1_000 });
  }
  return store;
}

const reserve = (store: StateStore, runId: string, v = 'v1') => store.manifests.reserve({
  runId, track: 'testnet', kind: 'release', purpose: 'release', version: v, commit: 'sha', at: 5, build: (seq) => payloadOf(seq, v),
});

t.test('nothing published, or the store holds the published envelope: reserving goes on', async (t) => {
  const store = await storeWith(t, 2);
  await refuseSeqRegression(store, 'testnet', () => null);
  await refuseSeqRegression(store, 'testnet', undefined);
  const m = await reserve(store, 'r1');
  const envelope = envelopeOf(m.payload);
  await store.manifests.setEnvelope('testnet', m.seq, envelope);
  await refuseSeqRegression(store, 'testnet', () => ({ seq: m.seq, envelope }));
  t.pass('the store holds seq 1 as published');
});

t.test('reserved and not yet signed, with the same payload: a resumed SIGN gives the same bytes', async (t) => {
  const store = await storeWith(t, 1);
  const m = await reserve(store, 'r1');
  await refuseSeqRegression(store, 'testnet', () => ({ seq: m.seq, envelope: envelopeOf(m.payload) }));
  t.pass();
});

t.test('a store that lost the published seq refuses with E_SEQ_REGRESSION and reserves nothing', async (t) => {
  const store = await storeWith(t, 2);
  const m = await reserve(store, 'r1');
  await store.manifests.setEnvelope('testnet', m.seq, envelopeOf(m.payload));
  // nodes hold seq 2, which this store never got (lost with an asynchronous failover)
  const lost = { seq: 2, envelope: envelopeOf(payloadOf(2, 'v2')) };
  await t.rejects(refuseSeqRegression(store, 'testnet', () => lost), { code: 'E_SEQ_REGRESSION', message: /seq 2 was already published .* does not hold it/ });
  // through SIGN's reservation: refused before the seq (which would be 2 again) is taken
  const run = await store.requireRun('r2');
  const ctx = {
    run, stage: 'sign', store, config: { fleet: 'demo' }, authority: { manifest_ttl: 60_000 }, clock: { now: () => 1_000 },
    failpoint: () => {}, published: () => lost,
  } as unknown as StageContext;
  await t.rejects(reserveAndSign(ctx, {
    purpose: 'release', kind: 'release', version: 'v2', commit: 'sha2', codeHash: 'a'.repeat(64), targets: 'all', evidence: {} as never,
  }), { code: 'E_SEQ_REGRESSION' });
  t.same((await store.manifests.list('testnet')).map((x) => x.seq), [1], 'nothing was reserved');
});

t.test('a store holding a different manifest at the published seq refuses too', async (t) => {
  const store = await storeWith(t, 1);
  await reserve(store, 'r1', 'v1');
  const other = { seq: 1, envelope: envelopeOf(payloadOf(1, 'another')) };
  await t.rejects(refuseSeqRegression(store, 'testnet', () => other), { code: 'E_SEQ_REGRESSION', message: /holds a different manifest/ });
});
