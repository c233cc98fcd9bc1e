// DSSE envelopes: `{ payloadType, payload, signatures: [{ keyid, sig }] }` with each
// signature over PAE(payloadType, payload). Verification works on the exact payload
// bytes and hands them back only once enough distinct trusted keys have signed; parsing
// what they say is the caller's next step (SPEC: verify the exact bytes first).
import { z } from 'zod';
import { UpshiftError } from '../core/errors.js';
import { jsonTooDeep, MAX_JSON_DEPTH } from '../core/json-depth.js';
import { pae } from '../core/manifest.js';
import { fromBase64, toBase64 } from './bytes.js';
import { SIGNATURE_LENGTH, verifySignature } from './ed25519.js';
import type { Signer } from './keyfile.js';
import type { Keyset } from './keyset.js';

export const MAX_PAYLOAD_BYTES = 1024 * 1024;
export const MAX_SIGNATURES = 16;
// base64 of the largest payload plus room for signatures; checked before JSON.parse.
const MAX_ENVELOPE_BYTES = Math.ceil(MAX_PAYLOAD_BYTES / 3) * 4 + 64 * 1024;

export interface Envelope {
  payloadType: string;
  /** Standard, padded base64 of the payload bytes. */
  payload: string;
  signatures: Array<{ keyid: string; sig: string }>;
}

const base64 = z.string().refine((s) => fromBase64(s) !== null, 'must be canonical standard base64 (padded, no whitespace)');

const envelopeSchema = z.strictObject({
  payloadType: z.string().min(1).max(256),
  payload: base64.refine((s) => s.length <= Math.ceil(MAX_PAYLOAD_BYTES / 3) * 4, `payload larger than ${MAX_PAYLOAD_BYTES} bytes`),
  signatures: z
    .array(
      z.strictObject({
        keyid: z.string().min(1).max(256),
        sig: base64.refine((s) => fromBase64(s)?.length === SIGNATURE_LENGTH, `an Ed25519 signature is ${SIGNATURE_LENGTH} bytes`),
      }),
    )
    .min(1, 'an envelope needs at least one signature')
    .max(MAX_SIGNATURES, `at most ${MAX_SIGNATURES} signatures`),
});

function checkShape(value: unknown): Envelope {
  const result = envelopeSchema.safeParse(value);
  if (!result.success) {
    const issues = result.error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`);
    throw new UpshiftError('E_MANIFEST_PARSE', `invalid signed envelope: ${issues.join('; ')}`, { details: { issues } });
  }
  const payload = fromBase64(result.data.payload) as Uint8Array;
  if (payload.length > MAX_PAYLOAD_BYTES) {
    throw new UpshiftError('E_MANIFEST_PARSE', `invalid signed envelope: payload is ${payload.length} bytes, over ${MAX_PAYLOAD_BYTES}`);
  }
  return result.data;
}

/** Sign payload bytes under a payload type with every signer, in order. */
export function signEnvelope(payloadType: string, payload: Uint8Array, signers: readonly Signer[]): Envelope {
  if (payload.length > MAX_PAYLOAD_BYTES) {
    throw new UpshiftError('E_USAGE', `payload is ${payload.length} bytes, over ${MAX_PAYLOAD_BYTES}`);
  }
  if (signers.length === 0 || signers.length > MAX_SIGNATURES) {
    throw new UpshiftError('E_USAGE', `an envelope needs 1 to ${MAX_SIGNATURES} signers, got ${signers.length}`);
  }
  const message = pae(payloadType, payload);
  return {
    payloadType,
    payload: toBase64(payload),
    signatures: signers.map((s) => ({ keyid: s.keyid, sig: toBase64(s.sign(message)) })),
  };
}

/** Parse an envelope from JSON bytes or text, strictly: E_MANIFEST_PARSE for anything off. */
export function parseEnvelope(input: Uint8Array | string): Envelope {
  const size = typeof input === 'string' ? Buffer.byteLength(input) : input.length;
  if (size > MAX_ENVELOPE_BYTES) throw new UpshiftError('E_MANIFEST_PARSE', `signed envelope is ${size} bytes, over ${MAX_ENVELOPE_BYTES}`);
  let text: string;
  try {
    text = typeof input === 'string' ? input : new TextDecoder('utf-8', { fatal: true }).decode(input);
  } catch (err) {
    throw new UpshiftError('E_MANIFEST_PARSE', 'signed envelope is not valid UTF-8', { cause: err });
  }
  // an envelope is three levels deep; deeper is junk that JSON.parse would spend time on
  if (jsonTooDeep(text)) throw new UpshiftError('E_MANIFEST_PARSE', `signed envelope is nested deeper than ${MAX_JSON_DEPTH} levels`);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new UpshiftError('E_MANIFEST_PARSE', `signed envelope is not JSON: ${(err as Error).message}`, { cause: err });
  }
  return checkShape(json);
}

/** JSON text of an envelope (stable key order), for files, HTTP bodies and gossip. */
export function serializeEnvelope(env: Envelope): string {
  const e = checkShape(env);
  const signatures = e.signatures.map((s) => ({ keyid: s.keyid, sig: s.sig }));
  return JSON.stringify({ payloadType: e.payloadType, payload: e.payload, signatures });
}

/**
 * Verify an envelope against a keyset and return the exact payload bytes.
 * E_PAYLOAD_TYPE: not the expected type. E_SIG_INVALID: any signature by a known key
 * fails (fail closed, even if others would meet the threshold). E_UNKNOWN_KEY: no
 * signature is by a known key. E_THRESHOLD: fewer distinct valid keys than required.
 * Signatures by unknown keys are ignored, so a rotation can carry the new keys' too.
 */
export function verifyEnvelope(env: Envelope, keyset: Keyset, expectedPayloadType: string): Uint8Array {
  const e = checkShape(env);
  if (e.payloadType !== expectedPayloadType) {
    throw new UpshiftError('E_PAYLOAD_TYPE', `expected a ${expectedPayloadType} envelope, got ${e.payloadType}`, {
      details: { expected: expectedPayloadType, actual: e.payloadType },
    });
  }
  const payload = fromBase64(e.payload) as Uint8Array;
  const message = pae(e.payloadType, payload);
  const valid = new Set<string>();
  const unknown: string[] = [];
  for (const { keyid, sig } of e.signatures) {
    const publicKey = keyset.keys.get(keyid);
    if (!publicKey) {
      unknown.push(keyid);
      continue;
    }
    if (!verifySignature(fromBase64(sig) as Uint8Array, message, publicKey)) {
      throw new UpshiftError('E_SIG_INVALID', `signature by ${keyid} does not verify`, { details: { keyid } });
    }
    // Keyset entries are distinct keys, so counting keyids counts each key once.
    valid.add(keyid);
  }
  if (valid.size === 0) {
    throw new UpshiftError('E_UNKNOWN_KEY', `no signature is by a trusted key (signed by: ${unknown.join(', ')})`, {
      details: { keyids: unknown },
    });
  }
  if (valid.size < keyset.threshold) {
    throw new UpshiftError('E_THRESHOLD', `signed by ${valid.size} trusted key(s), ${keyset.threshold} required`, {
      details: { valid: [...valid], threshold: keyset.threshold },
    });
  }
  return payload;
}

