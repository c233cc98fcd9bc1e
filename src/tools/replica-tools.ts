// The agent tools where this process does not lead: a follower replica, or the CLI (`upshift
// tool`, `upshift mcp`, `upshift bench`) on an authority on PostgreSQL. Reads answer as
// anywhere. What the door queues goes to the leader (the caller is told so, with the command's
// number, or waits for its answer): rollback_upgrade on a follower; on the CLI also
// start_upgrade and register_benchmark. Any other tool that changes something (advance,
// capture) is refused with E_NOT_LEADER naming the leader, since only the leader drives runs.
// Null: call the tool as usual (this replica leads, or the tool only reads).
import type { Config } from '../core/config.js';
import { UpshiftError } from '../core/errors.js';
import type { StateStore } from '../core/ports.js';
import { readLeader } from '../adapters/postgres/leader.js';
import type { Queryable } from '../adapters/postgres/session.js';
import type { ToolAnswer } from './index.js';
import { queueCommand, queuedAnswer, type CommandRequest } from '../services/command-queue.js';
import type { Replica } from '../runtime/replica.js';

export interface ToolDoor {
  config: Config;
  store: StateStore;
  pool: Queryable;
  /** Who accepted the call: a replica's name, or `cli:user@host`. */
  self: string;
  /** The mutating tools this door queues for the leader; it refuses the others. */
  queues: ReadonlySet<string>;
  /** How long to wait for the leader's answer (0: answer "queued" at once). A CLI withdraws on timeout. */
  waitMs: number;
  withdraw: boolean;
}

export async function followerTool(
  d: { config: Config; store: StateStore; replica: Replica }, actor: string, name: string, raw: unknown,
): Promise<ToolAnswer | null> {
  if (d.replica.leader) return null;
  const door = { config: d.config, store: d.store, pool: d.replica.session.pool, self: d.replica.name };
  return leaderTool({ ...door, queues: new Set(['rollback_upgrade']), waitMs: 0, withdraw: false }, actor, name, raw);
}

export async function leaderTool(d: ToolDoor, actor: string, name: string, raw: unknown): Promise<ToolAnswer | null> {
  const { findTool } = await import('./index.js');
  let tool: ReturnType<typeof findTool>;
  try {
    tool = findTool(name);
  } catch {
    return null; // callTool answers an unknown tool
  }
  if (tool.annotations.readOnlyHint) return null;
  const args = tool.schema.safeParse(raw ?? {});
  // a dry run only reads
  if (args.success && tool.mutates && !tool.mutates(args.data as Record<string, unknown>)) return null;
  const leader = await readLeader(d.pool, d.config.fleet);
  const refused = (e: UpshiftError): ToolAnswer =>
    ({ ok: false, reason: e.message, error: e.toJSON(), evidence: { leader: leader?.replica ?? null } });
  const who = leader?.replica ?? 'none elected yet';
  const notLeader = () => refused(new UpshiftError('E_NOT_LEADER', `${name} runs on the leader (${who}); ${d.self} does not lead `
    + '(`upshift authority status` names the leader)'));
  if (!d.queues.has(name)) return notLeader();
  if (!args.success) return null; // callTool answers the usage error
  const a = args.data as Record<string, unknown>;
  let request: CommandRequest;
  if (name === 'rollback_upgrade') {
    let run = a.run as string | undefined;
    if (!run) {
      const unfinished = await d.store.unfinishedRuns();
      if (unfinished.length !== 1) {
        return refused(unfinished.length
          ? new UpshiftError('E_USAGE', `${unfinished.length} runs are in progress (${unfinished.map((r) => r.id).join(', ')}); name one`)
          : new UpshiftError('E_RUN_NOT_FOUND', 'nothing to roll back: no run is in progress'));
      }
      run = (unfinished[0] as { id: string }).id;
    }
    await d.store.requireRun(run);
    request = { kind: 'rollback', target: run, reason: a.reason as string, by: actor };
  } else if (name === 'start_upgrade') {
    // no ref: the leader picks the track's newest, as the tool does
    const args = { tool: 'start_upgrade', ...(a.track ? { track: a.track } : {}) };
    request = { kind: 'start', target: typeof a.ref === 'string' ? a.ref : '', args, reason: 'start_upgrade', by: actor };
  } else if (name === 'register_benchmark') {
    const { name: suite, ...rest } = a;
    request = { kind: 'bench_register', target: suite as string, args: rest, reason: 'register_benchmark', by: actor };
  } else {
    return notLeader();
  }
  const cmd = await queueCommand(d.pool, d.config.fleet, d.self, request, d.waitMs, { withdraw: d.withdraw });
  const { reason, error } = queuedAnswer(cmd, leader?.replica ?? null);
  const evidence = {
    queued: cmd.doneAt === null, command: cmd.id, leader: leader?.replica ?? null, outcome: cmd.outcome, result: cmd.result,
  };
  if (error) return { ok: false, reason: error.message, error: error.toJSON(), evidence };
  return { ok: true, reason, evidence: { ...evidence, ...(request.kind === 'rollback' ? { run: request.target } : {}) } };
}
