import t from 'tap';
import * as ed from '@noble/ed25519';
import { fromHex, toHex } from '../../src/trust/bytes.js';
import { checkPublicKey, isSmallOrderKey, keyIdOf, publicKeyFromSeed, signBytes, trustCheckedKey, verifySignature } from '../../src/trust/ed25519.js';

const hex = (h: string): Uint8Array => fromHex(h) as Uint8Array;

// RFC 8032 section 7.1, TEST 1 (empty message).
const RFC_SEED = hex('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60');
const RFC_PUB = hex('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a');
const RFC_SIG = hex(
  'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
);

const IDENTITY = '01' + '00'.repeat(31);
const ORDER_2 = 'ec' + 'ff'.repeat(30) + '7f';
const ORDER_4 = '00'.repeat(32);
const ORDER_8 = 'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a';

t.test('signing and verifying match the RFC 8032 test vector', async (t) => {
  t.equal(toHex(publicKeyFromSeed(RFC_SEED)), toHex(RFC_PUB));
  t.equal(toHex(signBytes(new Uint8Array(), RFC_SEED)), toHex(RFC_SIG));
  t.ok(verifySignature(RFC_SIG, new Uint8Array(), RFC_PUB));
  t.notOk(verifySignature(RFC_SIG, Uint8Array.of(0), RFC_PUB), 'another message fails');
});

t.test('a public key from a seed (OpenSSL) is the one noble derives, and a wrong-sized seed is refused', async (t) => {
  for (let i = 0; i < 20; i++) {
    const seed = ed.utils.randomSecretKey();
    t.equal(toHex(publicKeyFromSeed(seed)), toHex(ed.getPublicKey(seed)));
  }
  t.throws(() => publicKeyFromSeed(new Uint8Array(31)), /32 bytes/);
});

t.test('malformed signatures and keys fail verification instead of throwing', async (t) => {
  t.notOk(verifySignature(RFC_SIG.subarray(0, 63), new Uint8Array(), RFC_PUB));
  t.notOk(verifySignature(RFC_SIG, new Uint8Array(), RFC_PUB.subarray(1)));
  t.notOk(verifySignature(RFC_SIG, new Uint8Array(), hex('ed' + 'ff'.repeat(30) + '7f')));
});

t.test('a forged signature for a small-order key is not accepted (zip215: false matters)', async (t) => {
  // R = identity, S = 0 satisfies [S]B = R + [k]A for A = identity and any message.
  const forged = hex(IDENTITY + '00'.repeat(32));
  const msg = new TextEncoder().encode('release everything');
  t.ok(ed.verify(forged, msg, hex(IDENTITY)), 'noble in its default ZIP-215 mode accepts the forgery');
  t.notOk(verifySignature(forged, msg, hex(IDENTITY)), 'strict verification refuses it');
});

t.test('small-order points are recognized', async (t) => {
  for (const h of [IDENTITY, ORDER_2, ORDER_4, ORDER_8]) {
    t.ok(isSmallOrderKey(hex(h)), h);
    t.match(checkPublicKey(hex(h)), { ok: false, code: 'E_SMALL_ORDER_KEY' }, h);
  }
  t.notOk(isSmallOrderKey(RFC_PUB));
  t.same(checkPublicKey(RFC_PUB), { ok: true });
});

t.test('non-canonical and undecodable encodings are invalid keys', async (t) => {
  const cases = {
    'y = p, a non-canonical zero': 'ed' + 'ff'.repeat(30) + '7f',
    'identity with the sign bit set': '01' + '00'.repeat(30) + '80',
    'y with no matching x': '02' + '00'.repeat(31),
  };
  for (const [name, h] of Object.entries(cases)) {
    t.notOk(isSmallOrderKey(hex(h)), name);
    t.match(checkPublicKey(hex(h)), { ok: false, code: 'E_KEY_INVALID' }, name);
  }
  t.match(checkPublicKey(RFC_PUB.subarray(0, 31)), { ok: false, code: 'E_KEY_INVALID' }, 'a short key');
});

t.test('a real key plus a torsion component is refused', async (t) => {
  const mixed = ed.Point.fromBytes(RFC_PUB).add(ed.Point.fromBytes(hex(ORDER_2))).toBytes();
  t.match(checkPublicKey(mixed), { ok: false, code: 'E_KEY_INVALID', reason: /prime-order/ });
});

t.test('a key id is ed25519: and 16 hex characters of the key sha256', async (t) => {
  t.equal(keyIdOf(RFC_PUB), 'ed25519:21fe31dfa154a261');
  t.match(keyIdOf(hex(ORDER_8)), /^ed25519:[0-9a-f]{16}$/);
});

