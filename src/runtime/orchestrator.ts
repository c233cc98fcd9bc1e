// Drives runs: restore the persisted snapshot, persist every transition synchronously,
// resume where a crash left off. One process drives a run at a time (a lease in SQLite).
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { createActor, type Snapshot } from 'xstate';
import { UpshiftError } from '../core/errors.js';
import { MACHINE_VERSION, pipelineMachine, type PipelineContext } from '../core/machine.js';
import { TERMINAL, type Run, type RunStatus } from '../core/run.js';
import { killGroup, processAlive } from '../adapters/exec.js';
import { createStageActors, type PipelineDeps } from '../stages/index.js';
import { reapStrayCommands } from './reap.js';

const LEASE_MS = 30_000;
const POLL_MS = 500;

export interface DriveOptions {
  /** `terminal` runs to the end; `stage` stops after the current stage's transition. */
  until?: 'terminal' | 'stage';
  signal?: AbortSignal;
  onState?: (state: string, run: Run) => void;
}

const statusOf = (state: string): RunStatus =>
  state === 'idle' ? 'pending' : state === 'completed' || state === 'failed' || state === 'rolled_back' ? state : 'running';

export class Orchestrator {
  private readonly owner = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;

  constructor(private readonly deps: PipelineDeps) {}

  /** Create a run and persist its first snapshot (idle) in one step. */
  createRun(r: { track: string; version: string; ref: string; commit: string; retryOf?: string | null }): Run {
    const { store, clock } = this.deps;
    const id = `r-${randomBytes(5).toString('hex')}`;
    const actor = createActor(pipelineMachine, { input: { runId: id, track: r.track, version: r.version, commit: r.commit } });
    const snapshot = actor.getPersistedSnapshot();
    store.tx(() => {
      store.createRun({ id, track: r.track, version: r.version, ref: r.ref, commit: r.commit, retryOf: r.retryOf ?? null, createdAt: clock.now() });
      store.saveSnapshot({ runId: id, machineVersion: MACHINE_VERSION, state: 'idle', status: 'pending', snapshot, reason: null, code: null, at: clock.now() });
      store.appendEvent({ at: clock.now(), runId: id, stage: null, kind: 'run.created', actor: 'pipeline', data: { track: r.track, version: r.version, ref: r.ref, commit: r.commit, retry_of: r.retryOf ?? null } });
    });
    return store.requireRun(id);
  }

  /** Queue an abort; the driver picks it up within a poll interval (or now, if nobody drives). */
  abort(runId: string, reason: string, by: string): void {
    const run = this.deps.store.requireRun(runId);
    if (TERMINAL.has(run.status)) throw new UpshiftError('E_RUN_TERMINAL', `run ${runId} already ended (${run.status})`);
    this.deps.store.commands.enqueue({ runId, kind: 'abort', reason, by, at: this.deps.clock.now() });
  }

  async drive(runId: string, opts: DriveOptions = {}): Promise<Run> {
    const { store, clock, log } = this.deps;
    const run = store.requireRun(runId);
    if (TERMINAL.has(run.status)) return run;
    if (!store.acquireLease(runId, this.owner, process.pid, clock.now() + LEASE_MS, clock.now(), processAlive)) {
      const holder = store.leaseHolder(runId);
      throw new UpshiftError('E_RUN_LOCKED', `run ${runId} is being driven by ${holder?.owner ?? 'another process'}`);
    }
    try {
      reapStrayCommands(store, runId, { alive: processAlive, kill: killGroup, log });
      return await this.driveLeased(runId, opts);
    } finally {
      store.releaseLease(runId, this.owner);
    }
  }

  private driveLeased(runId: string, opts: DriveOptions): Promise<Run> {
    const { store, clock } = this.deps;
    const saved = store.loadSnapshot(runId);
    if (!saved) throw new UpshiftError('E_STATE_CORRUPT', `run ${runId} has no persisted snapshot`);
    if (saved.machineVersion !== MACHINE_VERSION) {
      throw new UpshiftError('E_MACHINE_VERSION', `run ${runId} was persisted by machine version ${saved.machineVersion}; this upshift runs version ${MACHINE_VERSION} and will not guess`);
    }
    const log = this.deps.log.child({ runId });
    const machine = pipelineMachine.provide({ actors: createStageActors(this.deps) });
    const run = store.requireRun(runId);
    // input is only read on a fresh start; the restored snapshot carries the context
    const actor = createActor(machine, { snapshot: saved.snapshot as Snapshot<unknown>, input: { runId, track: run.track, version: run.version, commit: run.commit } });
    // advancing a pending run means running its first stage, not just entering it
    const startState = saved.state === 'idle' ? 'building' : saved.state;
    let lastState = saved.state;

    return new Promise<Run>((resolve, reject) => {
      let settled = false;
      const finish = (err: unknown) => {
        if (settled) return;
        settled = true;
        clearInterval(timer);
        opts.signal?.removeEventListener('abort', onAbortSignal);
        actor.stop();
        if (err) reject(err);
        else resolve(store.requireRun(runId));
      };
      const persist = (snap: { value: unknown; context: PipelineContext; status: string }) => {
        const state = String(snap.value);
        const stop = snap.context.stop;
        store.saveSnapshot({ runId, machineVersion: MACHINE_VERSION, state, status: statusOf(state), snapshot: actor.getPersistedSnapshot(), reason: stop?.reason ?? null, code: stop?.code ?? null, at: clock.now() });
        if (state !== lastState) {
          log.info({ from: lastState, to: state, stage: state, reason: stop?.reason }, 'run state');
          lastState = state;
          opts.onState?.(state, store.requireRun(runId));
        }
      };
      actor.subscribe({
        next: (snap) => {
          try {
            persist(snap as never);
          } catch (err) {
            // fail closed: nothing may happen after a transition we could not record
            return finish(new UpshiftError('E_STATE_CORRUPT', `could not persist run ${runId}: ${(err as Error).message}`, { cause: err }));
          }
          if (snap.status === 'done') return finish(null);
          const state = String(snap.value);
          if (opts.until === 'stage' && state !== startState && state !== 'idle') return finish(null);
        },
        error: (err) => finish(err),
      });
      const pollCommands = () => {
        store.acquireLease(runId, this.owner, process.pid, clock.now() + LEASE_MS, clock.now(), processAlive);
        for (const c of store.commands.pending(runId)) {
          store.commands.consume(c.id, clock.now());
          log.warn({ by: c.by, reason: c.reason }, 'abort requested');
          actor.send({ type: 'ABORT', reason: c.reason, by: c.by });
        }
      };
      const timer = setInterval(() => {
        try {
          pollCommands();
        } catch (err) {
          finish(err);
        }
      }, POLL_MS);
      const onAbortSignal = () => finish(null);
      opts.signal?.addEventListener('abort', onAbortSignal, { once: true });
      actor.start();
      pollCommands();
      if (!settled && actor.getSnapshot().value === 'idle') actor.send({ type: 'START' });
    });
  }
}
