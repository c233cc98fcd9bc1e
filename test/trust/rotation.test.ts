import t from 'tap';
import { canonicalize } from '../../src/core/canonical-json.js';
import { PAYLOAD_TYPES } from '../../src/core/manifest.js';
import { toHex } from '../../src/trust/bytes.js';
import { signEnvelope } from '../../src/trust/envelope.js';
import { signerFromSeed, type Signer } from '../../src/trust/keyfile.js';
import { loadKeyset } from '../../src/trust/keyset.js';
import { keysetDocument, signRotation, verifyRotation, type KeysetDocument } from '../../src/trust/rotation.js';

const signer = (n: number) => signerFromSeed(new Uint8Array(32).fill(n));
const [old1, old2, new1, new2] = [signer(1), signer(2), signer(3), signer(4)];
const keysetOf = (threshold: number, ...ss: Signer[]) => loadKeyset({ keys: ss.map((s) => ({ public: toHex(s.publicKey) })), threshold });

const current = keysetOf(2, old1, old2);
const next: KeysetDocument = keysetDocument(keysetOf(2, new1, new2), 2);

t.test('a rotation signed by both the old and the new threshold installs the new keyset', async (t) => {
  const rotated = verifyRotation(signRotation(next, [old1, old2, new1, new2]), current, 1);
  t.equal(rotated.version, 2);
  t.equal(rotated.keyset.threshold, 2);
  t.same([...rotated.keyset.keys.keys()].sort(), [new1.keyid, new2.keyid].sort());
});

t.test('a rotation missing the old threshold fails with E_THRESHOLD', async (t) => {
  t.throws(() => verifyRotation(signRotation(next, [old1, new1, new2]), current, 1), { code: 'E_THRESHOLD' });
});

t.test('a rotation signed only by the new keys fails with E_UNKNOWN_KEY', async (t) => {
  t.throws(() => verifyRotation(signRotation(next, [new1, new2]), current, 1), { code: 'E_UNKNOWN_KEY' });
});

t.test('a rotation missing the new threshold fails with E_THRESHOLD', async (t) => {
  t.throws(() => verifyRotation(signRotation(next, [old1, old2, new1]), current, 1), { code: 'E_THRESHOLD', message: /new keyset/ });
});

t.test('a rotation the new keys never signed fails with E_UNKNOWN_KEY', async (t) => {
  t.throws(() => verifyRotation(signRotation(next, [old1, old2]), current, 1), { code: 'E_UNKNOWN_KEY', message: /new keyset/ });
});

t.test('a key kept across the rotation signs for both sides', async (t) => {
  const overlap = keysetDocument(keysetOf(1, old2, new1), 5);
  const rotated = verifyRotation(signRotation(overlap, [old1, old2]), current, 4);
  t.equal(rotated.version, 5);
});

t.test('a replayed or same-version rotation fails with E_ROLLBACK', async (t) => {
  const env = signRotation(next, [old1, old2, new1, new2]);
  t.throws(() => verifyRotation(env, current, 2), { code: 'E_ROLLBACK' });
  t.throws(() => verifyRotation(env, current, 7), { code: 'E_ROLLBACK' });
});

t.test('a rotation that skips a keyset version fails with E_KEYSET_GAP', async (t) => {
  const jump = signRotation(keysetDocument(keysetOf(2, new1, new2), 3), [old1, old2, new1, new2]);
  t.throws(() => verifyRotation(jump, current, 1), { code: 'E_KEYSET_GAP', details: { version: 3, current: 1, expected: 2 } });
  t.equal(verifyRotation(jump, current, 2).version, 3, 'the same rotation is taken from the version just below it');
});

t.test('a keyset document cannot be relabelled as a manifest or carry extra fields', async (t) => {
  const asManifest = signEnvelope(PAYLOAD_TYPES.manifest, new TextEncoder().encode(canonicalize(next)), [old1, old2, new1, new2]);
  t.throws(() => verifyRotation(asManifest, current, 1), { code: 'E_PAYLOAD_TYPE' });
  const extra = signEnvelope(PAYLOAD_TYPES.keyset, new TextEncoder().encode(canonicalize({ ...next, expires: 1 })), [old1, old2, new1, new2]);
  t.throws(() => verifyRotation(extra, current, 1), { code: 'E_MANIFEST_SCHEMA' });
});

t.test('a rotation to a small-order key is refused, even when signed', async (t) => {
  const bad = { ...next, threshold: 1, keys: [{ keyid: 'ed25519:0000000000000000', public: '01' + '00'.repeat(31) }] };
  t.throws(() => signRotation(bad, [old1, old2]), { code: 'E_SMALL_ORDER_KEY' });
  const env = signEnvelope(PAYLOAD_TYPES.keyset, new TextEncoder().encode(canonicalize(bad)), [old1, old2]);
  t.throws(() => verifyRotation(env, current, 1), { code: 'E_SMALL_ORDER_KEY' });
});
