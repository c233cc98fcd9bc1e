import t from 'tap';
import { join } from 'node:path';
import { Store } from '../../../src/adapters/sqlite/store.js';
import type { ManifestPayload } from '../../../src/core/manifest.js';
import type { ApplyEngine, ApplyOutcome } from '../../../src/node/apply/engine.js';
import { StoreManifestSource } from '../../../src/node/agent/manifest-source.js';
import { toHex } from '../../../src/trust/bytes.js';
import { serializeEnvelope } from '../../../src/trust/envelope.js';
import { signerFromSeed } from '../../../src/trust/keyfile.js';
import { loadKeyset } from '../../../src/trust/keyset.js';
import { signManifest } from '../../../src/trust/verify-manifest.js';
import { tempDir } from '../../helpers/tmp.js';
import type { VerifiedManifest } from '../../../src/trust/verify-manifest.js';

const authority = signerFromSeed(new Uint8Array(32).fill(1));
const keyset = loadKeyset({ keys: [{ public: toHex(authority.publicKey) }] });
const now = Date.now();
const iso = (ms: number) => new Date(ms).toISOString();
const node = { id: 'node-1', fleet: 'edge', tracks: ['testnet'] };

const base: ManifestPayload = {
  schema: 'upshift.manifest/v1', fleet: 'edge', track: 'testnet', seq: 1, version: 'v1.0.0',
  commit: 'a'.repeat(40), code_hash: 'b'.repeat(64), created_at: iso(now - 1000), expires_at: iso(now + 3_600_000),
  kind: 'release', targets: 'all', evidence: { run_id: 'run-1', test: null, benchmark: null, notes: [] },
};
const sign = (p: Partial<ManifestPayload>) => serializeEnvelope(signManifest({ ...base, ...p }, [authority]));

/** An apply engine that records what it was asked to apply and how many applies overlapped. */
function recordingEngine() {
  const applied: string[] = [];
  let running = 0;
  let overlap = 0;
  const engine = {
    // it is handed verified manifests; the test compares the envelopes they came from
    async applyManifest(m: VerifiedManifest): Promise<ApplyOutcome> {
      running++;
      if (running > 1) overlap++;
      await new Promise((r) => setTimeout(r, 20));
      applied.push(m.text);
      running--;
      return { apply: null, reason: 'recorded' };
    },
  };
  return { engine: engine as unknown as ApplyEngine, applied, overlap: () => overlap };
}

function openStore(t: Tap.Test): Store {
  const store = Store.open(join(tempDir(t), 'upshift.db'), () => Date.now());
  t.teardown(() => store.close());
  return store;
}

t.test('a manifest that targets this node is applied in the background, one at a time', async (t) => {
  const rec = recordingEngine();
  const source = await StoreManifestSource.open({ store: openStore(t), keyset, node, clock: { now: () => Date.now() }, engine: rec.engine });
  const one = sign({ seq: 1 });
  const two = sign({ seq: 2, version: 'v1.0.1', targets: ['node-1', 'node-2'] });
  t.equal(await source.offer(one), 'accepted', 'accepted before the apply finished');
  t.same(rec.applied, []);
  t.equal(await source.offer(two), 'accepted');
  await source.idle();
  t.same(rec.applied, [one, two]);
  t.equal(rec.overlap(), 0, 'never two applies at once');
});

t.test('a manifest for other nodes is stored and forwarded but not applied', async (t) => {
  const rec = recordingEngine();
  const store = openStore(t);
  const source = await StoreManifestSource.open({ store, keyset, node, clock: { now: () => Date.now() }, engine: rec.engine });
  const canary = sign({ targets: ['node-2'] });
  t.equal(await source.offer(canary), 'accepted');
  await source.idle();
  t.same(rec.applied, []);
  t.equal(source.get('testnet'), canary);
  const reopened = await StoreManifestSource.open({ store, keyset, node, clock: { now: () => Date.now() }, engine: null });
  t.same(reopened.digest(), source.digest(), 'the digest survives a restart');
});

t.test('the authority holds and forwards a track it releases but does not run, and never applies it', async (t) => {
  const rec = recordingEngine();
  const store = openStore(t);
  const relaying = { ...node, relay: ['production'] };
  const source = await StoreManifestSource.open({ store, keyset, node: relaying, clock: { now: () => Date.now() }, engine: rec.engine });
  const production = sign({ track: 'production', seq: 4 });
  t.equal(await source.accept(production), 'accepted', 'the authority\'s own publish of a production release');
  t.equal(await source.offer(sign({ seq: 1 })), 'accepted');
  await source.idle();
  t.same(rec.applied, [sign({ seq: 1 })], 'only the testnet release was applied');
  t.equal(source.get('production'), production, 'served to peers that pull it');
  t.same(Object.keys(source.digest()).sort(), ['production', 'testnet'], 'advertised in the digest');
  await source.resume();
  await source.idle();
  t.notOk(rec.applied.includes(production), 'resume does not apply the relayed track either');
  const reopened = await StoreManifestSource.open({ store, keyset, node: relaying, clock: { now: () => Date.now() }, engine: null });
  t.same(reopened.digest(), source.digest(), 'held across a restart');
  await t.rejects(async () => await (await StoreManifestSource.open({ store: openStore(t), keyset, node, clock: { now: () => Date.now() }, engine: null })).accept(production),
    { code: 'E_WRONG_TRACK' }, 'a node that neither runs nor relays it refuses it');
});

