// Fleet operations on the authority (join tokens, revocation, certificates) and the fleet
// read side on any node (who is heard, what runs where, what is wrong).
import { readFileSync } from 'node:fs';
import { UpshiftError } from '../core/errors.js';
import { certFingerprint, isLoopbackHost, selfUrl } from '../http/exposure.js';
import { keysetOf } from '../trust/keyset.js';
import { trustFingerprint } from '../trust/keyset-fingerprint.js';
import type { CertRecord } from '../core/records.js';
import { hashToken, MAX_TOKEN_TTL_MS, newJoinToken } from '../trust/join-token.js';
import { labelsSchema, nodeIdSchema } from '../trust/node-cert.js';
import { loadSigners } from '../trust/keyfile.js';
import { revocationSigner } from '../runtime/revocations.js';
import { auditReason, type Outcome, type ServiceContext } from './context.js';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

function requireAuthority(ctx: ServiceContext) {
  const authority = ctx.config.authority;
  if (!authority) throw new UpshiftError('E_CONFIG', 'this config has no `authority:` section: only the authority issues tokens and certificates');
  return authority;
}

export interface TokenIssued {
  token: string;
  expires_at: string;
  labels: Record<string, string>;
  node_id: string | null;
  authority: string;
  /** SHA-256 of the authority's TLS certificate for `join` to pin; null without http.tls. */
  authority_fingerprint: string | null;
  /** The fingerprint of the trust section (`join --trust`): the node takes the keys from the authority and checks them. */
  trust_fingerprint: string;
  /** The command to run on the new node, complete. */
  join_command: string;
  /** Why join_command needs something more (a plain http authority beyond loopback), or null. */
  note: string | null;
}

function authorityFingerprint(certPath: string | undefined): string | null {
  if (!certPath) return null;
  try {
    return certFingerprint(readFileSync(certPath));
  } catch (err) {
    throw new UpshiftError('E_CONFIG', `http.tls.cert: cannot read a PEM certificate from ${certPath}: ${(err as Error).message}`, { cause: err });
  }
}

/** A one-time join token: printed once, stored hashed, named in the audit trail by a hash prefix. */
export async function issueToken(
  ctx: ServiceContext,
  input: { labels: Record<string, string>; ttlMs: number; nodeId: string | null },
): Promise<Outcome<TokenIssued>> {
  requireAuthority(ctx);
  if (input.ttlMs < 1000 || input.ttlMs > MAX_TOKEN_TTL_MS) {
    throw new UpshiftError('E_USAGE', `token ttl must be between 1s and ${MAX_TOKEN_TTL_MS / 86_400_000}d`);
  }
  if (input.nodeId !== null && !nodeIdSchema.safeParse(input.nodeId).success) {
    throw new UpshiftError('E_USAGE', `node "${input.nodeId}" is not a node id (lowercase letters, digits, "-" or "_")`);
  }
  const labels = labelsSchema.safeParse(input.labels);
  if (!labels.success) throw new UpshiftError('E_USAGE', `labels: ${labels.error.issues.map((i) => `${i.path.join('.') || '(labels)'}: ${i.message}`).join('; ')}`);
  // read before the token exists: a token nobody was shown is no use
  const fingerprint = authorityFingerprint(ctx.config.http.tls?.cert);
  const { store } = ctx;
  const token = newJoinToken();
  const now = ctx.clock.now();
  const expiresAt = now + input.ttlMs;
  await store.identity.addToken({ tokenHash: hashToken(token), labels: labels.data, nodeId: input.nodeId, createdAt: now, expiresAt }, {
    actor: ctx.actor,
    data: { token_sha256_prefix: hashToken(token).slice(0, 12), labels: labels.data, node_id: input.nodeId, expires_at: expiresAt },
  });
  const authority = selfUrl(ctx.config);
  const trust = trustFingerprint(keysetOf(ctx.config));
  const join = ['upshift join', `--authority ${authority}`, ...(fingerprint ? [`--authority-fingerprint ${fingerprint}`] : []),
    `--token ${token}`, `--trust ${trust}`, ...(input.nodeId ? [`--node-id ${input.nodeId}`] : [])].join(' ');
  const host = new URL(authority).hostname;
  const note = ['0.0.0.0', '[::]'].includes(host)
    ? `gossip.listen is every interface, which is no address a node can call: set gossip.advertise to the URL nodes reach`
    : authority.startsWith('http:') && !isLoopbackHost(host)
    ? `${authority} is plain http beyond loopback: join refuses to send the token in clear text unless given --insecure; `
      + 'serve the authority over https (http.tls) instead'
    : null;
  return {
    reason: `join token for ${input.nodeId ?? 'any node'}, single use, valid until ${iso(expiresAt)}`,
    evidence: {
      token, expires_at: iso(expiresAt) as string, labels: labels.data, node_id: input.nodeId, authority, authority_fingerprint: fingerprint,
      trust_fingerprint: trust, join_command: join, note,
    },
  };
}

