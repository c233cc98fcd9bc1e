// What every stage gets, and the wrapper that makes stage work idempotent: a recorded
// result is returned as it is; otherwise the work runs and its result is recorded once.
import { join } from 'node:path';
import { fromPromise } from 'xstate';
import type { AuthorityConfig, Config } from '../core/config.js';
import { UpshiftError, toUpshiftError } from '../core/errors.js';
import type { StageInput } from '../core/machine.js';
import type { PersistedWrites } from '../core/write-chain.js';
import type { Clock, Exec, ExecResult, FleetPort, SourceRepo, StageSandbox } from '../core/ports.js';
import { STATE_OF_STAGE, type Run, type RunFacts, type StageName, type StageOutcome } from '../core/run.js';
import type { StateStore } from '../core/ports.js';
import type { Logger } from '../adapters/logger.js';
import type { Failpoint } from '../core/ports.js';
import type { Keyset } from '../trust/keyset.js';
import type { Signer } from '../trust/keyfile.js';
import type { PublishedView } from './seq-guard.js';

export interface PipelineDeps {
  config: Config;
  authority: AuthorityConfig;
  store: StateStore;
  exec: Exec;
  source: SourceRepo;
  fleet: FleetPort;
  clock: Clock;
  log: Logger;
  /** Parent of per-run work trees (the sandbox's, outside the state dir). */
  workRoot: string;
  /** As whom and with what environment stage commands run: never with access to keys or state. */
  sandbox: StageSandbox;
  keyset: Keyset;
  /** Loaded when a stage needs them, so a key problem fails that stage with its code. */
  loadSigners(): Promise<Signer[]>;
  codeHash(dir: string): Promise<{ hash: string; files: number; bytes: number }>;
  failpoint: Failpoint;
  /**
   * Replicas on PostgreSQL: throws (E_FENCED) unless this replica is a fresh leader, so no
   * effect starts on a deposed or stalled one. Unset: one authority, always allowed.
   */
  mayAct?: (what: string) => void;
  /** The newest manifest this node holds per track; a reservation below it is refused (seq-guard.ts). */
  published?: PublishedView;
  /** Replicas: a stage that finds BUILD's work tree missing (another leader built it) rebuilds it (worktree.ts). */
  rebuildMissingWorkTree?: boolean;
}

export interface StageReport extends StageOutcome {
  /** For people: numbers, output tails, failing tests. Later stages never read it. */
  evidence: Record<string, unknown>;
  /** For later stages: recorded in typed columns with the result. */
  facts?: Partial<RunFacts>;
}

export interface StageContext extends PipelineDeps {
  run: Run;
  stage: StageName | 'revert';
  attempt: number;
  workDir: string;
  signal: AbortSignal;
  /** Run a configured command in the work tree, sandboxed, with the run's environment, recording its process group. */
  runCommand(command: string, timeoutMs: number, opts?: { cwd?: string; env?: Record<string, string> }): Promise<ExecResult>;
}

export type StageWork = (ctx: StageContext) => Promise<StageReport>;

const yieldTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * Before any effect: xstate starts an invoked actor before observers see the transition,
 * so wait one turn (the orchestrator queues the transition's write), then for every queued
 * write to commit (a failed one rejects here), then read the state back from the store.
 */
export async function awaitPersisted(deps: PipelineDeps, writes: PersistedWrites, runId: string, state: string, what: string, signal: AbortSignal): Promise<void> {
  await yieldTurn();
  await writes.settled();
  if (signal.aborted) throw new UpshiftError('E_CANCELLED', `${what} cancelled before it started`);
  deps.mayAct?.(what);
  const persisted = await deps.store.loadSnapshot(runId);
  if (persisted?.state !== state) {
    throw new UpshiftError('E_INTERNAL', `${what} started while the persisted state is ${persisted?.state ?? 'missing'}`);
  }
}

export function stageActor(deps: PipelineDeps, writes: PersistedWrites, stage: StageName, work: StageWork) {
  return fromPromise<StageOutcome, StageInput>(async ({ input, signal }) => {
    await awaitPersisted(deps, writes, input.runId, STATE_OF_STAGE[stage], stage, signal);
    const recorded = await deps.store.getStageResult(input.runId, stage);
    const log = deps.log.child({ runId: input.runId, stage });
    if (recorded) {
      log.info({ outcome: recorded.outcome }, 'stage result already recorded; reusing it');
      return { outcome: recorded.outcome, reason: recorded.reason, ...(recorded.code ? { code: recorded.code } : {}) };
    }
    const run = await deps.store.requireRun(input.runId);
    const { attempt, firstStartedAt } = await deps.store.startAttempt(run.id, stage, deps.clock.now());
    log.info({ attempt }, 'stage started');
    deps.failpoint(`${stage}:started`);
    const ctx = stageContext(deps, run, stage, attempt, signal, log);
    let report: StageReport;
    try {
      report = await work(ctx);
    } catch (err) {
      if (signal.aborted) throw new UpshiftError('E_CANCELLED', `${stage} cancelled`, { cause: err });
      const e = toUpshiftError(err);
      // not the stage's failure: this replica may no longer act (the next leader resumes the stage),
      // or the store lost a published seq (the stage resumes once the envelope is imported)
      if (e.code === 'E_FENCED' || e.code === 'E_SEQ_REGRESSION') throw e;
      report = { outcome: 'failed', reason: e.message, code: e.code, evidence: { error: e.toJSON() } };
    }
    if (signal.aborted) throw new UpshiftError('E_CANCELLED', `${stage} cancelled`);
    deps.failpoint(`${stage}:before-record`);
    const { facts, ...result } = report;
    await deps.store.recordStageResult({ runId: run.id, stage, ...result, startedAt: firstStartedAt, finishedAt: deps.clock.now(), attempts: attempt }, facts);
    log.info({ outcome: report.outcome, reason: report.reason, code: report.code }, 'stage finished');
    deps.failpoint(`${stage}:recorded`);
    return { outcome: report.outcome, reason: report.reason, ...(report.code ? { code: report.code } : {}) };
  });
}

export function stageContext(deps: PipelineDeps, run: Run, stage: StageName | 'revert', attempt: number, signal: AbortSignal, log: Logger): StageContext {
  const workDir = join(deps.workRoot, run.id);
  // onSpawn cannot wait: its write is kept so the clearing write comes after it
  let pidWrite: Promise<void> = Promise.resolve();
  const recordPid = (pid: number) => {
    pidWrite = deps.store.setAttemptPid(run.id, stage as StageName, attempt, pid).catch((err: unknown) => {
      log.warn({ pid, err: (err as Error).message }, 'could not record the process group of a stage command');
    });
  };
  return {
    ...deps,
    log,
    run,
    stage,
    attempt,
    workDir,
    signal,
    async runCommand(command, timeoutMs, opts = {}) {
      try {
        await deps.sandbox.ready();
        // UPSHIFT_RUN_ID also lets a later driver recognise (and reap) an orphaned group
        const as = deps.sandbox.spawnAs({
          ...opts.env,
          UPSHIFT_RUN_ID: run.id, UPSHIFT_STAGE: stage, UPSHIFT_TRACK: run.track,
          UPSHIFT_VERSION: run.version, UPSHIFT_COMMIT: run.commit, CI: 'true',
        });
        return await deps.exec.run({
          command,
          cwd: opts.cwd ?? workDir,
          timeoutMs,
          signal,
          ...as,
          inheritEnv: false,
          onSpawn: (pid) => { if (stage !== 'revert') recordPid(pid); },
        });
      } finally {
        if (stage !== 'revert') {
          await pidWrite;
          await deps.store.setAttemptPid(run.id, stage, attempt, null);
        }
      }
    },
  };
}

/** The tail of a command's output, short enough for evidence. */
export function evidenceTail(text: string, lines = 40): string {
  const all = text.split('\n');
  return all.slice(Math.max(0, all.length - lines)).join('\n');
}

/** A command result as evidence, and a reason when it did not exit 0. */
export function commandEvidence(r: ExecResult): { evidence: Record<string, unknown>; problem: { reason: string; code: 'E_TIMEOUT' | 'E_COMMAND_FAILED' | 'E_CANCELLED' } | null } {
  const evidence: Record<string, unknown> = { command: r.command, exit_code: r.exitCode, signal: r.signal, timed_out: r.timedOut, duration_ms: Math.round(r.durationMs), tail: evidenceTail(r.tail) };
  // A failure's cause is usually on stderr; keep its end even when stdout buried it in the mixed tail.
  const errTail = evidenceTail(r.stderrTail, 20).trimEnd();
  if (r.exitCode !== 0 && errTail && !(evidence.tail as string).includes(errTail)) evidence.stderr_tail = errTail;
  if (r.cancelled) return { evidence, problem: { reason: `\`${r.command}\` was cancelled`, code: 'E_CANCELLED' } };
  if (r.timedOut) return { evidence, problem: { reason: `\`${r.command}\` timed out after ${Math.round(r.durationMs / 1000)}s and was killed`, code: 'E_TIMEOUT' } };
  if (r.exitCode !== 0) return { evidence, problem: { reason: `\`${r.command}\` exited with ${r.exitCode ?? `signal ${r.signal}`}`, code: 'E_COMMAND_FAILED' } };
  return { evidence, problem: null };
}
