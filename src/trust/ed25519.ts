// Ed25519 through @noble/ed25519, always in strict (RFC 8032) mode. noble's default is
// ZIP-215, which accepts non-canonical encodings and lets a small-order public key
// "verify" forged signatures for any message; a release manifest must never do either.
// Gossip signs and verifies several messages a second on every node, and noble's pure-JS
// arithmetic was most of an idle daemon's CPU, so the hot paths run in node:crypto
// (OpenSSL): signing is deterministic (the same bytes), and verifying is handed to OpenSSL
// only for a key that passed checkPublicKey (canonical, prime order) when it was trusted
// (trustCheckedKey) and a signature whose S is below the group order; every other case,
// wire bytes included, stays with noble, strict.
import { createHash, createPrivateKey, createPublicKey, sign as nodeSign, verify as nodeVerify, type KeyObject } from 'node:crypto';
import * as ed from '@noble/ed25519';
import { UpshiftError } from '../core/errors.js';
import { bytesEqual } from './bytes.js';

// noble v3 ships no synchronous SHA-512; wiring node:crypto's makes the sync API usable.
ed.hashes.sha512 = (message: Uint8Array) => new Uint8Array(createHash('sha512').update(message).digest());

const STRICT = { zip215: false } as const;

export const SEED_LENGTH = 32;
export const PUBLIC_KEY_LENGTH = 32;
export const SIGNATURE_LENGTH = 64;

/**
 * Through OpenSSL, not noble: noble's first base-point multiplication builds a table of
 * 4,224 points (~1 MB of BigInts) that a daemon would keep for good just to load its key.
 */
export function publicKeyFromSeed(seed: Uint8Array): Uint8Array {
  if (seed.length !== SEED_LENGTH) throw new Error(`an Ed25519 seed is ${SEED_LENGTH} bytes`);
  const key = createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
  const spki = createPublicKey(key).export({ format: 'der', type: 'spki' });
  return new Uint8Array(spki.subarray(SPKI_PREFIX.length));
}

export function signBytes(message: Uint8Array, seed: Uint8Array): Uint8Array {
  return seedSigner(seed)(message);
}

// DER prefixes that wrap a raw 32-byte Ed25519 seed (PKCS#8) and public key (SPKI).
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

/** A signing function over a seed: the key object is built once, not per message. */
export function seedSigner(seed: Uint8Array): (message: Uint8Array) => Uint8Array {
  if (seed.length !== SEED_LENGTH) throw new Error(`an Ed25519 seed is ${SEED_LENGTH} bytes`);
  const key = createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
  return (message) => new Uint8Array(nodeSign(null, message, key));
}

// Keys that passed checkPublicKey, with a node:crypto key object built once and kept as long
// as the key's bytes are (keysets and cached certificates hold them). OpenSSL verifies about
// 9-14x faster than noble, but it accepts a small-order key's forgeries: only checked keys get here.
const checkedKeys = new WeakMap<Uint8Array, KeyObject>();

// Keys that passed checkPublicKey, by their bytes (hex): the same key loaded again (a keyset
// per status request, a peer's certificate) skips the subgroup check, ~2 ms of noble's
// pure-JS arithmetic. Only passes are kept, the oldest dropped first past the bound.
const passedKeys = new Set<string>();
const MAX_PASSED_KEYS = 4096;

/**
 * Run checkPublicKey once and remember the key for the fast verify path. Call it for keys
 * that will verify many messages (a keyset's keys, a certified node's key), never on bytes
 * that only arrived on the wire. Throws what the check refuses.
 */
export function trustCheckedKey(publicKey: Uint8Array): Uint8Array {
  if (checkedKeys.has(publicKey)) return publicKey;
  const check = checkPublicKey(publicKey);
  if (!check.ok) throw new UpshiftError(check.code, `public key ${Buffer.from(publicKey).toString('hex')} is refused: ${check.reason}`);
  const der = Buffer.concat([SPKI_PREFIX, publicKey]);
  checkedKeys.set(publicKey, createPublicKey({ key: der, format: 'der', type: 'spki' }));
  return publicKey;
}

/** Strict verification. Malformed input is a failed verification, never an exception. */
export function verifySignature(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean {
  if (signature.length !== SIGNATURE_LENGTH || publicKey.length !== PUBLIC_KEY_LENGTH) return false;
  try {
    const keyObject = checkedKeys.get(publicKey);
    if (keyObject && scalarBelowOrder(signature.subarray(32))) return nodeVerify(null, message, keyObject, signature);
    return ed.verify(signature, message, publicKey, STRICT);
  } catch {
    return false;
  }
}

/** The group order L, little-endian bytes compared from the top. */
const ORDER = 2n ** 252n + 27742317777372353535851937790883648493n;

function scalarBelowOrder(s: Uint8Array): boolean {
  let n = 0n;
  for (let i = s.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(s[i] as number);
  return n < ORDER;
}

/** Strict decode that also demands the encoding be the point's one canonical form. */
function decodePoint(publicKey: Uint8Array): ed.Point | null {
  if (publicKey.length !== PUBLIC_KEY_LENGTH) return null;
  try {
    const point = ed.Point.fromBytes(publicKey, false);
    return bytesEqual(point.toBytes(), publicKey) ? point : null;
  } catch {
    return null;
  }
}

/** True for a canonically encoded point of order 1, 2, 4 or 8. Undecodable keys are not small-order; see checkPublicKey. */
export function isSmallOrderKey(publicKey: Uint8Array): boolean {
  const point = decodePoint(publicKey);
  return point !== null && point.isSmallOrder();
}

export type PublicKeyCheck =
  | { ok: true }
  | { ok: false; code: 'E_SMALL_ORDER_KEY' | 'E_KEY_INVALID'; reason: string };

/**
 * Whether a public key may be trusted at all. Besides small-order keys this refuses
 * mixed-order keys (a real key plus a torsion component): cofactored verification
 * cannot tell them from the real key, so one signer could pose as two "distinct" keys.
 */
export function checkPublicKey(publicKey: Uint8Array): PublicKeyCheck {
  const hex = Buffer.from(publicKey).toString('hex');
  if (passedKeys.has(hex)) return { ok: true };
  const point = decodePoint(publicKey);
  if (point === null) {
    return { ok: false, code: 'E_KEY_INVALID', reason: 'not a canonically encoded Ed25519 point' };
  }
  if (point.isSmallOrder()) {
    return { ok: false, code: 'E_SMALL_ORDER_KEY', reason: 'a small-order point, which would accept forged signatures' };
  }
  if (!point.isTorsionFree()) {
    return { ok: false, code: 'E_KEY_INVALID', reason: 'not in the prime-order subgroup (has a torsion component)' };
  }
  if (passedKeys.size >= MAX_PASSED_KEYS) passedKeys.delete(passedKeys.values().next().value as string);
  passedKeys.add(hex);
  return { ok: true };
}

/** 'ed25519:' + the first 16 hex characters of sha256(public key). */
export function keyIdOf(publicKey: Uint8Array): string {
  return `ed25519:${createHash('sha256').update(publicKey).digest('hex').slice(0, 16)}`;
}
