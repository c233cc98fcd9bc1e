// The fleet's revocation list: every revoked node certificate (node id and the highest
// revoked serial), signed by the release keyset like a certificate, numbered by `seq` so a
// newer list replaces an older one and an older one is refused. It travels by gossip under
// the digest key REVOCATIONS_KEY, so every node, not only the authority, refuses a
// revoked node's messages.
import { z } from 'zod';
import { canonicalBytes, parseStrictJson } from '../core/canonical-json.js';
import { UpshiftError } from '../core/errors.js';
import { schemaError } from '../core/manifest.js';
import { parseEnvelope, serializeEnvelope, signEnvelope, verifyEnvelope, type Envelope } from './envelope.js';
import type { Signer } from './keyfile.js';
import type { Keyset } from './keyset.js';

export const REVOCATIONS_PAYLOAD_TYPE = 'application/vnd.upshift.revocations+json';
export const REVOCATIONS_SCHEMA = 'upshift.revocations/v1';
/** Its digest key: track names start with a letter or digit, so none can collide with it. */
export const REVOCATIONS_KEY = '~revocations';

const isoTime = z.string().refine((s) => Number.isFinite(Date.parse(s)), 'expected an ISO 8601 time');

const listSchema = z.strictObject({
  schema: z.literal(REVOCATIONS_SCHEMA),
  fleet: z.string().min(1),
  seq: z.int().min(1),
  issued_at: isoTime,
  revoked: z.array(z.strictObject({ node_id: z.string().min(1).max(63), serial: z.int().min(1), reason: z.string().max(500), revoked_at: isoTime })).max(100_000),
});

export type RevocationList = z.infer<typeof listSchema>;

export function signRevocations(list: Omit<RevocationList, 'schema'>, signers: readonly Signer[]): string {
  const parsed = listSchema.safeParse({ schema: REVOCATIONS_SCHEMA, ...list });
  if (!parsed.success) throw schemaError(`${REVOCATIONS_SCHEMA} list`, parsed.error);
  return serializeEnvelope(signEnvelope(REVOCATIONS_PAYLOAD_TYPE, canonicalBytes(parsed.data), signers));
}

/** Whether an envelope (JSON text) claims to be a revocation list; says nothing of its validity. */
export function isRevocationEnvelope(text: string): boolean {
  try {
    return (JSON.parse(text) as Partial<Envelope>).payloadType === REVOCATIONS_PAYLOAD_TYPE;
  } catch {
    return false;
  }
}

/** The exact bytes against the keyset (threshold applies), strict canonical parse, schema, fleet. */
export function verifyRevocations(text: string, keyset: Keyset, fleet: string): RevocationList {
  const bytes = verifyEnvelope(parseEnvelope(text), keyset, REVOCATIONS_PAYLOAD_TYPE);
  const parsed = listSchema.safeParse(parseStrictJson(bytes));
  if (!parsed.success) throw schemaError(`${REVOCATIONS_SCHEMA} list`, parsed.error);
  if (parsed.data.fleet !== fleet) throw new UpshiftError('E_WRONG_FLEET', `revocation list #${parsed.data.seq} is for fleet "${parsed.data.fleet}", not "${fleet}"`);
  return parsed.data;
}