t.test('a checked key verifies through node:crypto with the same verdicts as strict noble', async (t) => {
  const seed = new Uint8Array(32).fill(7);
  const fresh = () => publicKeyFromSeed(seed);
  const msg = new TextEncoder().encode('manifest');
  const sig = signBytes(msg, seed);
  // S + L: the same signature in a non-canonical form, which strict verification refuses
  const L = 2n ** 252n + 27742317777372353535851937790883648493n;
  let s = 0n;
  for (let i = 31; i >= 0; i--) s = (s << 8n) | BigInt(sig[32 + i] as number);
  const malleated = Uint8Array.from(sig);
  let sl = s + L;
  for (let i = 0; i < 32; i++) { malleated[32 + i] = Number(sl & 0xffn); sl >>= 8n; }
  const cases: Array<[string, Uint8Array, Uint8Array]> = [
    ['valid', sig, msg],
    ['another message', sig, new TextEncoder().encode('manifesto')],
    ['S + L', malleated, msg],
    ['flipped bit in R', Uint8Array.from(sig, (b, i) => (i === 3 ? b ^ 1 : b)), msg],
  ];
  const checked = trustCheckedKey(fresh());
  for (const [name, signature, message] of cases) {
    t.equal(verifySignature(signature, message, checked), verifySignature(signature, message, fresh()), name);
  }
  t.ok(verifySignature(sig, msg, checked));
  t.notOk(verifySignature(malleated, msg, checked));
});

t.test('a small-order key never reaches the node:crypto path', async (t) => {
  t.throws(() => trustCheckedKey(hex(IDENTITY)), { code: 'E_SMALL_ORDER_KEY' });
  const forged = hex(IDENTITY + '00'.repeat(32));
  t.notOk(verifySignature(forged, new TextEncoder().encode('x'), hex(IDENTITY)));
});

t.test('OpenSSL and noble agree: same signatures, same verdicts on good and tampered ones', async (t) => {
  for (let i = 0; i < 20; i++) {
    const seed = ed.utils.randomSecretKey();
    const pub = trustCheckedKey(publicKeyFromSeed(seed));
    const msg = ed.etc.randomBytes(i * 37);
    const sig = signBytes(msg, seed);
    t.equal(toHex(sig), toHex(ed.sign(msg, seed)), 'signing is deterministic: the same bytes as noble');
    t.ok(verifySignature(sig, msg, pub));
    const bad = Uint8Array.from(sig);
    bad[i % 64] = (bad[i % 64] as number) ^ 1;
    t.equal(verifySignature(bad, msg, pub), ed.verify(bad, msg, pub, { zip215: false }), `flipped byte ${i % 64}`);
  }
});

t.test('a signature with S + L (the malleable twin) is refused', async (t) => {
  const L = 2n ** 252n + 27742317777372353535851937790883648493n;
  let s = 0n;
  for (let i = 63; i >= 32; i--) s = (s << 8n) | BigInt(RFC_SIG[i] as number);
  const twin = Uint8Array.from(RFC_SIG);
  let v = s + L;
  for (let i = 32; i < 64; i++) {
    twin[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  for (const key of [RFC_PUB, trustCheckedKey(Uint8Array.from(RFC_PUB))]) {
    t.notOk(verifySignature(twin, new Uint8Array(), key));
    t.ok(verifySignature(RFC_SIG, new Uint8Array(), key), 'the original still verifies');
  }
});

t.test('the same key bytes checked again skip the subgroup arithmetic; a refused key is checked every time', async (t) => {
  let torsionChecks = 0;
  const original = ed.Point.prototype.isTorsionFree;
  ed.Point.prototype.isTorsionFree = function (this: ed.Point) {
    torsionChecks++;
    return original.call(this);
  };
  t.teardown(() => {
    ed.Point.prototype.isTorsionFree = original;
  });
  const seed = new Uint8Array(32).fill(41); // a key no other test here checks
  const pub = publicKeyFromSeed(seed);
  t.same(checkPublicKey(Uint8Array.from(pub)), { ok: true });
  t.same(checkPublicKey(Uint8Array.from(pub)), { ok: true }, 'a copy of the same bytes passes again');
  const copy = trustCheckedKey(Uint8Array.from(pub));
  t.equal(torsionChecks, 1, 'the arithmetic ran once for three checks of the same bytes');
  const sig = signBytes(new TextEncoder().encode('m'), seed);
  t.ok(verifySignature(sig, new TextEncoder().encode('m'), copy), 'a key trusted from a remembered check verifies');

  const mixed = ed.Point.fromBytes(RFC_PUB).add(ed.Point.fromBytes(hex(ORDER_2))).toBytes();
  for (let i = 0; i < 2; i++) t.match(checkPublicKey(Uint8Array.from(mixed)), { ok: false, code: 'E_KEY_INVALID' });
  t.equal(torsionChecks, 3, 'a key that failed is never remembered');
});
