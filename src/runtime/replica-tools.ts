// The agent tools on a follower replica. Reads answer as anywhere. rollback_upgrade is queued
// for the leader (the caller is told so, with the command's number); any other tool that
// changes something is refused with E_NOT_LEADER naming the leader, since only the leader
// drives runs. Null: call the tool as usual (this replica leads, or the tool only reads).
import type { Config } from '../core/config.js';
import { UpshiftError } from '../core/errors.js';
import type { StateStore } from '../core/ports.js';
import { readLeader } from '../adapters/postgres/leader.js';
import type { ToolAnswer } from '../tools/index.js';
import { queueCommand, queuedAnswer } from './command-queue.js';
import type { Replica } from './replica.js';

export async function followerTool(
  d: { config: Config; store: StateStore; replica: Replica }, actor: string, name: string, raw: unknown,
): Promise<ToolAnswer | null> {
  if (d.replica.leader) return null;
  const { findTool } = await import('../tools/index.js');
  let tool: ReturnType<typeof findTool>;
  try {
    tool = findTool(name);
  } catch {
    return null; // callTool answers an unknown tool
  }
  if (tool.annotations.readOnlyHint) return null;
  const pool = d.replica.session.pool;
  const leader = await readLeader(pool, d.config.fleet);
  const refused = (e: UpshiftError): ToolAnswer =>
    ({ ok: false, reason: e.message, error: e.toJSON(), evidence: { leader: leader?.replica ?? null } });
  if (name !== 'rollback_upgrade') {
    const who = leader?.replica ?? 'none elected yet';
    return refused(new UpshiftError('E_NOT_LEADER', `${name} runs on the leader (${who}); this replica (${d.replica.name}) follows`));
  }
  const args = tool.schema.safeParse(raw ?? {});
  if (!args.success) return null; // callTool answers the usage error
  const a = args.data as { run?: string; reason: string };
  let run = a.run;
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
  const cmd = await queueCommand(pool, d.config.fleet, d.replica.name, { kind: 'rollback', target: run, reason: a.reason, by: actor });
  const { reason } = queuedAnswer(cmd, leader?.replica ?? null);
  return { ok: true, reason, evidence: { queued: true, command: cmd.id, run, leader: leader?.replica ?? null } };
}
