// Benchmark history: the snapshots BENCHMARK recorded, newest first, narrowed to a suite,
// a track or one metric.
import { UpshiftError } from '../core/errors.js';
import type { Outcome, ServiceContext } from './context.js';

export interface BenchmarkPoint {
  run_id: string;
  suite: string;
  track: string;
  version: string;
  commit: string;
  at: string;
  metrics: Record<string, { value: number; better: 'lower' | 'higher'; unit?: string }>;
}

export async function benchmarkHistory(
  ctx: ServiceContext,
  input: { suite?: string; metric?: string; track?: string; limit: number },
): Promise<Outcome<{ snapshots: BenchmarkPoint[] }>> {
  if (!Number.isInteger(input.limit) || input.limit < 1 || input.limit > 1000) {
    throw new UpshiftError('E_USAGE', `limit must be an integer from 1 to 1000, got ${input.limit}`);
  }
  // read wide, then narrow: a suite or metric filter must not starve the limit
  const all = await ctx.store.benchmarks.list({ ...(input.track ? { track: input.track } : {}), limit: 10_000 });
  const snapshots: BenchmarkPoint[] = [];
  for (const b of all) {
    if (input.suite && b.suite !== input.suite) continue;
    const metrics = input.metric
      ? Object.fromEntries(Object.entries(b.metrics).filter(([name]) => name === input.metric))
      : b.metrics;
    if (input.metric && Object.keys(metrics).length === 0) continue;
    snapshots.push({
      run_id: b.runId, suite: b.suite, track: b.track, version: b.version, commit: b.commit,
      at: new Date(b.createdAt).toISOString(), metrics,
    });
    if (snapshots.length >= input.limit) break;
  }
  const what = [input.suite && `suite ${input.suite}`, input.metric && `metric ${input.metric}`].filter(Boolean).join(', ');
  const reason = snapshots.length
    ? `${snapshots.length} snapshot(s)${what ? ` of ${what}` : ''}, newest first`
    : `no benchmark snapshots${what ? ` of ${what}` : ''} recorded yet`;
  return { reason, evidence: { snapshots } };
}
