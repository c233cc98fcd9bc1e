// capture_benchmark, compare_benchmarks and get_benchmark_history: benchmark snapshots on
// demand (a version's work tree, built, then the suites of a tier), comparisons of two
// versions' medians, and the history of run snapshots and captures together.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { compareBenchmarks, type BenchmarkComparison, type Metrics } from '../core/decisions/benchmark.js';
import { UpshiftError } from '../core/errors.js';
import type { Tier } from '../core/records.js';
import type { PipelineService } from '../runtime/pipeline-service.js';
import { allSuites, checkoutSuite, measureSuite, sandboxedRunner } from '../stages/benchmark-repos.js';
import { commandEvidence } from '../stages/context.js';
import { benchmarkHistory, type BenchmarkPoint } from './benchmarks.js';
import type { Outcome, ServiceContext } from './context.js';

export interface Captured {
  version: string;
  commit: string;
  tier: Tier | 'all';
  snapshots: Array<{ id: number; suite: string; metrics: Metrics }>;
}

/** A ref's version as runs name it: a tag stays a tag, a branch or commit becomes the commit. */
async function versionOf(p: PipelineService, ref: string): Promise<{ version: string; commit: string }> {
  await p.deps.source.fetch();
  const commit = await p.deps.source.resolve(ref);
  const isTag = (await p.deps.source.tags()).some((t) => t.tag === ref);
  return { version: isTag ? ref : commit, commit };
}

export async function captureBenchmark(
  p: PipelineService,
  input: { version: string; tier: Tier | 'all'; by: string },
): Promise<Outcome<Captured>> {
  const { deps } = p;
  const suites = await allSuites(deps, input.tier);
  if (suites.length === 0) throw new UpshiftError('E_USAGE', `no benchmark suite of tier ${input.tier} is configured or registered`);
  const { version, commit } = await versionOf(p, input.version);
  const dir = join(deps.workRoot, `capture-${randomBytes(6).toString('hex')}`);
  const run = sandboxedRunner(deps, deps.authority.benchmark.timeout);
  const dirs = [dir];
  try {
    await deps.source.checkout(commit, dir);
    await deps.sandbox.handOver(dir);
    const build = commandEvidence(await sandboxedRunner(deps, deps.authority.build.timeout)(deps.authority.build.command, dir, { UPSHIFT_VERSION: version }));
    if (build.problem) throw new UpshiftError(build.problem.code, `build of ${version}: ${build.problem.reason}`, { details: build.evidence });
    const measured: Array<{ suite: string; metrics: Metrics; samples: Metrics[] }> = [];
    for (const suite of suites) {
      const cwd = suite.repo ? `${dir}.bench-${suite.name}` : dir;
      if (suite.repo) {
        dirs.push(cwd);
        await checkoutSuite(deps, suite, cwd);
      }
      const m = await measureSuite(suite, cwd, suite.repo ? { UPSHIFT_APP_DIR: dir } : {}, run);
      if (!m.ok) throw new UpshiftError(m.code, m.reason, { details: m.evidence });
      measured.push({ suite: suite.name, metrics: m.metrics, samples: m.samples });
    }
    // recorded only once every suite measured: a half capture is no snapshot
    const at = deps.clock.now();
    const ids = await deps.store.benchmarkRegistry.saveCaptures(measured.map((m) => ({
      suite: m.suite, version, commit, tier: suites.find((s) => s.name === m.suite)!.tier, metrics: m.metrics, samples: m.samples, createdAt: at, actor: input.by,
    })));
    const snapshots = measured.map((m, i) => ({ id: ids[i] as number, suite: m.suite, metrics: m.metrics }));
    return {
      reason: `captured ${snapshots.length} suite(s) of tier ${input.tier} on ${version.slice(0, 40)}: `
        + snapshots.map((s) => `${s.suite} ${Object.entries(s.metrics).map(([k, v]) => `${k}=${v.value}${v.unit ?? ''}`).join(', ')}`).join('; '),
      evidence: { version, commit, tier: input.tier, snapshots },
    };
  } finally {
    for (const d of dirs) {
      await deps.sandbox.clear(d).catch(() => undefined);
    }
    await deps.source.removeWorktree(dir).catch(() => undefined);
  }
}

export interface HistoryPoint extends Omit<BenchmarkPoint, 'run_id'> {
  run_id: string | null;
  source: 'run' | 'capture';
}

