// Registered benchmark repositories (migration 10): fetched like any pinned source (the
// same safe git as the app's source: hooks off, no submodules), checked out at the commit
// recorded at registration, and run sandboxed like every stage command, with the app's work
// tree in UPSHIFT_APP_DIR. Used by BENCHMARK, `capture_benchmark` and registration.
import { join } from 'node:path';
import { parseBenchmarkOutput, aggregateRuns, type Metrics } from '../core/decisions/benchmark.js';
import { UpshiftError } from '../core/errors.js';
import type { ExecResult, SourceRepo } from '../core/ports.js';
import { createSourceRepo } from '../adapters/git.js';
import type { BenchmarkRepo, Tier } from '../core/records.js';
import { commandEvidence, type PipelineDeps } from './context.js';

/** Repetitions of a registered suite (the project's own suites say theirs in config). */
export const REGISTERED_REPEAT = 3;

/** One suite as BENCHMARK and captures run it: the project's own, or a registered repository's. */
export interface SuiteSpec {
  name: string;
  command: string;
  repeat: number;
  tier: Tier;
  /** A registered repository's pinned source; null for the project's own suites. */
  repo: { url: string; commit: string } | null;
}

/** Every suite: the configured ones, then the registered ones; narrowed to a tier unless `all`. */
export async function allSuites(deps: Pick<PipelineDeps, 'authority' | 'store'>, tier: Tier | 'all' = 'all'): Promise<SuiteSpec[]> {
  const own = deps.authority.benchmark.suites.map((s): SuiteSpec => ({ name: s.name, command: s.command, repeat: s.repeat, tier: s.tier, repo: null }));
  const registered = (await deps.store.benchmarkRegistry.repos()).map((r): SuiteSpec => ({
    name: r.name, command: r.command, repeat: REGISTERED_REPEAT, tier: r.tier, repo: { url: r.repoUrl, commit: r.commit },
  }));
  return [...own, ...registered].filter((s) => tier === 'all' || s.tier === tier);
}

/** The mirror of a benchmark repository, in the state dir beside the app's. */
export function benchmarkSource(deps: Pick<PipelineDeps, 'config' | 'log'>, name: string, url: string): SourceRepo {
  return createSourceRepo({ remote: url, mirrorDir: join(deps.config.state_dir, 'benchmarks', `${name}.git`), log: deps.log });
}

/** Check a registered suite's pinned commit out into `dir` and hand it to the build user. */
export async function checkoutSuite(deps: PipelineDeps, suite: SuiteSpec, dir: string, signal?: AbortSignal): Promise<void> {
  if (!suite.repo) return;
  const source = benchmarkSource(deps, suite.name, suite.repo.url);
  await deps.sandbox.clear(dir);
  // the pinned commit is in the mirror since registration; fetch only when it is not
  await source.checkout(suite.repo.commit, dir, signal).catch(async () => {
    await source.fetch(signal);
    await source.checkout(suite.repo!.commit, dir, signal);
  });
  await deps.sandbox.handOver(dir);
}

/** A command run as the stage commands are: sandboxed, its own environment, a timeout. */
export type RunCommand = (command: string, cwd: string, vars: Record<string, string>) => Promise<ExecResult>;

export function sandboxedRunner(deps: PipelineDeps, timeoutMs: number, signal?: AbortSignal): RunCommand {
  return async (command, cwd, vars) => {
    await deps.sandbox.ready();
    const as = deps.sandbox.spawnAs({ CI: 'true', ...vars });
    return deps.exec.run({ command, cwd, timeoutMs, ...(signal ? { signal } : {}), ...as, inheritEnv: false });
  };
}

export type Measured =
  | { ok: true; metrics: Metrics; samples: Metrics[] }
  | { ok: false; reason: string; code: 'E_TIMEOUT' | 'E_COMMAND_FAILED' | 'E_CANCELLED'; evidence: Record<string, unknown> };

/** Run a suite `repeat` times in `cwd`; medians of what it printed, or why there are none. */
export async function measureSuite(suite: SuiteSpec, cwd: string, vars: Record<string, string>, run: RunCommand): Promise<Measured> {
  const samples: Metrics[] = [];
  for (let i = 0; i < suite.repeat; i++) {
    const result = await run(suite.command, cwd, vars);
    const { evidence, problem } = commandEvidence(result);
    if (problem) return { ok: false, reason: `benchmark ${suite.name} (repetition ${i + 1}): ${problem.reason}`, code: problem.code, evidence };
    try {
      samples.push(parseBenchmarkOutput(result.stdout));
    } catch (err) {
      return { ok: false, reason: `benchmark ${suite.name}: ${(err as Error).message}`, code: 'E_COMMAND_FAILED', evidence };
    }
  }
  return { ok: true, metrics: aggregateRuns(samples), samples };
}

/** The record of a registered repository, or E_USAGE naming the registered ones. */
export async function requireRepo(deps: Pick<PipelineDeps, 'store'>, name: string): Promise<BenchmarkRepo> {
  const repo = await deps.store.benchmarkRegistry.repo(name);
  if (!repo) throw new UpshiftError('E_USAGE', `no benchmark repository is registered as "${name}"`);
  return repo;
}
