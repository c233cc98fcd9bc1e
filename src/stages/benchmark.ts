// BENCHMARK: each suite prints JSON metrics with a direction; run it `repeat` times, take
// medians, compare with the last stable version's snapshot. Any metric worse than the
// tolerance rolls the run back, naming the metric, both values and the change. Registered
// benchmark repositories (benchmark-repos.ts) run beside the project's own suites, each in
// its pinned checkout with the app's work tree in UPSHIFT_APP_DIR.
import { compareBenchmarks } from '../core/decisions/benchmark.js';
import type { BenchmarkFact } from '../core/run.js';
import type { BenchmarkRecord } from '../core/records.js';
import type { StageContext, StageReport } from './context.js';
import { allSuites, checkoutSuite, measureSuite, type SuiteSpec } from './benchmark-repos.js';
import { requireWorkTree } from './worktree.js';

export async function benchmark(ctx: StageContext): Promise<StageReport> {
  const cfg = ctx.authority.benchmark;
  const specs = await allSuites(ctx);
  if (specs.length === 0) {
    return { outcome: 'skipped', reason: 'no benchmark suites configured or registered; nothing was measured', evidence: { suites: [] } };
  }
  await requireWorkTree(ctx);
  const stable = await ctx.store.lastStable(ctx.run.track, ctx.run.id);
  const baselines = stable ? await ctx.store.benchmarks.forRun(stable.id) : [];
  const suites: Record<string, unknown>[] = [];
  const summary: BenchmarkFact = { baselineVersion: null, metrics: {} };
  const regressed: string[] = [];
  const firsts: string[] = [];

  for (const suite of specs) {
    const snapshot = await measure(ctx, suite);
    if ('failure' in snapshot) return snapshot.failure;
    const base = baselines.find((b) => b.suite === suite.name);
    const cmp = compareBenchmarks(base ? { version: base.version, metrics: base.metrics } : null, snapshot.metrics, cfg.tolerance);
    summary.baselineVersion ??= base?.version ?? null;
    // a metric that disappeared is a regression: such a run never reaches SIGN
    for (const c of cmp.comparisons) {
      if (c.value === null) continue;
      summary.metrics[`${suite.name}.${c.metric}`] = { value: c.value, better: c.better, baseline: c.baseline, change: c.change, worse: c.worse };
    }
    suites.push({
      name: suite.name, repeat: suite.repeat, tier: suite.tier, ...(suite.repo ? { repo: suite.repo.url, repo_commit: suite.repo.commit } : {}),
      metrics: snapshot.metrics, baseline_version: base?.version ?? null, verdict: cmp.verdict, comparisons: cmp.comparisons, reason: cmp.reason,
    });
    if (cmp.verdict === 'regressed') regressed.push(`${suite.name}: ${cmp.reason}`);
    if (cmp.verdict === 'no_baseline') firsts.push(suite.name);
  }

  const evidence = { tolerance: cfg.tolerance, baseline_run: stable?.id ?? null, suites };
  if (regressed.length > 0) return { outcome: 'rolled_back', reason: `benchmark regression: ${regressed.join('; ')}`, code: 'E_GATE', evidence, facts: { benchmark: summary } };
  const parts = [`${specs.length - firsts.length} suite(s) within ${(cfg.tolerance * 100).toFixed(1)}% of ${stable?.version ?? 'the baseline'}`];
  if (firsts.length > 0) parts.push(`no baseline for ${firsts.join(', ')}: recorded this run as the first baseline`);
  return { outcome: 'passed', reason: parts.join('; '), evidence, facts: { benchmark: summary } };
}

/** One suite's medians, measured once per run: a resumed stage reuses a saved snapshot. */
async function measure(ctx: StageContext, suite: SuiteSpec): Promise<BenchmarkRecord | { failure: StageReport }> {
  const saved = (await ctx.store.benchmarks.forRun(ctx.run.id)).find((b) => b.suite === suite.name);
  if (saved) return saved;
  // a registered suite runs in its own checkout beside the run's work tree, never inside it
  const cwd = suite.repo ? `${ctx.workDir}.bench-${suite.name}` : ctx.workDir;
  if (suite.repo) await checkoutSuite(ctx, suite, cwd, ctx.signal);
  const env: Record<string, string> = suite.repo ? { UPSHIFT_APP_DIR: ctx.workDir } : {};
  const measured = await measureSuite(suite, cwd, env, (command) => ctx.runCommand(command, ctx.authority.benchmark.timeout, { cwd, env }));
  if (!measured.ok) return { failure: { outcome: 'failed', reason: measured.reason, code: measured.code, evidence: measured.evidence } };
  const record: BenchmarkRecord = {
    runId: ctx.run.id, suite: suite.name, track: ctx.run.track, version: ctx.run.version, commit: ctx.run.commit,
    metrics: measured.metrics, samples: measured.samples, createdAt: ctx.clock.now(),
  };
  await ctx.store.benchmarks.save(record);
  return record;
}
