// Drives runs: restore the persisted snapshot, persist every transition in order on one
// write chain (core/write-chain.ts) before any effect of it, resume where a crash left
// off. One process drives a run at a time (a lease in the store).
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { createActor, type Snapshot } from 'xstate';
import { UpshiftError } from '../core/errors.js';
import { MACHINE_VERSION, pipelineMachine, type PipelineContext } from '../core/machine.js';
import { TERMINAL, type Run, type RunStatus } from '../core/run.js';
import { WriteChain } from '../core/write-chain.js';
import { killGroup, processAlive, runningProcesses } from '../adapters/exec.js';
import { createStageActors, type PipelineDeps } from '../stages/index.js';
import { reapStrayCommands } from './reap.js';

const LEASE_MS = 30_000;
const POLL_MS = 500;

export interface DriveOptions {
  /** `terminal` runs to the end; `stage` stops after the current stage's transition. */
  until?: 'terminal' | 'stage';
  signal?: AbortSignal;
  /** Heard in order, after the state was written (and before any effect of it starts). */
  onState?: (state: string, run: Run) => void | Promise<void>;
}

const statusOf = (state: string): RunStatus =>
  state === 'idle' ? 'pending' : state === 'completed' || state === 'failed' || state === 'rolled_back' ? state : 'running';

export class Orchestrator {
  private readonly owner = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;

  constructor(private readonly deps: PipelineDeps) {}

  /** A new run with its first snapshot (idle), in one transaction. */
  async createRun(r: { track: string; version: string; ref: string; commit: string; retryOf?: string | null }): Promise<Run> {
    const { run, first } = this.newRun(r);
    return this.deps.store.createRun(run, first);
  }

  /** The approved retry of a run, created once with its approval; an existing one is returned (`created: false`). */
  async createRetry(of: Run, approval: { by: string; reason: string }): Promise<{ run: Run; created: boolean }> {
    const { run, first } = this.newRun({ track: of.track, version: of.version, ref: of.ref, commit: of.commit, retryOf: of.id });
    return this.deps.store.createRetry({ ...run, retryOf: of.id }, first, approval);
  }

  private newRun(r: { track: string; version: string; ref: string; commit: string; retryOf?: string | null }) {
    const { clock } = this.deps;
    const id = `r-${randomBytes(5).toString('hex')}`;
    const actor = createActor(pipelineMachine, { input: { runId: id, track: r.track, version: r.version, commit: r.commit } });
    const at = clock.now();
    return {
      run: { id, track: r.track, version: r.version, ref: r.ref, commit: r.commit, retryOf: r.retryOf ?? null, createdAt: at },
      first: { machineVersion: MACHINE_VERSION, snapshot: actor.getPersistedSnapshot(), at },
    };
  }

  /** Queue an abort; the driver picks it up within a poll interval (or now, if nobody drives). */
  async abort(runId: string, reason: string, by: string): Promise<void> {
    const run = await this.deps.store.requireRun(runId);
    if (TERMINAL.has(run.status)) throw new UpshiftError('E_RUN_TERMINAL', `run ${runId} already ended (${run.status})`);
    await this.deps.store.commands.enqueue({ runId, kind: 'abort', reason, by, at: this.deps.clock.now() });
  }

  async drive(runId: string, opts: DriveOptions = {}): Promise<Run> {
    const { store, clock, log } = this.deps;
    const run = await store.requireRun(runId);
    if (TERMINAL.has(run.status)) return run;
    if (!await store.acquireLease(runId, this.owner, process.pid, clock.now() + LEASE_MS, clock.now(), processAlive)) {
      const holder = await store.leaseHolder(runId);
      throw new UpshiftError('E_RUN_LOCKED', `run ${runId} is being driven by ${holder?.owner ?? 'another process'}`);
    }
    try {
      await reapStrayCommands(store, runId, { alive: processAlive, kill: killGroup, log, processes: runningProcesses });
      return await this.driveLeased(runId, opts);
    } finally {
      await store.releaseLease(runId, this.owner);
    }
  }

