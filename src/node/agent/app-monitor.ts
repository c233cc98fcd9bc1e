// What a node's heartbeat says about its app: the health probe's latest answer, the error
// rate read from the app's metrics over a sliding window, and the code hash of the release
// `current` points at, computed again every `attest_every` so a checkout changed on disk
// after its install shows up in the next heartbeat.
import parsePrometheus from 'parse-prometheus-text-format';
import type { AppConfig } from '../../core/config.js';
import { toUpshiftError } from '../../core/errors.js';
import { StatCache } from '../../adapters/stat-cache.js';
import { TreeWatch } from '../../adapters/tree-watch.js';
import type { ApplyLog } from '../apply/context.js';
import { probeHealth } from '../apply/probe.js';
import { getText } from './get-text.js';
import { currentRelease } from '../apply/switch.js';
import { join } from 'node:path';

export interface AppSnapshot {
  health: 'ok' | 'failing' | 'unknown';
  healthDetail: string;
  errorRate: number | null;
  /**
   * The release `current` named when it was last hashed, and its code hash; hash null when the
   * tree could not be hashed (a file gone, a symlink in its place): reported as no hash, never the last good one.
   */
  attested: { release: string; hash: string | null; at: number } | null;
}

interface CounterSample {
  at: number;
  errors: number;
  requests: number | null;
}

export interface AppMonitorDeps {
  app: AppConfig;
  /** Absolute app dir (releases/ and current live here). */
  appDir: string;
  clock: { now(): number };
  /** With a cache: a re-attestation (adapters/code-hash-files.ts, stat-cache.ts). */
  codeHash: (dir: string, opts?: { cache?: StatCache; watch?: TreeWatch }) => Promise<{ hash: string }>;
  log?: ApplyLog;
  /** Default: a StatCache on the wall clock. */
  statCache?: StatCache;
  /** Default: a TreeWatch (only directories that reported a change are stat'ed; tree-watch.ts). */
  treeWatch?: TreeWatch;
}

