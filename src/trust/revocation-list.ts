// The fleet's revocation list: every revoked node certificate (node id and the highest
// revoked serial), signed by the release keyset like a certificate, numbered by `seq` so a
// newer list replaces an older one and an older one is refused. It travels by gossip under
// the digest key REVOCATIONS_KEY, so every node, not only the authority, refuses a
// revoked node's messages.
import { z } from 'zod';
import { fleetDocument, isoTime } from './fleet-document.js';
import type { Signer } from './keyfile.js';
import type { Keyset } from './keyset.js';

export const REVOCATIONS_PAYLOAD_TYPE = 'application/vnd.upshift.revocations+json';
export const REVOCATIONS_SCHEMA = 'upshift.revocations/v1';
/** Its digest key: track names start with a letter or digit, so none can collide with it. */
export const REVOCATIONS_KEY = '~revocations';


const listSchema = z.strictObject({
  schema: z.literal(REVOCATIONS_SCHEMA),
  fleet: z.string().min(1),
  seq: z.int().min(1),
  issued_at: isoTime,
  revoked: z.array(z.strictObject({ node_id: z.string().min(1).max(63), serial: z.int().min(1), reason: z.string().max(500), revoked_at: isoTime })).max(100_000),
});

export type RevocationList = z.infer<typeof listSchema>;

const doc = fleetDocument({ schema: REVOCATIONS_SCHEMA, payloadType: REVOCATIONS_PAYLOAD_TYPE, noun: 'revocation list', shape: listSchema });

export function signRevocations(list: Omit<RevocationList, 'schema'>, signers: readonly Signer[]): string {
  return doc.sign(list, signers);
}

/** Whether an envelope (JSON text) claims to be a revocation list; says nothing of its validity. */
export function isRevocationEnvelope(text: string): boolean {
  return doc.isEnvelope(text);
}

/** The exact bytes against the keyset (threshold applies), strict canonical parse, schema, fleet. */
export function verifyRevocations(text: string, keyset: Keyset, fleet: string): RevocationList {
  return doc.verify(text, keyset, fleet);
}