  private async driveLeased(runId: string, opts: DriveOptions): Promise<Run> {
    const { store, clock } = this.deps;
    const saved = await store.loadSnapshot(runId);
    if (!saved) throw new UpshiftError('E_STATE_CORRUPT', `run ${runId} has no persisted snapshot`);
    if (saved.machineVersion !== MACHINE_VERSION) {
      throw new UpshiftError('E_MACHINE_VERSION', `run ${runId} was persisted by machine version ${saved.machineVersion}; this upshift runs version ${MACHINE_VERSION} and will not guess`);
    }
    const log = this.deps.log.child({ runId });
    let settled = false;
    let finish: (err: unknown) => void = () => {};
    // fail closed: nothing may happen after a transition we could not record
    const writes = new WriteChain((err) => finish(new UpshiftError('E_STATE_CORRUPT', `could not persist run ${runId}: ${(err as Error).message}`, { cause: err })));
    const machine = pipelineMachine.provide({ actors: createStageActors(this.deps, writes) });
    const run = await store.requireRun(runId);
    // input is only read on a fresh start; the restored snapshot carries the context
    const actor = createActor(machine, { snapshot: saved.snapshot as Snapshot<unknown>, input: { runId, track: run.track, version: run.version, commit: run.commit } });
    // advancing a pending run means running its first stage, not just entering it
    const startState = saved.state === 'idle' ? 'building' : saved.state;
    let lastState = saved.state;

    return new Promise<Run>((resolve, reject) => {
      finish = (err: unknown) => {
        if (settled) return;
        settled = true;
        clearInterval(timer);
        opts.signal?.removeEventListener('abort', onAbortSignal);
        actor.stop();
        // the run is what the store says once every queued write is in (or one failed)
        writes.settled().then(
          () => (err ? reject(err) : resolve(store.requireRun(runId))),
          (werr: unknown) => reject(err ?? werr),
        );
      };
      // Called synchronously by the machine: takes what to write now, writes it in order later.
      const persist = (snap: { value: unknown; context: PipelineContext; status: string }) => {
        const state = String(snap.value);
        const stop = snap.context.stop;
        // a stage refused to start because this replica is not a fresh leader, or to reserve a seq
        // the store lost (E_SEQ_REGRESSION): the run is not failed, it stays at its last persisted
        // state for the (next) leader to resume, or for the next pass after `manifest import`
        if (stop?.code === 'E_FENCED' || stop?.code === 'E_SEQ_REGRESSION') {
          return finish(new UpshiftError(stop.code, `run ${runId}: ${stop.reason ?? 'not the leader'}`));
        }
        const write = { runId, machineVersion: MACHINE_VERSION, state, status: statusOf(state), snapshot: actor.getPersistedSnapshot(), reason: stop?.reason ?? null, code: stop?.code ?? null, at: clock.now() };
        writes.enqueue(async () => {
          await store.saveSnapshot(write);
          if (state === lastState) return;
          log.info({ from: lastState, to: state, stage: state, reason: stop?.reason }, 'run state');
          lastState = state;
          if (opts.onState) await opts.onState(state, await store.requireRun(runId));
        });
      };
      actor.subscribe({
        next: (snap) => {
          if (settled) return;
          persist(snap as never);
          if (snap.status === 'done') return finish(null);
          const state = String(snap.value);
          if (opts.until === 'stage' && state !== startState && state !== 'idle') return finish(null);
        },
        error: (err) => finish(err),
      });
      const pollCommands = async () => {
        await store.acquireLease(runId, this.owner, process.pid, clock.now() + LEASE_MS, clock.now(), processAlive);
        for (const c of await store.commands.pending(runId)) {
          if (settled) return;
          await store.commands.consume(c.id, clock.now());
          log.warn({ by: c.by, reason: c.reason }, 'abort requested');
          actor.send({ type: 'ABORT', reason: c.reason, by: c.by });
        }
      };
      let polling: Promise<void> | null = null;
      const poll = () => {
        // one poll at a time: a slow store must not stack them up
        polling ??= pollCommands().catch((err: unknown) => finish(err)).finally(() => { polling = null; });
        return polling;
      };
      const timer = setInterval(() => void poll(), POLL_MS);
      const onAbortSignal = () => finish(null);
      opts.signal?.addEventListener('abort', onAbortSignal, { once: true });
      actor.start();
      void poll().then(() => {
        if (!settled && actor.getSnapshot().value === 'idle') actor.send({ type: 'START' });
      });
    });
  }
}
