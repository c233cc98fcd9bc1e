// Node certificates (SPEC "Gossip": each node has its own Ed25519 key and a certificate
// signed by the authority). A certificate is a DSSE envelope over canonical JSON that
// binds a node id, its labels and its address to the node's public key within one fleet, signed by
// the release keyset, so the same threshold that guards releases guards membership.
import { z } from 'zod';
import { canonicalBytes, parseStrictJson } from '../core/canonical-json.js';
import { isUpshiftError, UpshiftError } from '../core/errors.js';
import { labelsSchema } from '../core/labels.js';
import { schemaError } from '../core/manifest.js';
import { MAX_PEER_URL_LENGTH } from '../core/peer-url.js';
import { fromHex } from './bytes.js';
import { checkPublicKey, PUBLIC_KEY_LENGTH } from './ed25519.js';
import { parseEnvelope, signEnvelope, verifyEnvelope, type Envelope } from './envelope.js';
import type { Signer } from './keyfile.js';
import type { Keyset } from './keyset.js';

/** Its own payload type: a node certificate can never pass as a manifest, and no manifest as a certificate. */
export const NODE_CERT_PAYLOAD_TYPE = 'application/vnd.upshift.node-cert+json';
export const NODE_CERT_SCHEMA = 'upshift.node-cert/v1';

/** Clocks on a fleet disagree a little; a certificate a few minutes "from the future" is still good. */
export const CERT_CLOCK_SKEW_MS = 5 * 60_000;

const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const timestamp = z
  .string()
  .regex(ISO_UTC, 'expected an ISO-8601 UTC time like 2025-01-31T12:00:00.000Z')
  .refine((s) => new Date(Date.parse(s)).toISOString() === s, 'not a real calendar time');

/** Same rule as node.id in upshift.yaml. */
export const nodeIdSchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'expected lowercase letters, digits, "-" or "_" (max 63)')
  .describe('the node id from node.id in upshift.yaml');

export const publicKeySchema = z
  .string()
  .regex(/^[0-9a-f]{64}$/, 'expected 64 lowercase hex characters (an Ed25519 public key)')
  .describe("the node's own Ed25519 public key, hex");

/** Labels travel in certificates and heartbeats and steer canary selection; one schema, core/labels.ts. */
export { labelsSchema };

/**
 * The address peers call the node at. Only its form is checked here; whether a node may call
 * it is the caller's gossip policy (core/peer-url.ts), checked when issuing and when calling.
 */
