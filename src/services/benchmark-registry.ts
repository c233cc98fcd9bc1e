// register_benchmark and list_benchmarks: benchmark repositories beside the project's own
// suites. A repository is fetched like any pinned source (benchmark-repos.ts), its commit
// recorded, and its command tried once in the sandbox: one that cannot be fetched or prints
// no metrics is refused and leaves nothing behind.
import { randomBytes } from 'node:crypto';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { UpshiftError, toUpshiftError } from '../core/errors.js';
import type { Tier } from '../core/records.js';
import type { PipelineService } from '../runtime/pipeline-service.js';
import {
  allSuites, benchmarkSource, measureSuite, sandboxedRunner, type SuiteSpec,
} from '../stages/benchmark-repos.js';
import type { Outcome } from './context.js';

/** What a registered repository runs when no command is given: a script at its top level. */
export const DEFAULT_BENCH_COMMAND = 'sh ./bench.sh';
const NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;

export interface Registered {
  name: string;
  repo_url: string;
  ref: string;
  commit: string;
  command: string;
  tier: Tier;
  trial_metrics: Record<string, unknown>;
  replaced: boolean;
}

export async function registerBenchmark(
  p: PipelineService,
  input: { repoUrl: string; name: string; command?: string; tier?: Tier; ref?: string; by: string },
): Promise<Outcome<Registered>> {
  const { deps } = p;
  const url = input.repoUrl.trim();
  if (!NAME.test(input.name)) throw new UpshiftError('E_USAGE', `name "${input.name}": expected lowercase letters, digits, "-" or "_" (max 63)`);
  if (!url || url.startsWith('-') || /\s/.test(url)) throw new UpshiftError('E_USAGE', `repo_url ${JSON.stringify(input.repoUrl)} is not a repository address`);
  if (deps.authority.benchmark.suites.some((s) => s.name === input.name)) {
    throw new UpshiftError('E_EXISTS', `"${input.name}" is a suite of the project's own config; pick another name`);
  }
  const registry = deps.store.benchmarkRegistry;
  const before = await registry.repo(input.name);
  if (before && before.repoUrl !== url) {
    throw new UpshiftError('E_EXISTS', `"${input.name}" is registered from ${before.repoUrl}; pick another name`);
  }
  const mirror = join(deps.config.state_dir, 'benchmarks', `${input.name}.git`);
  const fresh = !existsSync(mirror);
  const trialDir = join(deps.workRoot, `register-${input.name}-${randomBytes(4).toString('hex')}`);
  const source = benchmarkSource(deps, input.name, url);
  try {
    try {
      await source.fetch();
    } catch (err) {
      throw new UpshiftError('E_GIT', `cannot fetch benchmark repository ${url}: ${toUpshiftError(err).message}`, { cause: err });
    }
    const ref = input.ref ?? (await source.branchHead('main') ? 'main' : 'master');
    const commit = await source.resolve(ref);
    const suite: SuiteSpec = { name: input.name, command: input.command ?? DEFAULT_BENCH_COMMAND, repeat: 1, tier: input.tier ?? 'heavy', repo: { url, commit } };
    await source.checkout(commit, trialDir);
    await deps.sandbox.handOver(trialDir);
    const trial = await measureSuite(suite, trialDir, { UPSHIFT_BENCH_TRIAL: '1' }, sandboxedRunner(deps, deps.authority.benchmark.timeout));
    if (!trial.ok) {
      throw new UpshiftError(trial.code, `benchmark repository ${url} at ${commit.slice(0, 12)}: ${trial.reason}; not registered`, { details: trial.evidence });
    }
    await registry.save({
      name: input.name, repoUrl: url, ref, commit, command: suite.command, tier: suite.tier, registeredAt: deps.clock.now(), registeredBy: input.by,
    });
    return {
      reason: `${before ? 're-pinned' : 'registered'} benchmark ${input.name}: ${url} at ${commit.slice(0, 12)} (${ref}), tier ${suite.tier}; `
        + `it runs in BENCHMARK from the next run on`,
      evidence: {
        name: input.name, repo_url: url, ref, commit, command: suite.command, tier: suite.tier, trial_metrics: trial.metrics, replaced: before !== null,
      },
    };
  } catch (err) {
    // refused: no mirror left behind for a name that was never registered
    if (fresh && !before) rmSync(mirror, { recursive: true, force: true });
    throw err;
  } finally {
    await deps.sandbox.clear(trialDir).catch(() => undefined);
    await source.removeWorktree(trialDir).catch(() => undefined);
  }
}

export interface SuiteListing {
  name: string;
  tier: Tier;
  command: string;
  source: 'config' | 'registered';
  repo_url: string | null;
  commit: string | null;
  registered_at: string | null;
  registered_by: string | null;
}

export async function listBenchmarks(p: PipelineService): Promise<Outcome<{ suites: SuiteListing[] }>> {
  const repos = await p.deps.store.benchmarkRegistry.repos();
  const suites = (await allSuites(p.deps)).map((s): SuiteListing => {
    const r = repos.find((x) => x.name === s.name && s.repo);
    return {
      name: s.name, tier: s.tier, command: s.command, source: s.repo ? 'registered' : 'config',
      repo_url: r?.repoUrl ?? null, commit: r?.commit ?? null,
      registered_at: r ? new Date(r.registeredAt).toISOString() : null, registered_by: r?.registeredBy ?? null,
    };
  });
  const own = suites.filter((s) => s.source === 'config').length;
  return { reason: `${suites.length} suite(s): ${own} from config, ${suites.length - own} registered`, evidence: { suites } };
}
