// Mutating commands on PostgreSQL replicas: whichever replica or CLI accepts one (approve,
// rollback, abort, revoke, a run's start, a deployment's deploy and controls, a benchmark's
// registration) queues it in the database; the leader claims it, carries it out once,
// records its outcome with the epoch it led under, and audits it. The caller is told it was
// queued, and (waiting a little) what the leader answered; a CLI that waited in vain
// withdraws a command no leader claimed, so nothing changes behind its back.
import type pg from 'pg';
import { toUpshiftError, UpshiftError, type ErrorCode } from '../core/errors.js';
import { auditReason } from './context.js';
import type { ServiceContext } from './context.js';
import type { Leadership } from '../adapters/postgres/leader.js';
import {
  claimCommand, enqueueCommand, finishCommand, getCommand, pendingCommands, withdrawCommand, type QueuedCommand, type QueuedKind,
} from '../adapters/postgres/replicas.js';
import type { Queryable } from '../adapters/postgres/session.js';
import { insertEvent } from '../adapters/postgres/sql.js';
import { executeCommand } from './command-execute.js';
import type { PipelineService } from '../runtime/pipeline-service.js';
import type { Effects, Replica } from '../runtime/replica.js';
import { PassLoop } from '../runtime/pass-loop.js';

export interface CommandRequest {
  kind: QueuedKind;
  target: string;
  args?: Record<string, unknown>;
  reason: string;
  by: string;
}

/** How long a claimed command may take before the caller stops waiting (a start fetches the source). */
const CLAIMED_WAIT_MS = 120_000;

/**
 * Queue a command for the leader; wait up to `waitMs` for its outcome. `withdraw`: when no
 * leader claimed it by then, withdraw it (outcome failed, E_LEADER_TIMEOUT); a claimed one is
 * waited for a while longer, since the leader is carrying it out.
 */
export async function queueCommand(q: Queryable, fleet: string, acceptedBy: string, c: CommandRequest,
  waitMs = 0, opts: { withdraw?: boolean } = {}): Promise<QueuedCommand> {
  const reason = auditReason(c.reason);
  const id = await enqueueCommand(q, fleet, { ...c, reason, acceptedBy });
  let until = Date.now() + waitMs;
  let claimedWait = false;
  for (;;) {
    const cmd = await getCommand(q, id) as QueuedCommand;
    if (cmd.doneAt !== null) return cmd;
    if (Date.now() >= until) {
      if (!opts.withdraw || claimedWait) return cmd;
      const secs = Math.round(waitMs / 1000);
      const why = {
        code: 'E_LEADER_TIMEOUT',
        message: `no leader took command #${id} (${c.kind} ${c.target}) within ${secs}s, so it was withdrawn and nothing `
          + 'changed; `upshift authority status` shows the leader and its last renewal',
      };
      if (await withdrawCommand(q, id, acceptedBy, why)) return await getCommand(q, id) as QueuedCommand;
      claimedWait = true;
      until = Date.now() + CLAIMED_WAIT_MS;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** What a caller says about a queued command: its outcome, or that the leader has it. */
export function queuedAnswer(cmd: QueuedCommand, leader: string | null): { reason: string; error: UpshiftError | null } {
  const said = (key: string, fallback: string) => String(cmd.result?.[key] ?? fallback);
  if (cmd.outcome === 'ok') {
    return { reason: `${said('reason', 'done')} (command #${cmd.id}, carried out by the leader ${cmd.doneBy}, epoch ${cmd.doneEpoch})`, error: null };
  }
  if (cmd.outcome === 'failed') {
    const code = (typeof cmd.result?.code === 'string' ? cmd.result.code : 'E_INTERNAL') as ErrorCode;
    // withdrawn by its caller (no epoch): the message says so itself
    const by = cmd.doneEpoch === null ? '' : ` (command #${cmd.id}, refused by the leader ${cmd.doneBy})`;
    return { reason: '', error: new UpshiftError(code, `${said('message', 'failed')}${by}`) };
  }
  if (cmd.claimedEpoch !== null) {
    return { reason: `command #${cmd.id} is being carried out by ${leader ? `the leader ${leader}` : 'the leader'}`, error: null };
  }
  const by = leader ? `the leader ${leader}` : 'the next leader';
  return { reason: `queued as command #${cmd.id}; ${by} carries it out`, error: null };
}

/** The executor a replica runs while it leads (`upshift daemon` hands it to runtime/daemon.ts). */
export function commandExecutor(p: PipelineService, ctx: ServiceContext, replica: Replica): CommandExecutor {
  return new CommandExecutor(p, ctx, replica.session.pool, () => replica.leader, replica.name);
}

/** The leader's side: every second, carry out what is queued, each once. */
export class CommandExecutor implements Effects {
  private readonly loop = new PassLoop(() => this.pass(), 1000, (err) => {
    this.ctx.log.warn({ module: 'commands', err: (err as Error).message }, 'command pass failed; the next pass tries again');
  });

  constructor(
    private readonly p: PipelineService,
    private readonly ctx: ServiceContext,
    private readonly pool: pg.Pool,
    private readonly leader: () => Leadership | null,
    private readonly replica: string,
  ) {}

  start(): void {
    this.loop.start({ now: true });
  }

  stop(): Promise<void> {
    return this.loop.stop();
  }

  tick(): Promise<void> {
    return this.loop.tick();
  }

  private async pass(): Promise<void> {
    const { log } = this.ctx;
    let pending: QueuedCommand[];
    try {
      pending = await pendingCommands(this.pool, this.ctx.config.fleet);
    } catch (err) {
      log.warn({ module: 'commands', err: (err as Error).message }, 'could not read the command queue');
      return;
    }
    for (const c of pending) {
      const leader = this.leader();
      if (!leader?.fresh() || this.loop.stopped) return;
      try {
        // claimed first (fenced): its caller can no longer withdraw it, and a withdrawn one is skipped
        if (!await leader.fenced((q) => claimCommand(q, c.id, leader.epoch))) continue;
      } catch (err) {
        log.warn({ module: 'commands', command: c.id, err: (err as Error).message }, 'could not claim a queued command');
        return;
      }
      let outcome: 'ok' | 'failed' = 'ok';
      let result: Record<string, unknown>;
      try {
        result = await executeCommand(this.p, this.ctx, c);
      } catch (err) {
        const e = toUpshiftError(err);
        if (e.code === 'E_FENCED') return; // not ours to finish: the next leader carries it out
        outcome = 'failed';
        result = { code: e.code, message: e.message };
      }
      try {
        // the outcome and its audit record commit together, fenced: once, by this epoch
        const finished = await leader.fenced(async (q) => {
          if (!await finishCommand(q, c.id, { epoch: leader.epoch, replica: this.replica, outcome, result })) return false;
          await insertEvent(q, {
            at: this.ctx.clock.now(), runId: null, stage: null, kind: 'command.executed', actor: c.by,
            data: {
              command: c.id, kind: c.kind, target: c.target, reason: c.reason, accepted_by: c.acceptedBy,
              leader: this.replica, epoch: leader.epoch, outcome, result,
            },
          });
          return true;
        });
        if (!finished) continue;
        log.info({ module: 'commands', command: c.id, kind: c.kind, target: c.target, by: c.by, outcome }, 'queued command carried out');
      } catch (err) {
        const e = toUpshiftError(err);
        log.warn({ module: 'commands', command: c.id, code: e.code, err: e.message }, 'could not record a queued command\'s outcome');
        return;
      }
    }
  }
}
