// The agent tools' pipeline operations over the pipeline services: where every track
// stands, starting a version (refusing while the track has a run in progress), advancing a
// run past a manual gate or saying what it waits for, and rolling back. One implementation
// for MCP, HTTP and `upshift tool`; a long-lived front door (`drive: true`) drives runs in
// the background, a one-shot one leaves that to the daemon.
import { newestVersion } from '../core/decisions/versions.js';
import { trackNodes } from '../core/decisions/convergence.js';
import { UpshiftError } from '../core/errors.js';
import { TERMINAL, type Run } from '../core/run.js';
import { createDetector } from '../runtime/detector.js';
import { trackSpecs, type PipelineService } from '../runtime/pipeline-service.js';
import { waitingFor, type Waiting } from '../runtime/run-wait.js';
import { promote, promotionState } from '../stages/canary-promotion.js';
import { auditReason, type Outcome } from './context.js';
import { advanceRun, approveRun, rollbackRun, startRun, type RunDetail } from './pipeline.js';
import { silentAfterHeld } from '../node/agent/held-settings.js';

/** What a run waits for, with the manual promotion gate CANARY may hold it at. */
export async function runWaiting(p: PipelineService, run: Run): Promise<Waiting | null> {
  if (TERMINAL.has(run.status)) return null;
  if (run.stage === 'canary' && (await promotionState(p.deps.store, run.id)) === 'awaiting') {
    return { state: 'canary', what: 'promotion: the canary soak passed; advance_upgrade_pipeline promotes the release to the fleet', until: null };
  }
  return waitingFor(p.deps.store, run, p.deps.authority.canary.soak);
}

export interface TrackView {
  track: string;
  running: { version: string; commit: string; run: string } | null;
  run: { id: string; version: string; status: string; stage: string; reason: string | null; waiting: Waiting | null } | null;
  new_version: { version: string; commit: string; ref: string } | null;
  new_version_note: string;
  convergence: { on_running: number; live: number; nodes: number; behind: string[] };
}

/** Per track: the version it runs, its newest run and what that waits for, a version waiting, convergence. */
export async function upgradeStatus(p: PipelineService): Promise<Outcome<{ tracks: TrackView[]; source_error: string | null }>> {
  const { store } = p.deps;
  const specs = trackSpecs(p.deps.config);
  let polls: Awaited<ReturnType<ReturnType<typeof createDetector>['poll']>> = [];
  let sourceError: string | null = null;
  try {
    const seen = async (t: (typeof specs)[number]) => {
      const versions = await store.versionsSeen(t.name);
      return { versions: new Set(versions), newest: t.kind === 'tags' ? newestVersion(t, versions) : null };
    };
    polls = await createDetector({ source: p.deps.source, tracks: specs, seen }).poll();
  } catch (err) {
    sourceError = (err as Error).message;
  }
  const tracks: TrackView[] = [];
  for (const spec of specs) {
    const stable = await store.lastStable(spec.name);
    const latest = (await store.listRuns({ track: spec.name, limit: 1 }))[0] ?? null;
    const poll = polls.find((x) => x.track === spec.name);
    const nodes = trackNodes(await p.deps.fleet.nodes(), spec.name, {
      now: p.deps.clock.now(), silentAfterMs: await silentAfterHeld(p.deps.config, store, p.deps.authority.canary.heartbeat_timeout),
    });
    const live = nodes.filter((n) => n.state !== 'silent');
    const onIt = live.filter((n) => stable !== null && n.version === stable.version && n.state === 'confirmed');
    tracks.push({
      track: spec.name,
      running: stable ? { version: stable.version, commit: stable.commit, run: stable.id } : null,
      run: latest ? {
        id: latest.id, version: latest.version, status: latest.status, stage: latest.stage, reason: latest.reason,
        waiting: await runWaiting(p, latest),
      } : null,
      new_version: poll?.next ? { version: poll.next.version, commit: poll.next.commit, ref: poll.next.ref } : null,
      new_version_note: poll?.reason ?? (sourceError ? `source not reachable: ${sourceError}` : 'not polled'),
      convergence: { on_running: onIt.length, live: live.length, nodes: nodes.length, behind: live.filter((n) => !onIt.includes(n)).map((n) => n.node) },
    });
  }
  const parts = tracks.map((t) => {
    const run = t.run && !TERMINAL.has(t.run.status as Run['status'])
      ? `run ${t.run.id} at ${t.run.stage}${t.run.waiting ? ` waiting for ${t.run.waiting.what}` : ''}`
      : 'no run in progress';
    const now = t.running ? `runs ${t.running.version}` : 'nothing released yet';
    const next = t.new_version ? `, new version ${t.new_version.version} waiting` : '';
    return `${t.track}: ${now} on ${t.convergence.on_running}/${t.convergence.live} live node(s), ${run}${next}`;
  });
  return { reason: parts.join('; ') || 'no tracks configured', evidence: { tracks, source_error: sourceError } };
}

