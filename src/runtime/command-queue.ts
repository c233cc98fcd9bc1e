// Mutating commands on PostgreSQL replicas: whichever replica or CLI accepts an approve,
// rollback, abort or revoke queues it in the database; the leader carries each out once,
// records its outcome with the epoch it led under, and audits it. The caller is told it was
// queued, and (waiting a little) what the leader answered.
import type pg from 'pg';
import { toUpshiftError, UpshiftError, type ErrorCode } from '../core/errors.js';
import { auditReason } from '../services/context.js';
import type { ServiceContext } from '../services/context.js';
import { approveRun } from '../services/pipeline.js';
import { revokeNode } from '../services/fleet.js';
import type { Leadership } from '../adapters/postgres/leader.js';
import {
  enqueueCommand, finishCommand, getCommand, pendingCommands, type QueuedCommand, type QueuedKind,
} from '../adapters/postgres/replicas.js';
import type { Queryable } from '../adapters/postgres/session.js';
import { insertEvent } from '../adapters/postgres/sql.js';
import type { PipelineService } from './pipeline-service.js';
import type { Effects } from './replica.js';

export interface CommandRequest {
  kind: QueuedKind;
  target: string;
  reason: string;
  by: string;
}

/** Queue a command for the leader; wait up to `waitMs` for its outcome. */
export async function queueCommand(q: Queryable, fleet: string, acceptedBy: string, c: CommandRequest, waitMs = 0): Promise<QueuedCommand> {
  const reason = auditReason(c.reason);
  const id = await enqueueCommand(q, fleet, { ...c, reason, acceptedBy });
  const until = Date.now() + waitMs;
  for (;;) {
    const cmd = await getCommand(q, id) as QueuedCommand;
    if (cmd.doneAt !== null || Date.now() >= until) return cmd;
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
    return { reason: '', error: new UpshiftError(code, `${said('message', 'failed')} (command #${cmd.id}, refused by the leader ${cmd.doneBy})`) };
  }
  const by = leader ? `the leader ${leader}` : 'the next leader';
  return { reason: `queued as command #${cmd.id}; ${by} carries it out`, error: null };
}

/** Carry out one command on the leader; the answer a service gave, or its error. */
async function execute(p: PipelineService, ctx: ServiceContext, c: QueuedCommand): Promise<Record<string, unknown>> {
  switch (c.kind) {
    case 'approve': {
      const r = await approveRun(p, { runId: c.target, reason: c.reason, by: c.by });
      return { reason: r.reason, run: r.evidence.run.id, retry: r.evidence.retry, created: r.evidence.created };
    }
    case 'rollback':
    case 'abort': {
      await p.orchestrator.abort(c.target, c.reason, c.by);
      const holder = await p.deps.store.leaseHolder(c.target);
      // nobody drives it now: the leader does, in the background, so the abort is carried out
      if (!holder) void p.orchestrator.drive(c.target, { until: 'terminal' }).catch(() => undefined);
      return { reason: `abort of ${c.target} handed to its driver${holder ? ` (${holder.owner})` : ''}` };
    }
    case 'revoke': {
      const r = await revokeNode({ ...ctx, actor: c.by }, { node: c.target, reason: c.reason });
      return { reason: r.reason, evidence: r.evidence };
    }
  }
}

/** The leader's side: every second, carry out what is queued, each once. */
export class CommandExecutor implements Effects {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;

  constructor(
    private readonly p: PipelineService,
    private readonly ctx: ServiceContext,
    private readonly pool: pg.Pool,
    private readonly leader: () => Leadership | null,
    private readonly replica: string,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.tick(), 1000);
    this.timer.unref();
    void this.tick();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }

  tick(): Promise<void> {
    this.running ??= this.pass().finally(() => {
      this.running = null;
    });
    return this.running;
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
      if (!leader?.fresh() || this.timer === null) return;
      let outcome: 'ok' | 'failed' = 'ok';
      let result: Record<string, unknown>;
      try {
        result = await execute(this.p, this.ctx, c);
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
