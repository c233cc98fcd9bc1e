// The two verifiers side by side: node:crypto (OpenSSL, reached through trustCheckedKey's
// cached KeyObject) and @noble/ed25519 in strict mode ({ zip215: false }). The fast path is
// only sound if, on every key the key check lets through, both say the same thing; keys the
// check refuses must never reach a verify at all.
import t, { type Test } from 'tap';
import { createPublicKey, randomBytes, verify as nodeVerify } from 'node:crypto';
import * as ed from '@noble/ed25519';
import { isUpshiftError } from '../../src/core/errors.js';
import { fromHex } from '../../src/trust/bytes.js';
import { checkPublicKey, publicKeyFromSeed, signBytes, trustCheckedKey, verifySignature } from '../../src/trust/ed25519.js';

const hex = (h: string): Uint8Array => fromHex(h) as Uint8Array;
const STRICT = { zip215: false } as const;
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

// "Taming the many EdDSAs" (Chalkias, Garillot, Nikolaenko; SSR 2020): the edge cases of
// novifinancial/ed25519-speccheck, file cases.json at commit d2b2ba588feb81f64c30f7094c05803b5e7d0066
// (cases 0-14: small-order R and A, mixed-order keys, non-canonical R and A, S ≥ L).
const SPECCHECK: Array<{ message: string; pub_key: string; signature: string }> = [
  { message: '2a66241a42a9ee12994d8068dcf1bb7dfc6637b45450acd43711f637fa5080fc', pub_key: 'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa', signature: 'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a0000000000000000000000000000000000000000000000000000000000000000' },
  { message: '8c93255d71dcab10e8f379c26200f3c7bd5f09d9bc3068d3ef4edeb4853022b6', pub_key: 'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa', signature: 'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a0000000000000000000000000000000000000000000000000000000000000000' },
  { message: '9bedc267423725d473888631ebf45988bad3db83851ee85c85e241a07d148b41', pub_key: 'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa', signature: 'f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43a5bb704786be79fc476f91d3f3f89b03984d8068dcf1bb7dfc6637b45450ac04' },
  { message: '9bd9f44f4dcc75bd531b56b2cd280b0bb38fc1cd6d1230e14861d861de092e79', pub_key: 'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa', signature: 'f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43a5bb704786be79fc476f91d3f3f89b03984d8068dcf1bb7dfc6637b45450ac04' },
  { message: '9bedc267423725d473888631ebf45988bad3db83851ee85c85e241a07d148b41', pub_key: 'f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43', signature: 'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa182ef1a5b928da07fec769cc8a12db6bcf70dab3f3227fa315e9d5e3e01a3405' },
  { message: 'aebf3f2601a0c8c5d39cc7d8911642f740b78168218da8471772b35f9d35b9ab', pub_key: 'f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43', signature: 'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa8c4bd45aecaca5b24fb97bc10ac27ac8751a7dfe1baff8b953ec9f5833ca260e' },
  { message: '9bd9f44f4dcc75bd531b56b2cd280b0bb38fc1cd6d1230e14861d861de092e79', pub_key: 'cdb267ce40c5cd45306fa5d2f29731459387dbf9eb933b7bd5aed9a765b88d4d', signature: '9046a64750444938de19f227bb80485e92b83fdb4b6506c160484c016cc1852f87909e14428a7a1d62e9f22f3d3ad7802db02eb2e688b6c52fcd6648a98bd009' },
  { message: 'e47d62c63f830dc7a6851a0b1f33ae4bb2f507fb6cffec4011eaccd55b53f56c', pub_key: 'cdb267ce40c5cd45306fa5d2f29731459387dbf9eb933b7bd5aed9a765b88d4d', signature: '160a1cb0dc9c0258cd0a7d23e94d8fa878bcb1925f2c64246b2dee1796bed5125ec6bc982a269b723e0668e540911a9a6a58921d6925e434ab10aa7940551a09' },
  { message: 'e47d62c63f830dc7a6851a0b1f33ae4bb2f507fb6cffec4011eaccd55b53f56c', pub_key: 'cdb267ce40c5cd45306fa5d2f29731459387dbf9eb933b7bd5aed9a765b88d4d', signature: '21122a84e0b5fca4052f5b1235c80a537878b38f3142356b2c2384ebad4668b7e40bc836dac0f71076f9abe3a53f9c03c1ceeeddb658d0030494ace586687405' },
  { message: '85e241a07d148b41e47d62c63f830dc7a6851a0b1f33ae4bb2f507fb6cffec40', pub_key: '442aad9f089ad9e14647b1ef9099a1ff4798d78589e66f28eca69c11f582a623', signature: 'e96f66be976d82e60150baecff9906684aebb1ef181f67a7189ac78ea23b6c0e547f7690a0e2ddcd04d87dbc3490dc19b3b3052f7ff0538cb68afb369ba3a514' },
  { message: '85e241a07d148b41e47d62c63f830dc7a6851a0b1f33ae4bb2f507fb6cffec40', pub_key: '442aad9f089ad9e14647b1ef9099a1ff4798d78589e66f28eca69c11f582a623', signature: '8ce5b96c8f26d0ab6c47958c9e68b937104cd36e13c33566acd2fe8d38aa19427e71f98a473474f2f13f06f97c20d58cc3f54b8bd0d272f42b695dd7e89a8c22' },
  { message: '9bedc267423725d473888631ebf45988bad3db83851ee85c85e241a07d148b41', pub_key: 'f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43', signature: 'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff03be9678ac102edcd92b0210bb34d7428d12ffc5df5f37e359941266a4e35f0f' },
  { message: '9bedc267423725d473888631ebf45988bad3db83851ee85c85e241a07d148b41', pub_key: 'f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43', signature: 'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffca8c5b64cd208982aa38d4936621a4775aa233aa0505711d8fdcfdaa943d4908' },
  { message: 'e96b7021eb39c1a163b6da4e3093dcd3f21387da4cc4572be588fafae23c155b', pub_key: 'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff', signature: 'a9d55260f765261eb9b84e106f665e00b867287a761990d7135963ee0a7d59dca5bb704786be79fc476f91d3f3f89b03984d8068dcf1bb7dfc6637b45450ac04' },
  { message: '39a591f5321bbe07fd5a23dc2f39d025d74526615746727ceefd6e82ae65c06f', pub_key: 'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff', signature: 'a9d55260f765261eb9b84e106f665e00b867287a761990d7135963ee0a7d59dca5bb704786be79fc476f91d3f3f89b03984d8068dcf1bb7dfc6637b45450ac04' },
];

