import t from 'tap';
import { canonicalize } from '../../src/core/canonical-json.js';
import { checkManifestAcceptable } from '../../src/core/decisions/acceptance.js';
import { PAYLOAD_TYPES, type ManifestPayload } from '../../src/core/manifest.js';
import { fromBase64, toBase64, toHex } from '../../src/trust/bytes.js';
import { serializeEnvelope, signEnvelope } from '../../src/trust/envelope.js';
import { signerFromSeed } from '../../src/trust/keyfile.js';
import { loadKeyset } from '../../src/trust/keyset.js';
import { signManifest, verifyManifest } from '../../src/trust/verify-manifest.js';

const signer = (n: number) => signerFromSeed(new Uint8Array(32).fill(n));
const [a, b] = [signer(1), signer(2)];
const keyset = loadKeyset({ keys: [{ public: toHex(a.publicKey) }, { public: toHex(b.publicKey) }], threshold: 1 });
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

const manifest: ManifestPayload = {
  schema: 'upshift.manifest/v1',
  fleet: 'edge',
  track: 'stable',
  seq: 3,
  version: '2.0.0',
  commit: '0123456789abcdef0123456789abcdef01234567',
  code_hash: 'e'.repeat(64),
  created_at: '2025-06-01T00:00:00.000Z',
  expires_at: '2025-06-02T00:00:00.000Z',
  kind: 'release',
  targets: ['node-1'],
  evidence: { run_id: 'r', test: null, benchmark: null, notes: [] },
};

t.test('a signed manifest round-trips through its wire bytes', async (t) => {
  const wire = enc(serializeEnvelope(signManifest(manifest, [a])));
  const { payload, envelope } = verifyManifest(wire, keyset);
  t.same(payload, manifest);
  t.equal(envelope.payloadType, PAYLOAD_TYPES.manifest);
  const ctx = { now: Date.parse('2025-06-01T12:00:00.000Z'), limits: keyset.limits, fleet: 'edge', track: 'stable', floorSeq: 2 };
  t.equal(checkManifestAcceptable(payload, ctx), 'newer');
});

t.test('a manifest with one flipped payload byte fails with E_SIG_INVALID', async (t) => {
  const env = signManifest(manifest, [a]);
  const bytes = fromBase64(env.payload) as Uint8Array;
  // Turn "seq":3 into "seq":4: still a valid manifest, so only the signature can catch it.
  const at = new TextDecoder().decode(bytes).indexOf('"seq":3') + 6;
  bytes[at] = (bytes[at] as number) ^ 0x07;
  t.throws(() => verifyManifest({ ...env, payload: toBase64(bytes) }, keyset), { code: 'E_SIG_INVALID' });
});

t.test('signatures are checked before the payload is parsed', async (t) => {
  const env = signEnvelope(PAYLOAD_TYPES.manifest, enc('not json at all'), [signer(9)]);
  t.throws(() => verifyManifest(env, keyset), { code: 'E_UNKNOWN_KEY' });
});

t.test('correctly signed but non-canonical manifest bytes fail with E_MANIFEST_PARSE', async (t) => {
  const dup = canonicalize(manifest).replace('"seq":3', '"seq":3,"seq":9');
  t.throws(() => verifyManifest(signEnvelope(PAYLOAD_TYPES.manifest, enc(dup), [a]), keyset), { code: 'E_MANIFEST_PARSE' });
  const unsafe = canonicalize(manifest).replace('"seq":3', '"seq":9007199254740993');
  t.throws(() => verifyManifest(signEnvelope(PAYLOAD_TYPES.manifest, enc(unsafe), [a]), keyset), { code: 'E_MANIFEST_PARSE' });
});

t.test('a correctly signed payload of the wrong schema fails with E_MANIFEST_SCHEMA', async (t) => {
  const wrong = canonicalize({ ...manifest, schema: 'upshift.manifest/v9' });
  t.throws(() => verifyManifest(signEnvelope(PAYLOAD_TYPES.manifest, enc(wrong), [a]), keyset), { code: 'E_MANIFEST_SCHEMA', message: /schema/ });
});

t.test('a signed heartbeat cannot pass as a manifest', async (t) => {
  const env = signEnvelope(PAYLOAD_TYPES.heartbeat, enc(canonicalize(manifest)), [a]);
  t.throws(() => verifyManifest(env, keyset), { code: 'E_PAYLOAD_TYPE' });
});

t.test('signManifest refuses an invalid manifest with E_MANIFEST_SCHEMA', async (t) => {
  t.throws(() => signManifest({ ...manifest, seq: -1 }, [a]), { code: 'E_MANIFEST_SCHEMA', message: /seq/ });
});