export interface Revoked {
  node_id: string;
  serial: number;
  already_revoked: boolean;
  revoked_at: string | null;
  reason: string;
  revocation_list: number | null;
}

/** Revoke a node's certificates and sign a new revocation list in the same transaction (keys first). */
export async function revokeNode(ctx: ServiceContext, input: { node: string; reason: string }): Promise<Outcome<Revoked>> {
  const authority = requireAuthority(ctx);
  const reason = auditReason(input.reason);
  const signers = await loadSigners(authority.signing_keys);
  const { store } = ctx;
  const now = ctx.clock.now();
  const r = await store.identity.revokeNode({ nodeId: input.node, reason, at: now, actor: ctx.actor, sign: revocationSigner(signers, ctx.config.fleet, now) });
  if (!r) throw new UpshiftError('E_USAGE', `no certificate was ever issued to node "${input.node}"; see \`upshift fleet certs\``);
  return {
    reason: r.already
      ? `node ${input.node} was already revoked at ${iso(r.revokedAt)} (${r.reason})`
      : `revoked node ${input.node}: certificates up to serial ${r.serial} are no longer accepted; revocation list #${r.list} signed, the daemon gossips it to every node`,
    evidence: { node_id: input.node, serial: r.serial, already_revoked: r.already, revoked_at: iso(r.revokedAt), reason: r.reason, revocation_list: r.list },
  };
}

export type CertStatus = 'valid' | 'expired' | 'revoked' | 'superseded';

function certStatus(c: CertRecord, now: number): CertStatus {
  if (c.revokedAt !== null) return c.revokeReason?.startsWith('superseded') ? 'superseded' : 'revoked';
  return c.expiresAt <= now ? 'expired' : 'valid';
}

export interface CertView {
  serial: number;
  node_id: string;
  status: CertStatus;
  public_key: string;
  labels: Record<string, string>;
  issued_at: string | null;
  expires_at: string | null;
  revoked_at: string | null;
  revoke_reason: string | null;
}

/** Every certificate this authority issued, with its status now. */
export async function listCerts(ctx: ServiceContext): Promise<Outcome<{ certs: CertView[] }>> {
  requireAuthority(ctx);
  const now = ctx.clock.now();
  const certs = (await ctx.store.identity.certs()).map((c) => ({
    serial: c.serial, node_id: c.nodeId, status: certStatus(c, now), public_key: c.publicKey, labels: c.labels,
    issued_at: iso(c.issuedAt), expires_at: iso(c.expiresAt), revoked_at: iso(c.revokedAt), revoke_reason: c.revokeReason,
  }));
  return { reason: certs.length ? `${certs.length} certificate(s)` : 'no certificates issued yet; make a join token with `upshift fleet token`', evidence: { certs } };
}

export { fleetHealth, listFleet, type FleetHealth } from './fleet-read.js';
