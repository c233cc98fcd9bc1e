// Pipeline operations, one function each, for every front door: start a version, drive it
// (to the end, one stage, or in the background), approve, roll back, and read runs.
import { UpshiftError } from '../core/errors.js';
import { TERMINAL, type Run, type StageResult } from '../core/run.js';
import type { ApprovalRecord, EventRecord } from '../core/records.js';
import type { StateStore } from '../core/ports.js';
import type { Candidate, PipelineService } from '../runtime/pipeline-service.js';
import { auditReason, type Outcome } from './context.js';
import { waitingFor, type Waiting } from '../runtime/run-wait.js';

export interface RunDetail {
  run: Run;
  stages: StageResult[];
}

const detail = async (p: PipelineService, runId: string): Promise<RunDetail> => ({
  run: await p.deps.store.requireRun(runId),
  stages: await p.deps.store.stageResults(runId),
});

/** Resolve a ref and create its run (or find the one that exists: a version runs once). Keys and the sandbox are checked first. */
export async function startRun(
  p: PipelineService,
  input: { ref: string; track?: string },
): Promise<Outcome<{ run: Run; created: boolean; candidate: Candidate }>> {
  await p.deps.loadSigners();
  // no run is created when its commands could reach the keys (E_SANDBOX)
  await p.deps.sandbox.ready();
  const candidate = await p.resolve(input.ref, input.track);
  const { run, created } = await p.startOrFind(candidate);
  const reason = created
    ? `created run ${run.id} for ${candidate.track} ${candidate.version}`
    : `${candidate.track} ${candidate.version} already has run ${run.id} (${run.status} at ${run.stage}${run.reason ? `: ${run.reason}` : ''}); a version runs once`;
  return { reason, evidence: { run, created, candidate } };
}

/** Drive a run in this process: to its end, or through its next stage. */
export async function driveRun(
  p: PipelineService,
  input: { runId: string; until: 'terminal' | 'stage'; signal?: AbortSignal; onState?: (state: string, run: Run) => void | Promise<void> },
): Promise<Outcome<RunDetail & { finished: boolean }>> {
  const run = await p.orchestrator.drive(input.runId, {
    until: input.until,
    ...(input.signal ? { signal: input.signal } : {}),
    ...(input.onState ? { onState: input.onState } : {}),
  });
  const finished = TERMINAL.has(run.status);
  const reason = finished
    ? `run ${run.id} ${run.status}${run.reason ? `: ${run.reason}` : ''}`
    : `run ${run.id} is at ${run.stage}; it resumes with \`upshift pipeline advance\` or the daemon`;
  return { reason, evidence: { ...await detail(p, run.id), finished } };
}

/**
 * Move a run on. `wait: 'stage'` drives its next stage here; `wait: 'none'` returns at once
 * (a daemon caller drives it in the background) with what the run is waiting for.
 */
export async function advanceRun(
  p: PipelineService,
  input: { runId?: string; wait: 'stage' | 'none'; signal?: AbortSignal },
): Promise<Outcome<RunDetail & { driver: string | null; waiting: Waiting | null }>> {
  const { store, log } = p.deps;
  const id = input.runId ?? (await store.unfinishedRuns())[0]?.id;
  if (!id) throw new UpshiftError('E_RUN_NOT_FOUND', 'no unfinished run to advance');
  const run = await store.requireRun(id);
  if (TERMINAL.has(run.status)) throw new UpshiftError('E_RUN_TERMINAL', `run ${id} already ended (${run.status}); nothing to advance`);
  const holder = await store.leaseHolder(id);
  if (holder || input.wait === 'none') {
    if (!holder) {
      // nobody drives it: start driving here and answer now (the daemon's process stays up)
      void p.orchestrator.drive(id, { until: 'terminal', ...(input.signal ? { signal: input.signal } : {}) })
        .catch((err: unknown) => log.error({ runId: id, err: (err as Error).message }, 'background drive failed'));
    }
    const waiting = await waitingFor(store, run, p.deps.authority.canary.soak);
    const by = holder ? `being driven by ${holder.owner}` : 'now being driven in the background';
    return {
      reason: `run ${id} is at ${run.stage}, ${by}${waiting ? `; ${waiting.what}` : ''}`,
      evidence: { ...await detail(p, id), driver: holder?.owner ?? 'background', waiting },
    };
  }
  const driven = await driveRun(p, { runId: id, until: 'stage', ...(input.signal ? { signal: input.signal } : {}) });
  const after = await store.requireRun(id);
  return { reason: driven.reason, evidence: { ...driven.evidence, driver: null, waiting: await waitingFor(store, after, p.deps.authority.canary.soak) } };
}

