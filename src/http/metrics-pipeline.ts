// The pipeline's metrics, read from the store: stage durations and outcomes, and canary
// verdicts. Stage results are insert-only, so each scrape folds in only the rows recorded
// since the last (by rowid) into prom-client's own histogram and counters; a restarted
// daemon reads the history once on its first scrape and the totals are whole again.
import { Counter, Histogram, type Registry } from 'prom-client';
import type { TallyStore } from '../core/store-ports.js';

/** Seconds: a test stage takes seconds to minutes, a canary soak up to hours. */
const STAGE_BUCKETS = [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200];

/** What a canary stage's outcome says about the canary. */
const VERDICT: Record<string, string> = { passed: 'pass', rolled_back: 'fail', failed: 'error', skipped: 'skipped' };

export function pipelineMetrics(registry: Registry, store: { tallies: TallyStore }): void {
  let after = 0;
  let pending: Promise<void> | null = null;
  // one fold at a time: two scrapes at once must not count the same rows twice
  const fold = () => (pending ??= (async () => {
    for (;;) {
      const rows = await store.tallies.stageResultsAfter(after);
      for (const r of rows) {
        const labels = { stage: r.stage, outcome: r.outcome };
        duration.observe(labels, Math.max(0, r.durationMs) / 1000);
        results.inc(labels);
        if (r.stage === 'canary') verdicts.inc({ track: r.track, verdict: VERDICT[r.outcome] ?? r.outcome });
        after = r.rowid;
      }
      if (rows.length === 0) return;
    }
  })().finally(() => { pending = null; }));

  const duration = new Histogram({
    name: 'upshift_stage_duration_seconds',
    help: 'How long each pipeline stage took, by stage and outcome (passed, failed, rolled_back, skipped)',
    labelNames: ['stage', 'outcome'],
    buckets: STAGE_BUCKETS,
    registers: [registry],
    collect: fold,
  });
  const results = new Counter({
    name: 'upshift_stage_results_total',
    help: 'Pipeline stage results recorded, by stage and outcome',
    labelNames: ['stage', 'outcome'],
    registers: [registry],
    collect: fold,
  });
  const verdicts = new Counter({
    name: 'upshift_canary_verdicts_total',
    help: 'Canary verdicts by track: pass, fail (rolled back), error (the stage failed), skipped (no candidates)',
    labelNames: ['track', 'verdict'],
    registers: [registry],
    collect: fold,
  });
}
