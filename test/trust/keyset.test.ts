import t from 'tap';
import { toHex } from '../../src/trust/bytes.js';
import { signerFromSeed } from '../../src/trust/keyfile.js';
import { describeKeyset, loadKeyset } from '../../src/trust/keyset.js';

const signer = (n: number) => signerFromSeed(new Uint8Array(32).fill(n));
const a = signer(1);
const b = signer(2);
const pub = (s: { publicKey: Uint8Array }): string => toHex(s.publicKey);

const IDENTITY = '01' + '00'.repeat(31);
const ORDER_8 = 'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a';

t.test('a keyset maps key ids to keys, with a default threshold of 1', async (t) => {
  const ks = loadKeyset({ keys: [{ public: pub(a) }, { public: pub(b), keyid: b.keyid }] });
  t.equal(ks.threshold, 1);
  t.same([...ks.keys.keys()].sort(), [a.keyid, b.keyid].sort());
  t.equal(toHex(ks.keys.get(a.keyid) as Uint8Array), pub(a));
});

t.test('a keyset carries the manifest limits it was configured with, 90 days and 5 minutes by default', async (t) => {
  t.same(loadKeyset({ keys: [{ public: pub(a) }] }).limits, { maxTtl: 90 * 86_400_000, clockSkew: 5 * 60_000 });
  t.same(loadKeyset({ keys: [{ public: pub(a) }], max_manifest_ttl: 1000, clock_skew: 0 }).limits, { maxTtl: 1000, clockSkew: 0 });
  t.throws(() => loadKeyset({ keys: [{ public: pub(a) }], max_manifest_ttl: -1 }), { code: 'E_CONFIG', message: /max_manifest_ttl/ });
  t.throws(() => loadKeyset({ keys: [{ public: pub(a) }], clock_skew: 1.5 }), { code: 'E_CONFIG', message: /clock_skew/ });
});

t.test('the identity point is refused at keyset load with E_SMALL_ORDER_KEY', async (t) => {
  t.throws(() => loadKeyset({ keys: [{ public: pub(a) }, { public: IDENTITY }] }), { code: 'E_SMALL_ORDER_KEY', message: /keys\.1/ });
});

t.test('an order-8 point is refused at keyset load with E_SMALL_ORDER_KEY', async (t) => {
  t.throws(() => loadKeyset({ keys: [{ public: ORDER_8 }] }), { code: 'E_SMALL_ORDER_KEY' });
});

t.test('malformed and non-canonical keys are refused with E_KEY_INVALID', async (t) => {
  for (const bad of ['zz'.repeat(32), pub(a).slice(2), 'ed' + 'ff'.repeat(30) + '7f', `${pub(a)}00`]) {
    t.throws(() => loadKeyset({ keys: [{ public: bad }] }), { code: 'E_KEY_INVALID' }, bad);
  }
});

t.test('a keyid that does not match its key is refused with E_KEY_INVALID', async (t) => {
  t.throws(() => loadKeyset({ keys: [{ public: pub(a), keyid: b.keyid }] }), { code: 'E_KEY_INVALID', message: /keyid/ });
});

t.test('the same public key listed twice counts once', async (t) => {
  const ks = loadKeyset({ keys: [{ public: pub(a) }, { public: pub(a).toUpperCase() }, { public: pub(b) }], threshold: 2 });
  t.equal(ks.keys.size, 2);
  t.throws(() => loadKeyset({ keys: [{ public: pub(a) }, { public: pub(a) }], threshold: 2 }), { code: 'E_CONFIG' });
});

t.test('a threshold outside 1..distinct keys is refused with E_CONFIG', async (t) => {
  for (const threshold of [0, 3, 1.5, -1, Number.NaN]) {
    t.throws(() => loadKeyset({ keys: [{ public: pub(a) }, { public: pub(b) }], threshold }), { code: 'E_CONFIG' }, String(threshold));
  }
  t.throws(() => loadKeyset({ keys: [] }), { code: 'E_CONFIG' }, 'no keys at all');
});

t.test('describeKeyset lists keys sorted by key id', async (t) => {
  const ks = loadKeyset({ keys: [{ public: pub(b) }, { public: pub(a) }], threshold: 2 });
  const d = describeKeyset(ks);
  t.same(d.keys.map((k) => k.keyid), [a.keyid, b.keyid].sort());
  t.equal(d.threshold, 2);
});
