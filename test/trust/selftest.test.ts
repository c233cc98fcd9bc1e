import t from 'tap';
import { randomBytes } from 'node:crypto';
import { toHex } from '../../src/trust/bytes.js';
import { signerFromSeed, type Signer } from '../../src/trust/keyfile.js';
import { loadKeyset } from '../../src/trust/keyset.js';
import { signVerifySelfTest } from '../../src/trust/selftest.js';

const signer = (n: number) => signerFromSeed(new Uint8Array(32).fill(n));
const [a, b, stranger] = [signer(1), signer(2), signer(3)];
const keysetOf = (threshold: number, ...ss: Signer[]) => loadKeyset({ keys: ss.map((s) => ({ public: toHex(s.publicKey) })), threshold });
const random = (n: number): Uint8Array => new Uint8Array(randomBytes(n));

t.test('the self-test passes when the signers meet the keyset threshold', async (t) => {
  const r = signVerifySelfTest([a, b], keysetOf(2, a, b), random);
  t.match(r, { ok: true, reason: /threshold 2 met/ });
  t.same(r.keyids.sort(), [a.keyid, b.keyid].sort());
});

t.test('the self-test reports, without throwing, a signer the keyset does not trust', async (t) => {
  const r = signVerifySelfTest([stranger], keysetOf(1, a), random);
  t.match(r, { ok: false, reason: /E_UNKNOWN_KEY.*not in the keyset/, keyids: [] });
});

t.test('the self-test reports a threshold the signers cannot meet', async (t) => {
  t.match(signVerifySelfTest([a], keysetOf(2, a, b), random), { ok: false, reason: /E_THRESHOLD/ });
});

t.test('the self-test reports a signer whose signatures do not match its key id', async (t) => {
  const liar: Signer = { keyid: a.keyid, publicKey: a.publicKey, sign: (m) => stranger.sign(m) };
  t.match(signVerifySelfTest([liar], keysetOf(1, a), random), { ok: false, reason: /E_SIG_INVALID/ });
});

t.test('the self-test signs a fresh challenge each time and survives a failing random source', async (t) => {
  const seen: Uint8Array[] = [];
  const recording = (n: number): Uint8Array => {
    const r = random(n);
    seen.push(r);
    return r;
  };
  signVerifySelfTest([a], keysetOf(1, a), recording);
  signVerifySelfTest([a], keysetOf(1, a), recording);
  t.equal(seen.length, 2);
  t.not(toHex(seen[0]!), toHex(seen[1]!));
  const broken = (): Uint8Array => {
    throw new Error('entropy unavailable');
  };
  t.match(signVerifySelfTest([a], keysetOf(1, a), broken), { ok: false, reason: /entropy unavailable/ });
  t.match(signVerifySelfTest([a], keysetOf(1, a), () => new Uint8Array(3)), { ok: false });
  t.match(signVerifySelfTest([], keysetOf(1, a), random), { ok: false });
});