export const nodeUrlSchema = z
  .string()
  .max(MAX_PEER_URL_LENGTH)
  .regex(/^https?:\/\/[^\s/?#@]+(\/[^\s?#]*)?$/, 'expected an http(s) URL with no user name, query or fragment, like http://10.0.0.5:7400')
  .describe('the address peers reach the node at (gossip.advertise)');

export const nodeCertSchema = z
  .strictObject({
    schema: z.literal(NODE_CERT_SCHEMA),
    fleet: z.string().min(1),
    node_id: nodeIdSchema,
    public_key: publicKeySchema,
    labels: labelsSchema,
    /** Absent in certificates issued before addresses were certified; peers then check the advertised one against policy. */
    url: nodeUrlSchema.optional(),
    serial: z.int().min(1).describe('fleet-wide, increasing; revocation names a node and a serial'),
    issued_at: timestamp,
    expires_at: timestamp,
  })
  .refine((c) => Date.parse(c.expires_at) > Date.parse(c.issued_at), { message: 'expires_at must be later than issued_at', path: ['expires_at'] });

export type NodeCert = z.infer<typeof nodeCertSchema>;

export interface CertCheck {
  /** Milliseconds since the epoch, from the caller's clock. */
  now: number;
  fleet: string;
  /** True when this node's certificate with this serial has been revoked (or superseded). */
  revoked?: (nodeId: string, serial: number) => boolean;
}

function validate(value: unknown): NodeCert {
  const result = nodeCertSchema.safeParse(value);
  if (!result.success) throw schemaError(`${NODE_CERT_SCHEMA} certificate`, result.error);
  return result.data;
}

/** Refuse a node key that no signature from it could be trusted for (small-order, mixed-order, malformed). */
export function checkNodeKey(publicKeyHex: string): Uint8Array {
  const key = fromHex(publicKeyHex, PUBLIC_KEY_LENGTH);
  if (!key) throw new UpshiftError('E_KEY_INVALID', `node public key is not ${PUBLIC_KEY_LENGTH} bytes of hex`);
  const check = checkPublicKey(key);
  if (!check.ok) throw new UpshiftError(check.code, `node public key ${publicKeyHex} is refused: ${check.reason}`, { details: { public_key: publicKeyHex } });
  return key;
}

/** Schema-check a certificate, check the node key, and sign its canonical bytes with the authority's signers. */
export function issueCert(cert: Omit<NodeCert, 'schema'>, signers: readonly Signer[]): Envelope {
  const payload = validate({ schema: NODE_CERT_SCHEMA, ...cert });
  checkNodeKey(payload.public_key);
  return signEnvelope(NODE_CERT_PAYLOAD_TYPE, canonicalBytes(payload), signers);
}

function notCertified(message: string, details: Record<string, unknown>, cause?: unknown): UpshiftError {
  return new UpshiftError('E_NOT_CERTIFIED', message, { details, ...(cause === undefined ? {} : { cause }) });
}

/**
 * Verify a node certificate (envelope JSON or a parsed envelope) and return what it says.
 * In order: the exact bytes against the keyset (threshold applies), strict canonical
 * parse and schema, the node key itself, the fleet, revocation, then the validity
 * window. E_REVOKED for a revoked serial; E_NOT_CERTIFIED for everything else, with the
 * underlying code in `details.reason` (E_SIG_INVALID, E_UNKNOWN_KEY, E_EXPIRED, ...).
 */
export function verifyCert(input: Envelope | string | Uint8Array, keyset: Keyset, check: CertCheck): NodeCert {
  let cert: NodeCert;
  try {
    const envelope = typeof input === 'string' || input instanceof Uint8Array ? parseEnvelope(input) : input;
    cert = validate(parseStrictJson(verifyEnvelope(envelope, keyset, NODE_CERT_PAYLOAD_TYPE)));
    checkNodeKey(cert.public_key);
  } catch (err) {
    if (!isUpshiftError(err)) throw err;
    throw notCertified(`node certificate refused: ${err.message}`, { reason: err.code }, err);
  }
  const who = `node ${cert.node_id} (serial ${cert.serial})`;
  if (cert.fleet !== check.fleet) {
    throw notCertified(`certificate of ${who} is for fleet "${cert.fleet}", not "${check.fleet}"`, { reason: 'E_WRONG_FLEET', fleet: cert.fleet });
  }
  if (check.revoked?.(cert.node_id, cert.serial)) {
    throw new UpshiftError('E_REVOKED', `certificate of ${who} has been revoked`, { details: { node_id: cert.node_id, serial: cert.serial } });
  }
  if (!(check.now < Date.parse(cert.expires_at))) {
    throw notCertified(`certificate of ${who} expired at ${cert.expires_at}`, { reason: 'E_EXPIRED', expires_at: cert.expires_at });
  }
  if (Date.parse(cert.issued_at) > check.now + CERT_CLOCK_SKEW_MS) {
    throw notCertified(`certificate of ${who} is issued in the future (${cert.issued_at}); check this node's clock`, { reason: 'E_EXPIRED', issued_at: cert.issued_at });
  }
  return cert;
}

/** Decode a verified certificate's node key. */
export function certPublicKey(cert: NodeCert): Uint8Array {
  return fromHex(cert.public_key, PUBLIC_KEY_LENGTH) as Uint8Array;
}
