// One-time join tokens and the join request a node sends with one. The authority keeps
// only a token's SHA-256, so its database never holds a usable secret. The node proves
// it holds the private key it asks to be certified by signing, with that key, a PAE over
// the token hash, its node id and the public key: a certificate for a key nobody holds,
// or a token replayed with someone else's key, is refused before the token is spent.
import { createHash, randomBytes } from 'node:crypto';
import { z } from 'zod';
import { canonicalBytes } from '../core/canonical-json.js';
import { UpshiftError } from '../core/errors.js';
import { pae } from '../core/manifest.js';
import { fromBase64, toBase64, toHex } from './bytes.js';
import { SIGNATURE_LENGTH, verifySignature } from './ed25519.js';
import type { Signer } from './keyfile.js';
import { checkNodeKey, labelsSchema, nodeIdSchema, nodeUrlSchema, publicKeySchema } from './node-cert.js';

export const JOIN_PROOF_PAYLOAD_TYPE = 'application/vnd.upshift.join-proof+json';
export const JOIN_PROOF_SCHEMA = 'upshift.join-proof/v1';

export const TOKEN_BYTES = 32;
export const DEFAULT_TOKEN_TTL_MS = 60 * 60_000;
/** A join token is a bearer secret: it should not outlive the provisioning it is made for. */
export const MAX_TOKEN_TTL_MS = 7 * 24 * 60 * 60_000;

/** base64url without padding: 32 bytes are always 43 characters. */
export const tokenSchema = z
  .string()
  .regex(/^[A-Za-z0-9_-]{43}$/, 'expected a join token: 43 base64url characters from `upshift fleet token`')
  .describe('the one-time join token printed by `upshift fleet token`');

/**
 * A fresh random token, printed once and never stored. Never one that starts with `-`: on
 * the command line `--token -V…` is read as the option -V (the version printed, exit 0) and
 * `--token -c…` as --config. One in 64 would; drawing again costs under 0.03 bits.
 */
export function newJoinToken(): string {
  for (;;) {
    const token = randomBytes(TOKEN_BYTES).toString('base64url');
    if (!token.startsWith('-')) return token;
  }
}

/**
 * SHA-256 (hex) of the token text. Hashing the text rather than the decoded bytes means a
 * second spelling of the same bytes (base64url's spare low bits) is simply an unknown token.
 */
export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

export const joinRequestSchema = z.strictObject({
  token: tokenSchema,
  node_id: nodeIdSchema,
  public_key: publicKeySchema,
  labels: labelsSchema.optional().describe('labels the node asks for; the token\'s own labels win'),
  url: nodeUrlSchema.optional().describe('the address the node asks to be certified at; covered by the proof'),
  proof: z
    .string()
    .refine((s) => fromBase64(s)?.length === SIGNATURE_LENGTH, `expected a base64 Ed25519 signature (${SIGNATURE_LENGTH} bytes)`)
    .describe('signature by the node key over joinProofMessage(token hash, node id, public key)'),
});

export type JoinRequest = z.infer<typeof joinRequestSchema>;

/** What the proof signature covers; the URL only when the node asks for one, so older proofs still verify. */
export function joinProofMessage(tokenHash: string, nodeId: string, publicKeyHex: string, url?: string): Uint8Array {
  const fields = { schema: JOIN_PROOF_SCHEMA, token_sha256: tokenHash, node_id: nodeId, public_key: publicKeyHex };
  const body = canonicalBytes(url === undefined ? fields : { ...fields, url });
  return pae(JOIN_PROOF_PAYLOAD_TYPE, body);
}

/** The request body a node POSTs to `/v1/join`; `url` is where peers should call it (gossip.advertise). */
export function buildJoinRequest(token: string, nodeId: string, labels: Record<string, string>, signer: Signer, url?: string): JoinRequest {
  const publicKey = toHex(signer.publicKey);
  const proof = toBase64(signer.sign(joinProofMessage(hashToken(token), nodeId, publicKey, url)));
  return { token, node_id: nodeId, public_key: publicKey, labels, ...(url === undefined ? {} : { url }), proof };
}

/** Strictly parse a join request body: E_MALFORMED listing every problem by field. */
export function parseJoinRequest(body: unknown): JoinRequest {
  const result = joinRequestSchema.safeParse(body);
  if (!result.success) {
    const issues = result.error.issues.map((i) => ({ path: i.path.length ? i.path.map(String).join('.') : '(root)', message: i.message }));
    throw new UpshiftError('E_MALFORMED', `invalid join request: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`, { details: { issues } });
  }
  return result.data;
}

/**
 * Check the node key (no small-order or malformed keys) and the proof of possession.
 * E_SMALL_ORDER_KEY / E_KEY_INVALID for the key, E_SIG_INVALID for the proof.
 */
export function verifyJoinProof(req: JoinRequest): void {
  const publicKey = checkNodeKey(req.public_key);
  const message = joinProofMessage(hashToken(req.token), req.node_id, req.public_key, req.url);
  if (!verifySignature(fromBase64(req.proof) as Uint8Array, message, publicKey)) {
    throw new UpshiftError('E_SIG_INVALID', `the join proof does not verify for node ${req.node_id}'s public key: the node must sign with the key it asks to be certified`, {
      details: { node_id: req.node_id },
    });
  }
}
