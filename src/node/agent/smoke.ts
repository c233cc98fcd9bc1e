// The on-node smoke benchmark (SPEC canary criterion 5): once a new release runs, its
// `app.smoke.command` runs once in the release dir and prints JSON metrics like a benchmark
// suite; they are compared with the last release on this node that did not regress. Each
// release's verdict is kept, so a switch back to an older release reuses its own.
import { compareBenchmarks, parseBenchmarkOutput, type Metrics } from '../../core/decisions/benchmark.js';
import type { AppConfig } from '../../core/config.js';
import { formatDuration } from '../../core/duration.js';
import { toUpshiftError } from '../../core/errors.js';
import type { Exec } from '../../core/ports.js';
import type { StateStore } from '../../core/ports.js';
import type { ApplyLog } from '../apply/context.js';

const RESULT_PREFIX = 'smoke.result.';
const BASELINE_KEY = 'smoke.baseline';

export interface SmokeVerdict {
  release: string;
  regressed: boolean;
  detail: string;
}

interface Saved extends SmokeVerdict {
  metrics: Metrics | null;
}

export class SmokeRunner {
  private running: Promise<void> | null = null;

  constructor(private readonly deps: { smoke: NonNullable<AppConfig['smoke']>; appDir: string; store: StateStore; exec: Exec; log?: ApplyLog; signal?: AbortSignal }) {}

  /** The verdict of this release, or null while it has not run. */
  async verdict(release: string): Promise<SmokeVerdict | null> {
    const saved = await this.deps.store.kv.get(RESULT_PREFIX + release);
    if (saved === null) return null;
    const { regressed, detail } = JSON.parse(saved) as Saved;
    return { release, regressed, detail };
  }

  /** Run the smoke benchmark of `release` unless it has a verdict or a run is in flight. */
  async ensure(release: string): Promise<void> {
    if (await this.verdict(release) !== null) return;
    this.running ??= this.run(release).finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async run(release: string): Promise<void> {
    const { smoke, store, exec, appDir } = this.deps;
    const res = await exec.run({ command: smoke.command, cwd: `${appDir}/releases/${release}`, timeoutMs: smoke.timeout, env: { UPSHIFT_RELEASE: release }, tailBytes: 4096, ...(this.deps.signal ? { signal: this.deps.signal } : {}) });
    let saved: Saved;
    if (res.cancelled) return; // shutdown: no verdict, so it runs again after the restart
    if (res.exitCode !== 0 || res.timedOut) {
      const how = res.timedOut ? `did not finish within app.smoke.timeout (${formatDuration(smoke.timeout)})` : `exited with code ${String(res.exitCode)}`;
      saved = { release, regressed: true, detail: `smoke command ${how}`, metrics: null };
    } else {
      try {
        const metrics = parseBenchmarkOutput(res.stdout);
        const base = await store.kv.get(BASELINE_KEY);
        const baseline = base ? (JSON.parse(base) as { release: string; metrics: Metrics }) : null;
        const cmp = compareBenchmarks(baseline && { version: baseline.release, metrics: baseline.metrics }, metrics, smoke.tolerance);
        saved = { release, regressed: cmp.verdict === 'regressed', detail: cmp.reason.slice(0, 300), metrics };
      } catch (err) {
        saved = { release, regressed: true, detail: `smoke output: ${toUpshiftError(err).message}`.slice(0, 300), metrics: null };
      }
    }
    await store.kv.setMany({
      [RESULT_PREFIX + release]: JSON.stringify(saved),
      ...(!saved.regressed && saved.metrics ? { [BASELINE_KEY]: JSON.stringify({ release, metrics: saved.metrics }) } : {}),
    });
    this.deps.log?.[saved.regressed ? 'warn' : 'info']({ module: 'smoke', release }, `smoke benchmark: ${saved.detail}`);
  }
}
