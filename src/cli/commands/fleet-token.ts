// `upshift fleet token|revoke|certs` on the authority: make one-time join tokens, revoke a
// node's certificate, list the certificates issued. `fleet ls|health` join the same group.
import type { Command } from 'commander';
import { parseDuration } from '../../core/duration.js';
import { UpshiftError } from '../../core/errors.js';
import { action, printJson, say, type Session } from '../shared.js';

// the services and schemas below (zod, Ed25519, TLS) are loaded by the action that uses them:
// `fleet ls` registers this group too and must start fast
const services = () => import('../../services/fleet.js');

/** `region=eu,rack=r1` → { region: 'eu', rack: 'r1' }; E_USAGE for anything else. */
export async function parseLabelsArg(text: string): Promise<Record<string, string>> {
  const labels: Record<string, string> = {};
  for (const part of text.split(',').map((p) => p.trim()).filter(Boolean)) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new UpshiftError('E_USAGE', `--labels expects k=v pairs separated by commas, got "${part}"`);
    const key = part.slice(0, eq);
    if (key in labels) throw new UpshiftError('E_USAGE', `--labels names "${key}" twice`);
    labels[key] = part.slice(eq + 1);
  }
  const { labelsSchema } = await import('../../core/labels.js');
  const parsed = labelsSchema.safeParse(labels);
  if (!parsed.success) throw new UpshiftError('E_USAGE', `--labels: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(labels)'}: ${i.message}`).join('; ')}`);
  return parsed.data;
}

async function parseTtl(text: string): Promise<number> {
  const { MAX_TOKEN_TTL_MS } = await import('../../trust/join-token.js');
  const ms = parseDuration(text);
  if (ms < 1000 || ms > MAX_TOKEN_TTL_MS) throw new UpshiftError('E_USAGE', `--ttl must be between 1s and ${MAX_TOKEN_TTL_MS / 86_400_000}d, got "${text}"`);
  return ms;
}

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
        const labels = opts.labels ? await parseLabelsArg(opts.labels) : {};
        const { DEFAULT_TOKEN_TTL_MS } = await import('../../trust/join-token.js');
        const ttlMs = opts.ttl ? await parseTtl(opts.ttl) : DEFAULT_TOKEN_TTL_MS;
        const { issueToken } = await services();
        const r = await issueToken(session.context(), { labels, ttlMs, nodeId: opts.node ?? null });
        const t = r.evidence;
        if (opts.json) return void printJson({ ok: true, ...t });
        say(`join token for ${t.node_id ?? 'any node'} (shown only now; single use; valid until ${t.expires_at})`);
        if (t.authority_fingerprint) say(`the authority's TLS certificate: ${t.authority_fingerprint}`);
        say(`the fleet's release keys: ${t.trust_fingerprint}`);
        if (t.note) say(`note: ${t.note}`);
        say(`on the new node run:\n  ${t.join_command}`);
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
        const { queueForLeader, sayQueued } = await import('./authority.js');
        const queued = await queueForLeader(session.config().config, 'revoke', node, opts.reason);
        if (queued) return sayQueued(queued, opts.json);
        const { revokeNode } = await services();
        const r = await revokeNode(session.context(), { node, reason: opts.reason });
        if (opts.json) return void printJson({ ok: true, ...r.evidence });
        say(r.reason);
      }),
    );

  fleet
    .command('certs')
    .description('list the node certificates this authority issued')
    .option('--json', 'print JSON')
    .action(
      action(session, async (opts: { json?: boolean }) => {
        const { listCerts } = await services();
        const r = await listCerts(session.context());
        if (opts.json) return void printJson({ ok: true, certs: r.evidence.certs });
        if (r.evidence.certs.length === 0) return void say(r.reason);
        for (const c of r.evidence.certs) {
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