/** The sum of every sample of one metric family (all label sets), or null when absent. */
export function readCounter(text: string, name: string): number | null {
  // Only the family's own lines are parsed: an app's page is mostly other families, and it
  // is read every health.interval. Comments name the family after `# HELP ` / `# TYPE `.
  const own = text.split('\n').filter((line) => {
    const rest = line.startsWith('# HELP ') || line.startsWith('# TYPE ') ? line.slice(7) : line;
    return rest.startsWith(name) && /^[\s{]/.test(rest.slice(name.length));
  });
  const family = parsePrometheus(`${own.join('\n')}\n`).find((f) => f.name === name);
  if (!family) return null;
  let sum = 0;
  for (const m of family.metrics) {
    const v = Number(m.value);
    if (!Number.isFinite(v)) return null;
    sum += v;
  }
  return sum;
}

/** Errors per request (or per second without a request counter) between the oldest and newest sample. */
export function errorRate(samples: readonly CounterSample[]): number | null {
  const first = samples[0];
  const last = samples.at(-1);
  if (!first || !last || first === last) return null;
  const errors = last.errors - first.errors;
  if (last.requests !== null && first.requests !== null) {
    const requests = last.requests - first.requests;
    return requests > 0 ? errors / requests : 0;
  }
  const seconds = (last.at - first.at) / 1000;
  return seconds > 0 ? errors / seconds : null;
}

export class AppMonitor {
  private health: AppSnapshot['health'] = 'unknown';
  private healthDetail = 'not probed yet';
  private samples: CounterSample[] = [];
  private attested: AppSnapshot['attested'] = null;
  private metricsProblem: string | null = null;
  private readonly statCache: StatCache;
  private readonly treeWatch: TreeWatch;
  /** The tree watch's last failure, once logged. */
  private watchProblem: string | null = null;
  /** When every file was last read (the release and time of the last full hash). */
  private lastFull: { release: string; at: number } | null = null;

  constructor(private readonly deps: AppMonitorDeps) {
    this.statCache = deps.statCache ?? new StatCache();
    this.treeWatch = deps.treeWatch ?? new TreeWatch();
  }

  /** Stops the tree watch (the agent's stop); a later attest() would arm it again. */
  close(): void {
    this.treeWatch.close();
  }

  snapshot(): AppSnapshot {
    return { health: this.health, healthDetail: this.healthDetail, errorRate: errorRate(this.samples), attested: this.attested };
  }

  /** One health probe and one metrics sample (the health.interval timer). */
  async probe(): Promise<void> {
    const { app } = this.deps;
    // a different release behind `current` (or the first one) is attested first; its rate starts afresh
    if (this.currentName() !== (this.attested?.release ?? null)) await this.tryAttest();
    const [health] = await Promise.all([probeHealth(app.health.url, app.health.timeout), this.sampleMetrics()]);
    this.health = health.ok ? 'ok' : 'failing';
    this.healthDetail = health.detail;
  }

  /** attest(), with a failure logged rather than thrown: a hash that fails must not stop the health probe. */
  async tryAttest(): Promise<void> {
    try {
      await this.attest();
    } catch (err) {
      this.deps.log?.warn({ module: 'monitor', code: toUpshiftError(err).code }, `code hash of current: ${(err as Error).message}`);
      // fail closed: a tree that cannot be hashed vouches for nothing (the canary's code-hash check fails on it)
      const release = this.currentName();
      if (release !== null) {
        if (this.attested?.release !== release) this.samples = [];
        this.attested = { release, hash: null, at: this.deps.clock.now() };
      }
    }
  }

  /** Hash the release `current` points at now (the attest_every timer, and after a switch). */
  async attest(): Promise<void> {
    const release = this.currentName();
    if (release === null) {
      this.attested = null;
      return;
    }
    const now = this.deps.clock.now();
    // a new release, and every attest_full_every, is read whole; in between, the stat cache
    const full = this.lastFull?.release !== release || now - this.lastFull.at >= this.deps.app.attest_full_every;
    // the watch too starts afresh: armed again over the new tree by this pass, before its stats
    if (full) {
      this.statCache.clear();
      this.treeWatch.close();
    }
    const { hash } = await this.deps.codeHash(join(this.deps.appDir, 'releases', release), { cache: this.statCache, watch: this.treeWatch });
    if (full) this.lastFull = { release, at: now };
    const problem = this.treeWatch.lastFailure;
    // said once per reason: a watch limit reached would otherwise log every attest_every
    if (problem !== null && problem !== this.watchProblem) this.deps.log?.info({ module: 'monitor' }, `tree watch dropped, files stat'ed again: ${problem}`);
    this.watchProblem = problem;
    // switched while hashing: the release hashed is not what runs; the next probe attests again
    if (this.currentName() !== release) {
      this.treeWatch.close();
      return;
    }
    if (this.attested !== null && this.attested.release !== release) this.samples = [];
    this.attested = { release, hash, at: this.deps.clock.now() };
  }

  private currentName(): string | null {
    try {
      return currentRelease(this.deps.appDir);
    } catch {
      return null;
    }
  }

  private async sampleMetrics(): Promise<void> {
    const metrics = this.deps.app.metrics;
    if (!metrics) return;
    let text: string;
    try {
      text = await getText(metrics.url, this.deps.app.health.timeout);
    } catch (err) {
      const problem = (err as Error).message;
      // said once per change: an app that is down would otherwise log every interval
      if (problem !== this.metricsProblem) this.deps.log?.warn({ module: 'monitor', code: 'E_UNREACHABLE' }, `metrics not read from ${metrics.url}: ${problem}`);
      this.metricsProblem = problem;
      return;
    }
    this.metricsProblem = null;
    const errors = readCounter(text, metrics.errors);
    const requests = metrics.requests ? readCounter(text, metrics.requests) : null;
    if (errors === null) return;
    const now = this.deps.clock.now();
    const last = this.samples.at(-1);
    // a counter that went down means the app restarted: the window starts again
    if (last && (errors < last.errors || (requests !== null && last.requests !== null && requests < last.requests))) this.samples = [];
    this.samples.push({ at: now, errors, requests });
    while (this.samples.length > 2 && (this.samples[0] as CounterSample).at < now - metrics.window) this.samples.shift();
  }
}