/** The ref a track would run by default: a branch track's branch, a tag track's newest tag. */
export async function defaultRef(p: PipelineService, track?: string): Promise<{ ref: string; track: string }> {
  const specs = trackSpecs(p.deps.config);
  const spec = track ? specs.find((s) => s.name === track) : specs.find((s) => s.kind === 'branch') ?? specs[0];
  if (!spec) throw new UpshiftError('E_UNKNOWN_TRACK', `unknown track "${track}"; configured: ${specs.map((s) => s.name).join(', ')}`);
  if (spec.kind === 'branch') return { ref: spec.branch, track: spec.name };
  await p.deps.source.fetch();
  const tags = (await p.deps.source.tags()).map((t) => t.tag);
  const newest = newestVersion(spec, tags);
  if (!newest) throw new UpshiftError('E_UNKNOWN_REF', `track ${spec.name} has no tag matching ${spec.pattern} yet`);
  return { ref: newest, track: spec.name };
}

/** Start a version; refused (E_RUN_ACTIVE) while another run of its track is unfinished. */
export async function startUpgrade(
  p: PipelineService,
  input: { ref?: string; track?: string; drive: boolean; signal?: AbortSignal },
): Promise<Outcome<{ run: Run; created: boolean; driving: boolean }>> {
  const target = input.ref ? { ref: input.ref, track: input.track } : await defaultRef(p, input.track);
  const candidate = await p.resolve(target.ref, target.track);
  const active = (await p.deps.store.unfinishedRuns()).find((r) => r.track === candidate.track && r.version !== candidate.version);
  if (active) {
    throw new UpshiftError('E_RUN_ACTIVE', `track ${candidate.track} already has run ${active.id} (${active.version}) at ${active.stage}; `
      + 'advance or roll it back first', { details: { run: active.id, version: active.version, stage: active.stage } });
  }
  const started = await startRun(p, { ref: target.ref, ...(candidate.track ? { track: candidate.track } : {}) });
  const { run, created } = started.evidence;
  if (!created && TERMINAL.has(run.status)) {
    throw new UpshiftError('E_RUN_TERMINAL', `${started.reason}; a version runs once`, { details: { run: run.id, status: run.status } });
  }
  let driving = false;
  if (input.drive && !(await p.deps.store.leaseHolder(run.id))) {
    await advanceRun(p, { runId: run.id, wait: 'none', ...(input.signal ? { signal: input.signal } : {}) });
    driving = true;
  }
  const how = driving ? 'driven in the background now' : 'the daemon (or advance_upgrade_pipeline) drives it';
  return { reason: `${started.reason}; ${how}`, evidence: { run: await p.deps.store.requireRun(run.id), created, driving } };
}

export interface Advanced {
  run: Run;
  action: 'promoted' | 'approved' | 'waiting';
  waiting: Waiting | null;
  driver: string | null;
  retry: Run | null;
}

