// The set of keys a node trusts, with the number of distinct keys that must sign.
// Every key is checked once, here, so verification never meets a small-order or
// malformed key (SPEC: small-order keys are refused when the keyset is loaded).
import type { Config } from '../core/config.js';
import { UpshiftError } from '../core/errors.js';
import { DEFAULT_MANIFEST_LIMITS, type ManifestLimits } from '../core/decisions/acceptance.js';
import { fromHex, toHex } from './bytes.js';
import { checkPublicKey, keyIdOf, PUBLIC_KEY_LENGTH, trustCheckedKey } from './ed25519.js';

export interface Keyset {
  /** keyid → public key; one entry per distinct key. */
  keys: Map<string, Uint8Array>;
  threshold: number;
  /** How long a manifest these keys sign may be valid, and the clock skew allowed on its creation. */
  limits: ManifestLimits;
}

export interface KeysetInput {
  keys: Array<{ public: string; keyid?: string }>;
  /** Distinct keys that must sign; default 1. */
  threshold?: number;
  /** ms, as config `trust.max_manifest_ttl` normalizes it; default 90 days. */
  max_manifest_ttl?: number;
  /** ms, as config `trust.clock_skew` normalizes it; default 5 minutes. */
  clock_skew?: number;
}

/**
 * Build a Keyset from configuration: E_KEY_INVALID for a malformed key or a keyid that
 * is not its key's, E_SMALL_ORDER_KEY for a small-order key, E_CONFIG for a threshold
 * that is not an integer from 1 to the number of distinct keys or for a limit that is not
 * a non-negative integer of ms.
 */
export function loadKeyset(input: KeysetInput): Keyset {
  const keys = new Map<string, Uint8Array>();
  input.keys.forEach((entry, i) => {
    const publicKey = fromHex(entry.public, PUBLIC_KEY_LENGTH);
    if (!publicKey) {
      throw new UpshiftError('E_KEY_INVALID', `keys.${i}.public is not a ${PUBLIC_KEY_LENGTH}-byte hex Ed25519 public key`, {
        details: { index: i },
      });
    }
    const check = checkPublicKey(publicKey);
    if (!check.ok) {
      throw new UpshiftError(check.code, `keys.${i}.public (${toHex(publicKey)}) is refused: ${check.reason}`, {
        details: { index: i, public: toHex(publicKey) },
      });
    }
    const keyid = keyIdOf(publicKey);
    if (entry.keyid !== undefined && entry.keyid !== keyid) {
      throw new UpshiftError('E_KEY_INVALID', `keys.${i}.keyid is ${entry.keyid}, but that key's id is ${keyid}`, {
        details: { index: i, keyid: entry.keyid, expected: keyid },
      });
    }
    const known = keys.get(keyid);
    // The same key listed twice is still one key: it must not help reach the threshold.
    if (known && toHex(known) === toHex(publicKey)) return;
    if (known) {
      throw new UpshiftError('E_CONFIG', `keys.${i}: two different keys share the key id ${keyid}`, { details: { index: i, keyid } });
    }
    keys.set(keyid, trustCheckedKey(publicKey));
  });
  if (keys.size === 0) throw new UpshiftError('E_CONFIG', 'a keyset needs at least one public key');
  const threshold = input.threshold ?? 1;
  if (!Number.isSafeInteger(threshold) || threshold < 1 || threshold > keys.size) {
    throw new UpshiftError(
      'E_CONFIG',
      `threshold ${String(threshold)} is not possible with ${keys.size} distinct key(s); use an integer from 1 to ${keys.size}`,
      { details: { threshold, distinct_keys: keys.size } },
    );
  }
  return { keys, threshold, limits: loadLimits(input) };
}

function loadLimits(input: KeysetInput): ManifestLimits {
  const limits = {
    maxTtl: input.max_manifest_ttl ?? DEFAULT_MANIFEST_LIMITS.maxTtl,
    clockSkew: input.clock_skew ?? DEFAULT_MANIFEST_LIMITS.clockSkew,
  };
  for (const [name, ms] of [['max_manifest_ttl', limits.maxTtl], ['clock_skew', limits.clockSkew]] as const) {
    if (!Number.isSafeInteger(ms) || ms < 0) {
      const message = `${name} must be a duration (a non-negative number of ms), got ${String(ms)}`;
      throw new UpshiftError('E_CONFIG', message, { details: { [name]: ms } });
    }
  }
  return limits;
}

/** The keyset as configuration data again (keys sorted by keyid), for display and rotation documents. */
export function describeKeyset(keyset: Keyset): { keys: Array<{ keyid: string; public: string }>; threshold: number } {
  const keys = [...keyset.keys.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([keyid, pub]) => ({ keyid, public: toHex(pub) }));
  return { keys, threshold: keyset.threshold };
}

/** The keyset a config pins (`trust.keys`, `trust.threshold`): the one loader every door uses. */
export function keysetOf(config: Pick<Config, 'trust'>): Keyset {
  return loadKeyset(config.trust);
}