function noble(sig: Uint8Array, msg: Uint8Array, key: Uint8Array): boolean {
  try {
    return ed.verify(sig, msg, key, STRICT);
  } catch {
    return false;
  }
}

/** OpenSSL alone, no S < L pre-check: what node:crypto says by itself on a checked key. */
function openssl(sig: Uint8Array, msg: Uint8Array, key: Uint8Array): boolean {
  try {
    const keyObject = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, key]), format: 'der', type: 'spki' });
    return nodeVerify(null, msg, keyObject, sig);
  } catch {
    return false;
  }
}

interface Tally { checked: number; refused: number; accepted: number }

/**
 * One triple through both doors. A key the check refuses must make trustCheckedKey throw
 * its code (so no KeyObject is ever built for it); a checked key must get the same answer
 * from the fast path, from OpenSSL alone and from strict noble.
 */
function compare(t: Test, sig: Uint8Array, msg: Uint8Array, keyBytes: Uint8Array, tally: Tally, label: string): void {
  const key = Uint8Array.from(keyBytes); // a fresh array: the fast path caches by identity
  const check = checkPublicKey(key);
  if (!check.ok) {
    tally.refused++;
    try {
      trustCheckedKey(key);
      t.fail(`${label}: a key the check refuses was trusted`);
    } catch (err) {
      if (!isUpshiftError(err, check.code)) t.fail(`${label}: refused with ${String(err)} instead of ${check.code}`);
    }
    // unchecked bytes stay on the strict noble path
    if (verifySignature(sig, msg, key) !== noble(sig, msg, key)) t.fail(`${label}: unchecked key verify differs from noble`);
    return;
  }
  tally.checked++;
  trustCheckedKey(key);
  const fast = verifySignature(sig, msg, key);
  const slow = noble(sig, msg, key);
  const raw = openssl(sig, msg, key);
  if (fast) tally.accepted++;
  if (fast !== slow || raw !== slow) t.fail(`${label}: fast ${fast}, openssl ${raw}, noble ${slow}`);
}

