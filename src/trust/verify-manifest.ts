// The release manifest's trust path, in SPEC order: verify the envelope's exact bytes
// against the keyset, and only then parse them. This is the one door: what comes out is a
// VerifiedManifest, and everything downstream (gossip, the apply engine, status) takes that
// value and never checks the bytes again (tuf-js: the trusted set is updated from bytes once).
import { createHash } from 'node:crypto';
import { decodeManifest, encodeManifest, PAYLOAD_TYPES, type ManifestPayload } from '../core/manifest.js';
import { parseEnvelope, serializeEnvelope, signEnvelope, verifyEnvelope, type Envelope } from './envelope.js';
import type { Signer } from './keyfile.js';
import type { Keyset } from './keyset.js';

declare const verified: unique symbol;

/** A manifest whose signatures met the keyset's threshold; only verifyManifest makes one. */
export interface VerifiedManifest {
  readonly payload: ManifestPayload;
  readonly envelope: Envelope;
  /** The envelope as JSON text, exactly as it arrived (or serialized, when given parsed). */
  readonly text: string;
  /** sha256 (hex) of `text`: what gossip digests advertise and pulls ask for. */
  readonly hash: string;
  readonly [verified]: true;
}

export function envelopeHash(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/**
 * Verify a signed manifest (envelope JSON bytes or text, or an already parsed envelope).
 * Throws the envelope's trust errors, then E_MANIFEST_PARSE / E_MANIFEST_SCHEMA. Fleet,
 * track, expiry and floor are the acceptance rules' (core/decisions/acceptance.ts).
 */
export function verifyManifest(input: Uint8Array | string | Envelope, keyset: Keyset): VerifiedManifest {
  const envelope = typeof input === 'string' || input instanceof Uint8Array ? parseEnvelope(input) : input;
  const bytes = verifyEnvelope(envelope, keyset, PAYLOAD_TYPES.manifest);
  const text = typeof input === 'string' ? input : input instanceof Uint8Array ? new TextDecoder().decode(input) : serializeEnvelope(input);
  return { payload: decodeManifest(bytes), envelope, text, hash: envelopeHash(text) } as VerifiedManifest;
}

/** Schema-check a manifest, encode it canonically and sign it under the manifest payload type. */
export function signManifest(payload: ManifestPayload, signers: readonly Signer[]): Envelope {
  return signEnvelope(PAYLOAD_TYPES.manifest, encodeManifest(payload), signers);
}
