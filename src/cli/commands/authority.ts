// `upshift authority status`: the replicas of an authority on PostgreSQL (the leader, its
// epoch, every replica and its last renewal, and whether the primary has synchronous standbys);
// and the door through which the CLI queues every mutating command for the leader.
import type { Command } from 'commander';
import { userInfo, hostname } from 'node:os';
import type { Config } from '../../core/config.js';
import type { QueuedCommand } from '../../adapters/postgres/replicas.js';
import { action, cliActor, printJson, say, type Session } from '../shared.js';

export function registerAuthority(program: Command, session: Session): void {
  const authority = program.command('authority').description('the authority\'s replicas on PostgreSQL');
  authority.command('status').description('the leader, its epoch, the replicas and their last renewal, the synchronous standbys')
    .option('--json', 'print JSON')
    .action(action(session, async (opts: { json?: boolean }) => {
      const { config } = session.config();
      const { readAuthorityInfo } = await import('../../runtime/authority-info.js');
      const info = await readAuthorityInfo(config);
      if (!info) {
        if (opts.json) return printJson({ ok: true, store: config.authority ? 'sqlite' : null });
        return say(config.authority ? 'store: sqlite (one authority; no replicas)' : 'this node has no `authority:` section');
      }
      if (opts.json) return printJson({ ok: true, ...info });
      const l = info.leader;
      say(l ? `leader: ${l.replica}, epoch ${l.epoch}, renewed ${ago(l.renewed_ago_ms)}` : 'leader: none yet');
      say(`replicas (${info.replicas.length}):`);
      for (const r of info.replicas) {
        say(`  ${r.replica.padEnd(28)} ${r.leader ? 'leader  ' : 'follower'} ${r.host}:${r.pid}  renewed ${ago(r.renewed_ago_ms)}`);
      }
      const sync = info.replication.standbys.filter((s) => s.syncState === 'sync' || s.syncState === 'quorum');
      say(sync.length
        ? `synchronous standbys: ${sync.map((s) => `${s.name} (${s.syncState})`).join(', ')}`
        : 'synchronous standbys: NONE: a failover can lose a signed seq (README "Authority replicas on PostgreSQL")');
    }, { store: false }));
}

const ago = (ms: number): string => (ms < 1000 ? `${Math.round(ms)}ms ago` : `${(ms / 1000).toFixed(1)}s ago`);

/**
 * On PostgreSQL replicas, a mutating command from the CLI is queued for the leader: returns
 * the command after waiting up to `waitMs` for the leader to carry it out; null on SQLite
 * (the caller carries it out itself, as ever). When no leader took it in time it is
 * withdrawn and E_LEADER_TIMEOUT thrown: nothing changed.
 */
export async function queueForLeader(config: Config, kind: QueuedCommand['kind'], target: string, reason: string,
  opts: { args?: Record<string, unknown>; waitMs?: number } = {}): Promise<{ command: QueuedCommand; answer: string } | null> {
  if (config.authority?.store.kind !== 'postgres') return null;
  const [{ connectPrimary }, { leaderWaitMs, pgTarget, postgresStore }, { queueCommand, queuedAnswer }, { readLeader }] = await Promise.all([
    import('../../adapters/postgres/connect.js'), import('../../runtime/pg-target.js'),
    import('../../services/command-queue.js'), import('../../adapters/postgres/leader.js'),
  ]);
  const st = postgresStore(config) as NonNullable<ReturnType<typeof postgresStore>>;
  const client = await connectPrimary(pgTarget(st, 'upshift-cli'));
  try {
    const by = cliActor();
    const request = { kind, target, reason, by, ...(opts.args ? { args: opts.args } : {}) };
    const command = await queueCommand(client, config.fleet, `cli:${userInfo().username}@${hostname()}`, request,
      opts.waitMs ?? leaderWaitMs(st), { withdraw: true });
    const leader = await readLeader(client, config.fleet);
    const { reason: answer, error } = queuedAnswer(command, leader?.replica ?? null);
    if (error) throw error;
    return { command, answer };
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Print a queued command's answer the way the command would have answered. */
export function sayQueued(q: { command: QueuedCommand; answer: string }, json: boolean | undefined): void {
  const c = q.command;
  if (json) {
    return printJson({
      ok: true, reason: q.answer, queued: c.doneAt === null, command: c.id, kind: c.kind, target: c.target,
      outcome: c.outcome, done_by: c.doneBy, done_epoch: c.doneEpoch, result: c.result,
    });
  }
  say(q.answer);
}