/**
 * Move a run past the manual gate it waits at (canary promotion; protected-path approval of
 * a run that failed its audit) or say at once what it waits for and until when. Never waits
 * out a soak: a long-lived caller only starts a background driver when nobody drives it.
 */
export async function advanceUpgrade(
  p: PipelineService,
  input: { runId?: string; by: string; reason?: string; drive: boolean; signal?: AbortSignal },
): Promise<Outcome<Advanced>> {
  const { store, clock } = p.deps;
  const id = input.runId ?? (await store.unfinishedRuns())[0]?.id;
  if (!id) throw new UpshiftError('E_RUN_NOT_FOUND', 'nothing waiting: no unfinished run to advance; start one with start_upgrade');
  const run = await store.requireRun(id);
  const reason = auditReason(input.reason ?? 'advanced by an agent tool', 'reason');
  if (run.status === 'failed' && (await store.getStageResult(id, 'audit'))?.outcome === 'failed') {
    const approved = await approveRun(p, { runId: id, reason, by: input.by });
    const retry = approved.evidence.run;
    if (input.drive && !(await store.leaseHolder(retry.id))) await advanceRun(p, { runId: retry.id, wait: 'none', ...(input.signal ? { signal: input.signal } : {}) });
    return { reason: approved.reason, evidence: { run, action: 'approved', waiting: null, driver: null, retry } };
  }
  if (TERMINAL.has(run.status)) throw new UpshiftError('E_RUN_TERMINAL', `run ${id} already ended (${run.status}); nothing to advance`);
  if (run.stage === 'canary' && (await promote(store, id, input.by, reason, clock.now()))) {
    const holder = await store.leaseHolder(id);
    if (!holder && input.drive) await advanceRun(p, { runId: id, wait: 'none', ...(input.signal ? { signal: input.signal } : {}) });
    return {
      reason: `promoted run ${id}: the canary release goes to the fleet at the driver's next check`,
      evidence: { run, action: 'promoted', waiting: null, driver: holder?.owner ?? (input.drive ? 'background' : null), retry: null },
    };
  }
  const holder = await store.leaseHolder(id);
  if (!holder && input.drive) {
    const r = await advanceRun(p, { runId: id, wait: 'none', ...(input.signal ? { signal: input.signal } : {}) });
    return { reason: r.reason, evidence: { run: r.evidence.run, action: 'waiting', waiting: await runWaiting(p, run), driver: r.evidence.driver, retry: null } };
  }
  const waiting = await runWaiting(p, run);
  const by = holder ? `being driven by ${holder.owner}` : 'not driven by anyone here (the daemon drives it on its next poll)';
  const until = waiting?.until ? ` until ${waiting.until}` : '';
  return {
    reason: `run ${id} is at ${run.stage}, ${by}; it waits for ${waiting?.what ?? 'its next stage'}${until}; no manual gate to pass`,
    evidence: { run, action: 'waiting', waiting, driver: holder?.owner ?? null, retry: null },
  };
}

/** Roll back a run in progress (default: the one unfinished run); nothing to roll back is an error. */
export async function rollbackUpgrade(
  p: PipelineService,
  input: { runId?: string; reason: string; by: string },
): Promise<Outcome<RunDetail & { queued: boolean; driver: string | null }>> {
  const reason = auditReason(input.reason, 'reason');
  const unfinished = await p.deps.store.unfinishedRuns();
  const id = input.runId ?? unfinished[0]?.id;
  if (!id) throw new UpshiftError('E_RUN_NOT_FOUND', 'nothing to roll back: no run is in progress');
  if (!input.runId && unfinished.length > 1) {
    throw new UpshiftError('E_USAGE', `${unfinished.length} runs are in progress (${unfinished.map((r) => r.id).join(', ')}); name one`);
  }
  return rollbackRun(p, { runId: id, reason, by: input.by });
}
