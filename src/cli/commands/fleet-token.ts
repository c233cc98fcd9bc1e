// `upshift fleet token|revoke|certs` on the authority: make one-time join tokens, revoke a
// node's certificate, list the certificates issued. `fleet ls|health` join the same group.
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { parseDuration } from '../../core/duration.js';
import { UpshiftError } from '../../core/errors.js';
import type { CertRecord } from '../../adapters/sqlite/identity-tables.js';
import { DEFAULT_TOKEN_TTL_MS, hashToken, MAX_TOKEN_TTL_MS, newJoinToken } from '../../trust/join-token.js';
import { labelsSchema, nodeIdSchema } from '../../trust/node-cert.js';
import { publishRevocations } from '../../runtime/revocations.js';
import { loadSigners } from '../../trust/keyfile.js';
import { certFingerprint, selfUrl } from '../../http/exposure.js';
import { action, printJson, say, type Session } from '../shared.js';

/** `region=eu,rack=r1` → { region: 'eu', rack: 'r1' }; E_USAGE for anything else. */
export function parseLabelsArg(text: string): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const part of text.split(',').map((p) => p.trim()).filter(Boolean)) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new UpshiftError('E_USAGE', `--labels expects k=v pairs separated by commas, got "${part}"`);
    const key = part.slice(0, eq);
    if (key in labels) throw new UpshiftError('E_USAGE', `--labels names "${key}" twice`);
    labels[key] = part.slice(eq + 1);
  }
  const parsed = labelsSchema.safeParse(labels);
  if (!parsed.success) throw new UpshiftError('E_USAGE', `--labels: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(labels)'}: ${i.message}`).join('; ')}`);
  return parsed.data;
}

function parseTtl(text: string): number {
  const ms = parseDuration(text);
  if (ms < 1000 || ms > MAX_TOKEN_TTL_MS) throw new UpshiftError('E_USAGE', `--ttl must be between 1s and ${MAX_TOKEN_TTL_MS / 86_400_000}d, got "${text}"`);
  return ms;
}

function requireAuthority(session: Session) {
  const loaded = session.config();
  if (!loaded.config.authority) {
    throw new UpshiftError('E_CONFIG', `${loaded.path} has no \`authority:\` section: only the authority issues tokens and certificates`);
  }
  return loaded;
}

type CertStatus = 'valid' | 'expired' | 'revoked' | 'superseded';

function certStatus(c: CertRecord, now: number): CertStatus {
  if (c.revokedAt !== null) return c.revokeReason?.startsWith('superseded') ? 'superseded' : 'revoked';
  return c.expiresAt <= now ? 'expired' : 'valid';
}