/** Run snapshots and captures, newest first. */
export async function benchmarkHistoryAll(
  ctx: ServiceContext,
  input: { suite?: string; metric?: string; limit: number },
): Promise<Outcome<{ snapshots: HistoryPoint[] }>> {
  const runs = (await benchmarkHistory(ctx, { ...input, limit: Math.min(input.limit, 1000) })).evidence.snapshots.map((s): HistoryPoint => ({ ...s, source: 'run' }));
  const captures = (await ctx.store.benchmarkRegistry.captures(10_000))
    .filter((c) => !input.suite || c.suite === input.suite)
    .map((c): HistoryPoint => ({
      run_id: null, source: 'capture', suite: c.suite, track: '', version: c.version, commit: c.commit, at: new Date(c.createdAt).toISOString(),
      metrics: input.metric ? Object.fromEntries(Object.entries(c.metrics).filter(([k]) => k === input.metric)) : c.metrics,
    }))
    .filter((c) => Object.keys(c.metrics).length > 0);
  const snapshots = [...runs, ...captures].sort((a, b) => (a.at < b.at ? 1 : a.at > b.at ? -1 : 0)).slice(0, input.limit);
  const what = [input.suite && `suite ${input.suite}`, input.metric && `metric ${input.metric}`].filter(Boolean).join(', ');
  const reason = snapshots.length
    ? `${snapshots.length} snapshot(s)${what ? ` of ${what}` : ''}, newest first (${snapshots.filter((s) => s.source === 'capture').length} captured on demand)`
    : `no benchmark snapshots${what ? ` of ${what}` : ''} recorded yet`;
  return { reason, evidence: { snapshots } };
}

/** The newest snapshot of each suite of a version (a tag, a commit or its prefix of 7+). */
async function snapshotsOf(ctx: ServiceContext, version: string): Promise<Map<string, { version: string; metrics: Metrics }>> {
  const all = (await benchmarkHistoryAll(ctx, { limit: 1000 })).evidence.snapshots;
  const matches = (s: HistoryPoint) => s.version === version || (version.length >= 7 && s.commit.startsWith(version.toLowerCase()));
  const out = new Map<string, { version: string; metrics: Metrics }>();
  for (const s of all) if (matches(s) && !out.has(s.suite)) out.set(s.suite, { version: s.version, metrics: s.metrics as Metrics });
  return out;
}

export interface SuiteComparison extends BenchmarkComparison {
  suite: string;
}

export async function compareVersions(
  ctx: ServiceContext,
  input: { old: string; new: string; suite?: string },
): Promise<Outcome<{ tolerance: number; suites: SuiteComparison[]; verdict: 'pass' | 'regressed'; only_in_one: string[] }>> {
  const tolerance = ctx.config.authority?.benchmark.tolerance ?? 0.05;
  const [before, after] = await Promise.all([snapshotsOf(ctx, input.old), snapshotsOf(ctx, input.new)]);
  for (const [v, m] of [[input.old, before], [input.new, after]] as const) {
    if (m.size === 0) throw new UpshiftError('E_USAGE', `no benchmark snapshot of version ${v}; capture one with capture_benchmark`);
  }
  const names = [...after.keys()].filter((s) => !input.suite || s === input.suite);
  const suites: SuiteComparison[] = names.filter((s) => before.has(s)).map((suite) => ({
    suite, ...compareBenchmarks(before.get(suite)!, after.get(suite)!.metrics, tolerance),
  }));
  if (suites.length === 0) throw new UpshiftError('E_USAGE', `versions ${input.old} and ${input.new} have no suite measured on both`);
  const onlyInOne = [...new Set([...before.keys(), ...after.keys()])].filter((s) => !(before.has(s) && after.has(s)));
  const regressed = suites.filter((s) => s.verdict === 'regressed');
  const verdict = regressed.length ? 'regressed' : 'pass';
  const reason = regressed.length
    ? `${input.new} regressed against ${input.old}: ${regressed.map((s) => `${s.suite}: ${s.reason}`).join('; ')}`
    : `${input.new} is within ${(tolerance * 100).toFixed(1)}% of ${input.old} on ${suites.length} suite(s)`;
  return { reason, evidence: { tolerance, suites, verdict, only_in_one: onlyInOne } };
}