t.test('gossip refuses a manifest valid for too long or created in the future, by the limits of the keyset in force', async (t) => {
  const week = 7 * 86_400_000;
  const strict = loadKeyset({ keys: [{ public: toHex(authority.publicKey) }], max_manifest_ttl: week, clock_skew: 60_000 });
  const source = await StoreManifestSource.open({ store: openStore(t), keyset: strict, node, clock: { now: () => Date.now() }, engine: null });
  await t.rejects(() => source.accept(sign({ expires_at: '9999-12-31T23:59:59.999Z' })), { code: 'E_MANIFEST_TTL' });
  await t.rejects(() => source.accept(sign({ created_at: iso(now - 1000), expires_at: iso(now - 1000 + week + 1) })), { code: 'E_MANIFEST_TTL' }, 'one ms over the configured week');
  await t.rejects(() => source.accept(sign({ created_at: iso(now + 365 * 86_400_000), expires_at: iso(now + 366 * 86_400_000) })), { code: 'E_NOT_YET_VALID' });
  t.same(source.digest(), {}, 'nothing held');
  t.equal(await source.accept(sign({ created_at: iso(now - 1000), expires_at: iso(now - 1000 + week) })), 'accepted', 'exactly the configured week');
});

t.test('expired, other-track, lower and conflicting manifests are refused and change nothing', async (t) => {
  const source = await StoreManifestSource.open({ store: openStore(t), keyset, node, clock: { now: () => Date.now() }, engine: null });
  t.equal(await source.offer(sign({ created_at: iso(now - 7200_000), expires_at: iso(now - 1000) })), 'refused', 'expired');
  t.equal(await source.offer(sign({ track: 'production' })), 'refused', 'a track this node does not follow');
  t.equal(await source.offer('{"payloadType":'), 'refused', 'garbage');
  t.same(source.digest(), {});
  t.equal(await source.offer(sign({ seq: 3 })), 'accepted');
  const held = source.digest();
  t.equal(await source.offer(sign({ seq: 2 })), 'refused', 'lower seq');
  t.equal(await source.offer(sign({ seq: 3, version: 'v9' })), 'refused', 'another manifest with the same seq');
  t.equal(await source.offer(sign({ seq: 3 })), 'same');
  t.equal(source.digest(), held, 'the digest object is unchanged');
});

t.test('a node that joins after a rolled-back canary holds both and applies the fleet-wide release', async (t) => {
  const rec = recordingEngine();
  const store = openStore(t);
  const source = await StoreManifestSource.open({ store, keyset, node, clock: { now: () => Date.now() }, engine: rec.engine });
  const fleetWide = sign({ seq: 4 });
  const rollback = sign({ seq: 7, kind: 'rollback', targets: ['node-2'] });
  t.equal(await source.offer(rollback), 'accepted', 'the newest manifest, addressed to the canary');
  t.equal(await source.offer(fleetWide), 'accepted', 'and the fleet-wide one below it');
  await source.idle();
  t.same(rec.applied, [fleetWide], 'the newest that targets this node is applied');
  const digest = source.digest().testnet;
  t.equal(digest?.seq, 7, 'the digest names the newest');
  t.same(digest?.also?.map((e) => e.seq), [4], 'and advertises the fleet-wide one beside it');
  t.equal(source.get('testnet', digest?.also?.[0]?.hash), fleetWide, 'each is served by its hash');
  t.equal(source.get('testnet'), rollback, 'the newest by default');
  t.notOk(source.wants('testnet', 7, digest?.hash ?? ''), 'nothing held is pulled again');
  const reopened = await StoreManifestSource.open({ store, keyset, node, clock: { now: () => Date.now() }, engine: null });
  t.same(reopened.digest(), source.digest(), 'the whole held set survives a restart');
});

t.test('a canary that missed its rollback still finds it after later canaries elsewhere', async (t) => {
  const rec = recordingEngine();
  const source = await StoreManifestSource.open({ store: openStore(t), keyset, node, clock: { now: () => Date.now() }, engine: rec.engine });
  const rollback = sign({ seq: 7, kind: 'rollback', targets: ['node-1'] });
  for (const env of [sign({ seq: 9, targets: ['node-2'] }), sign({ seq: 10, kind: 'rollback', targets: ['node-2'] }), rollback, sign({ seq: 4 })]) {
    t.equal(await source.offer(env), 'accepted');
  }
  await source.idle();
  t.same(rec.applied, [rollback], 'its rollback, and not the older fleet-wide release');
  t.same(source.digest().testnet?.also?.map((e) => e.seq), [7, 4], 'the superseded canary manifest #9 is not kept');
  t.equal(await source.offer(sign({ seq: 9, targets: ['node-2'] })), 'refused', 'and is refused when it comes again');
});