/** The SHA-256 of the authority's TLS certificate, for `join` to pin; null without http.tls. */
function authorityFingerprint(certPath: string | undefined): string | null {
  if (!certPath) return null;
  try {
    return certFingerprint(readFileSync(certPath));
  } catch (err) {
    throw new UpshiftError('E_CONFIG', `http.tls.cert: cannot read a PEM certificate from ${certPath}: ${(err as Error).message}`, { cause: err });
  }
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** Add token, revoke and certs to an existing `fleet` command group. */
export function registerFleetIdentity(fleet: Command, session: Session): void {
  fleet
    .command('token')
    .description('make a one-time join token for a new node (authority only; printed once, stored hashed)')
    .option('--labels <k=v,...>', 'labels the node gets; they override what the node asks for')
    .option('--ttl <duration>', 'how long the token can be used (default 1h, at most 7d)')
    .option('--node <id>', 'only this node id may use the token')
    .option('--json', 'print JSON')
    .action(
      action(session, async (opts: { labels?: string; ttl?: string; node?: string; json?: boolean }) => {
        const { config } = requireAuthority(session);
        const labels = opts.labels ? parseLabelsArg(opts.labels) : {};
        const ttl = opts.ttl ? parseTtl(opts.ttl) : DEFAULT_TOKEN_TTL_MS;
        if (opts.node !== undefined && !nodeIdSchema.safeParse(opts.node).success) {
          throw new UpshiftError('E_USAGE', `--node "${opts.node}" is not a node id (lowercase letters, digits, "-" or "_")`);
        }
        // read before the token exists: a token nobody was shown is no use
        const fingerprint = authorityFingerprint(config.http.tls?.cert);
        const store = session.store();
        const token = newJoinToken();
        const now = Date.now();
        const nodeId = opts.node ?? null;
        store.tx(() => {
          store.identity.addToken({ tokenHash: hashToken(token), labels, nodeId, createdAt: now, expiresAt: now + ttl });
          // the audit trail names the token by a prefix of its hash, never by the token
          store.appendEvent({ at: now, runId: null, stage: null, kind: 'identity.token_created', actor: 'cli', data: { token_sha256_prefix: hashToken(token).slice(0, 12), labels, node_id: nodeId, expires_at: now + ttl } });
        });
        const authority = selfUrl(config);
        const expiresAt = iso(now + ttl) as string;
        if (opts.json) return void printJson({ ok: true, token, expires_at: expiresAt, labels, node_id: nodeId, authority, authority_fingerprint: fingerprint });
        say(`join token (shown only now; single use; valid until ${expiresAt}):\n  ${token}`);
        if (fingerprint) say(`the authority's TLS certificate: ${fingerprint}`);
        const pin = fingerprint ? ` --authority-fingerprint ${fingerprint}` : '';
        say(`on the new node run:\n  upshift join --authority ${authority}${pin} --token ${token}`);
      }),
    );

  fleet
    .command('revoke')
    .description("revoke a node's certificate: its gossip is refused from now on (authority only)")
    .argument('<node>', 'node id')
    .requiredOption('--reason <text>', 'why, for the audit trail')
    .option('--json', 'print JSON')
    .action(
      action(session, async (node: string, opts: { reason: string; json?: boolean }) => {
        const { config } = requireAuthority(session);
        const reason = opts.reason.trim();
        if (!reason || reason.length > 500) throw new UpshiftError('E_USAGE', '--reason must be 1 to 500 characters');
        // the new revocation list is signed in the same transaction: keys first, so a missing key changes nothing
        const signers = await loadSigners((config.authority as NonNullable<typeof config.authority>).signing_keys);
        const store = session.store();
        const tables = store.identity;
        const now = Date.now();
        const result = store.tx(() => {
          const latest = tables.latestCert(node);
          if (!latest) throw new UpshiftError('E_USAGE', `no certificate was ever issued to node "${node}"; see \`upshift fleet certs\``);
          if (latest.revokedAt !== null) return { serial: latest.serial, already: true, revokedAt: latest.revokedAt, reason: latest.revokeReason ?? '' };
          tables.revoke(node, latest.serial, reason, now);
          const list = publishRevocations(store, signers, config.fleet, now);
          store.appendEvent({ at: now, runId: null, stage: null, kind: 'identity.cert_revoked', actor: 'cli', data: { node_id: node, serial: latest.serial, reason, revocation_list: list.seq } });
          return { serial: latest.serial, already: false, revokedAt: now, reason, list: list.seq };
        });
        const list = 'list' in result ? result.list : null;
        if (opts.json) return void printJson({ ok: true, node_id: node, serial: result.serial, already_revoked: result.already, revoked_at: iso(result.revokedAt), reason: result.reason, revocation_list: list });
        say(result.already
          ? `node ${node} was already revoked at ${iso(result.revokedAt)} (${result.reason})`
          : `revoked node ${node}: certificates up to serial ${result.serial} are no longer accepted; revocation list #${list} signed, the daemon gossips it to every node`);
      }),
    );

  fleet
    .command('certs')
    .description('list the node certificates this authority issued')
    .option('--json', 'print JSON')
    .action(
      action(session, async (opts: { json?: boolean }) => {
        requireAuthority(session);
        const now = Date.now();
        const certs = session.store().identity.certs().map((c) => ({
          serial: c.serial, node_id: c.nodeId, status: certStatus(c, now), public_key: c.publicKey, labels: c.labels,
          issued_at: iso(c.issuedAt), expires_at: iso(c.expiresAt), revoked_at: iso(c.revokedAt), revoke_reason: c.revokeReason,
        }));
        if (opts.json) return void printJson({ ok: true, certs });
        if (certs.length === 0) return void say('no certificates issued yet; make a join token with `upshift fleet token`');
        for (const c of certs) {
          const labels = Object.entries(c.labels).map(([k, v]) => `${k}=${v}`).join(',') || '-';
          say(`#${c.serial}  ${c.node_id}  ${c.status}${c.revoke_reason ? ` (${c.revoke_reason})` : ''}  until ${c.expires_at}  ${labels}  ${c.public_key.slice(0, 16)}…`);
        }
      }),
    );
}

/** Create the `fleet` group with the identity commands; returns it for `fleet ls|health`. */
export function registerFleetToken(program: Command, session: Session): Command {
  const fleet = program.command('fleet').description('the fleet: join tokens, node certificates, members');
  registerFleetIdentity(fleet, session);
  return fleet;
}
