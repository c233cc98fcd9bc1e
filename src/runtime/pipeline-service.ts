// Pipeline operations shared by the CLI, the daemon and the agent tools: which track and
// version a ref is, starting (or finding) its run, approvals, aborts.
import type { Config } from '../core/config.js';
import { checkReleaseOrder, tagSemver, trackSpecOf, type Candidate, type TrackSpec } from '../core/decisions/versions.js';
import { UpshiftError } from '../core/errors.js';
import { TERMINAL, type Run } from '../core/run.js';
import picomatch from 'picomatch';
import type { PipelineDeps } from '../stages/index.js';
import { Orchestrator } from './orchestrator.js';

export function trackSpecs(config: Config): TrackSpec[] {
  return Object.entries(config.authority?.tracks ?? {}).map(([name, t]) => trackSpecOf(name, t));
}

/** A version of a track found in the source: what a run is created for. */
export type { Candidate } from '../core/decisions/versions.js';

export class PipelineService {
  readonly orchestrator: Orchestrator;

  constructor(readonly deps: PipelineDeps) {
    this.orchestrator = new Orchestrator(deps);
  }

  /** Which track and version a ref is. Tags matching a tag track are that track's versions; anything else goes to the first branch track. */
  async resolve(ref: string, track?: string): Promise<Candidate> {
    const specs = trackSpecs(this.deps.config);
    if (track && !specs.some((s) => s.name === track)) {
      throw new UpshiftError('E_UNKNOWN_TRACK', `unknown track "${track}"; configured: ${specs.map((s) => s.name).join(', ')}`);
    }
    await this.deps.source.fetch();
    const commit = await this.deps.source.resolve(ref);
    const tagTrack = specs.find((s) => s.kind === 'tags' && (!track || s.name === track) && picomatch.isMatch(ref, s.pattern) && tagSemver(ref) !== null);
    if (tagTrack) return { track: tagTrack.name, version: ref, ref, commit };
    const chosen = track ? specs.find((s) => s.name === track) : specs.find((s) => s.kind === 'branch');
    if (!chosen) throw new UpshiftError('E_UNKNOWN_TRACK', `no branch track is configured to take ref "${ref}"`);
    if (chosen.kind === 'tags') {
      throw new UpshiftError('E_UNKNOWN_REF', `track ${chosen.name} takes tags matching ${chosen.pattern}; "${ref}" is not one`);
    }
    return { track: chosen.name, version: commit, ref, commit };
  }

  /**
   * The run of a candidate: an existing one (a version is never run twice) or a new one.
   * A new run older than the newest release of its track is refused (E_DOWNGRADE).
   */
  async startOrFind(c: Candidate): Promise<{ run: Run; created: boolean }> {
    const existing = await this.deps.store.findRun(c.track, c.version);
    if (existing) return { run: existing, created: false };
    await this.refuseDowngrade(c.track, c.version);
    return { run: await this.orchestrator.createRun(c), created: true };
  }

  /** Going back is a rollback, never a release: checked here and again at SIGN. */
  private async refuseDowngrade(track: string, version: string): Promise<void> {
    const spec = trackSpecs(this.deps.config).find((s) => s.name === track);
    if (!spec) return;
    const order = checkReleaseOrder(spec, version, await this.deps.store.manifests.releasedVersions(track));
    if (!order.ok) throw new UpshiftError('E_DOWNGRADE', order.reason, { details: { track, version, newest: order.newest } });
  }

  /**
   * Approve a run's protected-path changes. A run that already failed its audit is never
   * reopened: an approved retry of the same commit starts instead, once. Approving it again
   * returns that retry (`created: false`) and changes nothing; the store holds one retry
   * per run (migration 4), so two processes approving at once cannot both make one.
   */
  async approve(runId: string, by: string, reason: string): Promise<{ run: Run; retry: boolean; created: boolean }> {
    const { store, clock } = this.deps;
    const run = await store.requireRun(runId);
    const audit = await store.getStageResult(runId, 'audit');
    const failedAudit = run.status === 'failed' && audit?.outcome === 'failed';
    if (TERMINAL.has(run.status) && !failedAudit) {
      throw new UpshiftError('E_RUN_TERMINAL', `run ${runId} ended ${run.status}${run.reason ? ` (${run.reason})` : ''}; only a run that failed its audit can be approved and retried`);
    }
    if (!failedAudit) {
      await store.approvals.approve(runId, by, reason, clock.now());
      return { run, retry: false, created: false };
    }
    const existing = await store.findRetry(run.id);
    if (existing) return { run: existing, retry: true, created: false };
    await this.refuseDowngrade(run.track, run.version);
    // the store looks again, creates and approves in one transaction: one retry per run
    const r = await this.orchestrator.createRetry(run, { by, reason });
    return { run: r.run, retry: true, created: r.created };
  }
}
