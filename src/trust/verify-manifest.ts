// The two halves of the release manifest's trust path, in SPEC order: verify the
// envelope's exact bytes against the keyset, and only then parse them.
import { decodeManifest, encodeManifest, PAYLOAD_TYPES, type ManifestPayload } from '../core/manifest.js';
import { parseEnvelope, signEnvelope, verifyEnvelope, type Envelope } from './envelope.js';
import type { Signer } from './keyfile.js';
import type { Keyset } from './keyset.js';

export interface VerifiedManifest {
  payload: ManifestPayload;
  envelope: Envelope;
}

/**
 * Verify a signed manifest (envelope JSON bytes or text, or an already parsed envelope).
 * Throws the envelope's trust errors, then E_MANIFEST_PARSE / E_MANIFEST_SCHEMA.
 * Freshness, fleet, track and floor are checked separately by checkManifestAcceptable.
 */
export function verifyManifest(input: Uint8Array | string | Envelope, keyset: Keyset): VerifiedManifest {
  const envelope = typeof input === 'string' || input instanceof Uint8Array ? parseEnvelope(input) : input;
  const bytes = verifyEnvelope(envelope, keyset, PAYLOAD_TYPES.manifest);
  return { payload: decodeManifest(bytes), envelope };
}

/** Schema-check a manifest, encode it canonically and sign it under the manifest payload type. */
export function signManifest(payload: ManifestPayload, signers: readonly Signer[]): Envelope {
  return signEnvelope(PAYLOAD_TYPES.manifest, encodeManifest(payload), signers);
}
