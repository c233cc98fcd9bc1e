// The authority's loop: poll the source on a cron schedule (and once at start, which
// catches up after downtime), create a run for each new version, and drive unfinished
// runs one at a time. A version already run is never run again.
import cron from 'node-cron';
import { isUpshiftError, toUpshiftError, UpshiftError } from '../core/errors.js';
import { newestVersion, type Candidate, type TrackSpec } from '../core/decisions/versions.js';
import { createDetector, type Detector } from './detector.js';
import { PipelineService, trackSpecs } from './pipeline-service.js';
import { publishFeed } from '../ota/publish.js';

export interface Schedule {
  stop(): void;
}
/** node-cron by default; tests pass a fake that records what was scheduled. */
export type Scheduler = (expression: string, tick: () => Promise<void>) => Schedule;

export const cronScheduler: Scheduler = (expression, tick) => {
  if (!cron.validate(expression)) throw new UpshiftError('E_CONFIG', `authority.poll: expected a cron expression, got "${expression}"`);
  const task = cron.schedule(expression, tick, { noOverlap: true, name: 'upshift-poll' });
  return { stop: () => void task.stop() };
};

export class Authority {
  private readonly detector: Detector;
  private readonly specs: TrackSpec[];
  private schedule: Schedule | null = null;
  private running: Promise<void> | null = null;
  private readonly stopping = new AbortController();

  constructor(readonly service: PipelineService, private readonly scheduler: Scheduler = cronScheduler) {
    const { store } = service.deps;
    this.specs = trackSpecs(service.deps.config);
    this.detector = createDetector({
      source: service.deps.source,
      tracks: this.specs,
      seen: async (track) => {
        const versions = await store.versionsSeen(track.name);
        return { versions: new Set(versions), newest: track.kind === 'tags' ? newestVersion(track, versions) : null };
      },
    });
  }

  start(): void {
    this.schedule = this.scheduler(this.service.deps.authority.poll, () => this.tick());
    void this.tick();
  }

  /** One poll-and-drive pass; overlapping calls join the pass in progress. */
  tick(): Promise<void> {
    this.running ??= this.pass().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  async stop(): Promise<void> {
    this.schedule?.stop();
    this.stopping.abort();
    await this.running?.catch(() => {});
  }

  /** A detected version becomes a run, unless it is older than a release (then it is recorded as refused). */
  private async startRun(next: Candidate): Promise<void> {
    const { store, clock, log } = this.service.deps;
    try {
      const { run, created } = await this.service.startOrFind(next);
      if (created) log.info({ runId: run.id, track: run.track, version: run.version }, 'new version detected');
    } catch (err) {
      if (!isUpshiftError(err, 'E_DOWNGRADE')) throw err;
      log.warn({ track: next.track, version: next.version, code: err.code }, err.message);
      const data = { ...next, code: err.code, reason: err.message };
      await store.appendEvent({ at: clock.now(), runId: null, stage: null, kind: 'version.refused', actor: 'scheduler', data });
    }
  }

  private async pass(): Promise<void> {
    const { store, clock, log, mayAct } = this.service.deps;
    const signal = this.stopping.signal;
    // a replica whose leadership is not fresh polls, creates and drives nothing this pass
    try {
      mayAct?.('the poll-and-drive pass');
    } catch (err) {
      log.warn({ code: (err as UpshiftError).code }, `${(err as Error).message}; skipping this pass`);
      return;
    }
    try {
      const polls = await this.detector.poll(signal);
      const at = clock.now();
      await store.kv.set('authority.last_poll', String(at));
      // a missing branch is not an error of the poll, but readiness, status and metrics show it
      await store.sourcePolls.recordSuccess(at, polls.flatMap((p) => p.branch ? [{ track: p.track, branch: p.branch.name, present: p.branch.present }] : []));
      for (const p of polls) {
        for (const s of p.skipped) await store.appendEvent({ at: clock.now(), runId: null, stage: null, kind: 'version.skipped', actor: 'scheduler', data: { ...s, reason: p.reason } });
        if (p.next) await this.startRun(p.next);
      }
    } catch (err) {
      if (signal.aborted) return;
      const e = toUpshiftError(err);
      await store.sourcePolls.recordFailure(clock.now(), { code: e.code, message: e.message });
      log.error({ err: e.message, code: e.code }, 'polling the source failed; will retry on the next tick');
    }
    for (const run of await store.unfinishedRuns()) {
      if (signal.aborted) return;
      try {
        await this.service.orchestrator.drive(run.id, { until: 'terminal', signal });
      } catch (err) {
        log.error({ runId: run.id, err: (err as Error).message, code: (err as UpshiftError).code }, 'driving run failed');
      }
    }
    if (!signal.aborted) await this.publishOta();
  }

  /** After DEPLOY, when ota.publish.dir is set: the feed brought up to date (releases already written stay). */
  private async publishOta(): Promise<void> {
    const { config, store, keyset, log } = this.service.deps;
    if (!config.ota.publish.dir) return;
    try {
      const tracks = await publishFeed({ config, store, keyset, log });
      const added = tracks.flatMap((t) => t.releases.filter((r) => r.added).map((r) => `${t.track} ${r.tag}`));
      if (added.length > 0) log.info({ module: 'ota', added }, `OTA feed: published ${added.join(', ')}`);
    } catch (err) {
      const e = toUpshiftError(err);
      log.error({ module: 'ota', code: e.code, err: e.message }, 'publishing the OTA feed failed; the next pass tries again');
    }
  }
}
