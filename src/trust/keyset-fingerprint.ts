// The fingerprint of a fleet's trust section: what `upshift fleet token` prints and `join
// --trust` pins, so a new node takes the release keys from the authority without anyone
// copying hex keys, and refuses a keyset (or looser limits) that is not the one printed.
import { createHash } from 'node:crypto';
import { canonicalBytes } from '../core/canonical-json.js';
import { describeKeyset, type Keyset } from './keyset.js';

/** The trust section as it crosses the wire in GET /v1/join (durations in ms). */
export interface TrustDoc {
  keys: Array<{ keyid: string; public: string }>;
  threshold: number;
  max_manifest_ttl: number;
  clock_skew: number;
}

export function trustDoc(keyset: Keyset): TrustDoc {
  const { keys, threshold } = describeKeyset(keyset);
  return { keys, threshold, max_manifest_ttl: keyset.limits.maxTtl, clock_skew: keyset.limits.clockSkew };
}

/**
 * `sha256:HEX` over the canonical JSON of the sorted public keys, the threshold and both
 * limits: everything a node's trust section decides, so none of it can be swapped in transit.
 */
export function trustFingerprint(keyset: Keyset): string {
  const doc = trustDoc(keyset);
  const bytes = canonicalBytes({ ...doc, keys: doc.keys.map((k) => k.public) });
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

export const TRUST_FINGERPRINT = /^sha256:[0-9a-f]{64}$/;