/** Approve a run's protected-path changes; a run that failed its audit gets an approved retry. */
export async function approveRun(
  p: PipelineService,
  input: { runId: string; reason: string; by: string },
): Promise<Outcome<{ run: Run; retry: boolean; created: boolean }>> {
  const { run, retry, created } = await p.approve(input.runId, input.by, auditReason(input.reason));
  const reason = retry && !created
    ? `already approved: ${input.runId} has its one retry ${run.id} (${run.status}); nothing new was started`
    : retry
      ? `approved; started retry ${run.id} of ${input.runId} (the daemon or \`upshift pipeline advance ${run.id}\` drives it)`
      : `approved ${input.runId}`;
  return { reason, evidence: { run, retry, created } };
}

/**
 * Stop a run; a release that reached nodes is followed by a signed rollback. When another
 * process drives the run, the abort is queued for it; otherwise it is carried out here.
 */
export async function rollbackRun(
  p: PipelineService,
  input: { runId: string; reason: string; by: string },
): Promise<Outcome<RunDetail & { queued: boolean; driver: string | null }>> {
  const { store } = p.deps;
  await p.orchestrator.abort(input.runId, auditReason(input.reason), input.by);
  const holder = await store.leaseHolder(input.runId);
  if (holder) {
    return {
      reason: `abort queued; ${holder.owner} is driving ${input.runId} and carries it out within a second`,
      evidence: { ...await detail(p, input.runId), queued: true, driver: holder.owner },
    };
  }
  const run = await p.orchestrator.drive(input.runId, { until: 'terminal' });
  return {
    reason: `run ${run.id} stopped: ${run.status}${run.reason ? ` (${run.reason})` : ''}`,
    evidence: { ...await detail(p, run.id), queued: false, driver: null },
  };
}

export interface ManifestView {
  track: string;
  seq: number;
  purpose: string;
  kind: string;
  version: string;
  commit: string;
  signed: boolean;
  payload: string;
  envelope: string | null;
}

export interface RunShow extends RunDetail {
  manifests: ManifestView[];
  events: EventRecord[];
  approval: ApprovalRecord | null;
  waiting: Waiting | null;
}

/** One run: stages with their evidence, manifests, events, approval, and what it waits for. */
export async function showRun(store: StateStore, runId: string, canarySoakMs = 0): Promise<Outcome<RunShow>> {
  const run = await store.requireRun(runId);
  const manifests = (await store.manifests.list(run.track)).filter((m) => m.runId === runId).map((m) => ({
    track: m.track, seq: m.seq, purpose: m.purpose, kind: m.kind, version: m.version, commit: m.commit,
    signed: m.envelope !== null, payload: Buffer.from(m.payload).toString('utf8'), envelope: m.envelope,
  }));
  const waiting = TERMINAL.has(run.status) ? null : await waitingFor(store, run, canarySoakMs);
  return {
    reason: `run ${run.id}: ${run.track} ${run.version} ${run.status} at ${run.stage}${run.reason ? ` (${run.reason})` : ''}`,
    evidence: {
      run, stages: await store.stageResults(runId), manifests, events: await store.events({ runId }),
      approval: await store.approvals.get(runId), waiting,
    },
  };
}

/** A version the poll saw and did not run: an older tag (skipped) or a downgrade (refused). */
export interface PassedOver {
  at: string;
  kind: 'skipped' | 'refused';
  track: string;
  version: string;
  reason: string;
}

/** Runs, newest first, and the versions the poll passed over. */
export async function runHistory(store: StateStore, input: { track?: string; limit: number }): Promise<Outcome<{ runs: Run[]; passed_over: PassedOver[] }>> {
  if (!Number.isInteger(input.limit) || input.limit < 1) throw new UpshiftError('E_USAGE', `limit must be a positive integer, got ${input.limit}`);
  const runs = await store.listRuns({ ...(input.track ? { track: input.track } : {}), limit: input.limit });
  const passedOver = (await store.eventsOfKind(['version.skipped', 'version.refused'], 1000))
    .map((e): PassedOver => ({
      at: new Date(e.at).toISOString(), kind: e.kind === 'version.skipped' ? 'skipped' : 'refused',
      track: String(e.data.track ?? ''), version: String(e.data.version ?? ''), reason: String(e.data.reason ?? ''),
    }))
    .filter((p) => !input.track || p.track === input.track)
    .slice(0, input.limit);
  const reason = runs.length ? `${runs.length} run(s)${passedOver.length ? `, ${passedOver.length} version(s) passed over` : ''}` : 'no runs yet';
  return { reason, evidence: { runs, passed_over: passedOver } };
}

/** Unfinished runs and the newest run of each track. */
export async function pipelineStatus(store: StateStore): Promise<Outcome<{ unfinished: Run[]; latest: Run[] }>> {
  const unfinished = await store.unfinishedRuns();
  const latest: Run[] = [];
  for (const r of await store.listRuns({ limit: 200 })) if (!latest.some((l) => l.track === r.track)) latest.push(r);
  const reason = unfinished.length ? `${unfinished.length} unfinished run(s)` : 'no unfinished runs';
  return { reason, evidence: { unfinished, latest } };
}