t.test('the speccheck edge cases: both verifiers agree on every key that passes the check', async (t) => {
  const tally: Tally = { checked: 0, refused: 0, accepted: 0 };
  SPECCHECK.forEach((c, i) => compare(t, hex(c.signature), hex(c.message), hex(c.pub_key), tally, `case ${i}`));
  // Cases 0-3 have a small-order key, 4-8 and 11-12 a mixed-order one, 13-14 a non-canonical
  // one: all refused at the check. Only 9 and 10 (non-canonical R) reach a verifier; both refuse.
  t.same(tally, { checked: 2, refused: 13, accepted: 0 });
  // Strict noble alone accepts 4-8 (cofactorless equation, mixed-order A): the key check is what keeps them out.
  const nobleAlone = SPECCHECK.map((c) => noble(hex(c.signature), hex(c.message), hex(c.pub_key)));
  t.same(nobleAlone.flatMap((ok, i) => (ok ? [i] : [])), [4, 5, 6, 7, 8]);
});

t.test('thousands of random corruptions: both verifiers agree, refused keys never reach a verify', async (t) => {
  const tally: Tally = { checked: 0, refused: 0, accepted: 0 };
  const keys = Array.from({ length: 16 }, () => {
    const seed = randomBytes(32);
    return { seed, pub: publicKeyFromSeed(seed) };
  });
  const flip = (bytes: Uint8Array, bit: number): Uint8Array => {
    const out = Uint8Array.from(bytes);
    out[bit >> 3] = (out[bit >> 3] as number) ^ (1 << (bit & 7));
    return out;
  };
  const rounds = 1200; // ~1,500 comparisons, every kind of corruption 300 times
  for (let i = 0; i < rounds; i++) {
    const k = keys[i % keys.length] as (typeof keys)[number];
    const msg = randomBytes(1 + (i % 200));
    const sig = signBytes(msg, k.seed);
    const where = i % 4;
    if (where === 0) {
      compare(t, flip(sig, (i * 7919) % 512), msg, k.pub, tally, `round ${i} signature flip`);
    } else if (where === 1) {
      compare(t, sig, msg, flip(k.pub, (i * 104729) % 256), tally, `round ${i} key flip`);
    } else if (where === 2) {
      compare(t, sig, flip(msg, (i * 31) % (msg.length * 8)), k.pub, tally, `round ${i} message flip`);
    } else {
      // the honest triple, and one whose S is pushed past the group order (S + L)
      compare(t, sig, msg, k.pub, tally, `round ${i} honest`);
      compare(t, withSPlusOrder(sig), msg, k.pub, tally, `round ${i} S + L`);
    }
  }
  t.ok(tally.accepted >= rounds / 4, `the honest signatures verify (${tally.accepted})`);
  // every round is compared or refused at the key check, and an honest round is compared twice (S + L)
  t.ok(tally.refused > 0 && tally.checked + tally.refused === rounds + rounds / 4, `${tally.checked} compared, ${tally.refused} refused at the check`);
});

/** S + L, still 32 bytes when S is small enough: the malleable twin strict verifiers refuse. */
function withSPlusOrder(sig: Uint8Array): Uint8Array {
  const L = 2n ** 252n + 27742317777372353535851937790883648493n;
  let s = 0n;
  for (let i = 63; i >= 32; i--) s = (s << 8n) | BigInt(sig[i] as number);
  let v = s + L;
  if (v >= 2n ** 256n) v = s; // does not fit: leave it honest
  const out = Uint8Array.from(sig);
  for (let i = 32; i < 64; i++) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}
