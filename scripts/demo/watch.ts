// Watching the authority's state from another process (the demo, tests, the fleet
// benchmark): the daemon writes, WAL lets us read alongside it.
import { UpshiftError } from '../../src/core/errors.js';
import { TERMINAL, type Run, type StageResult } from '../../src/core/run.js';
import type { Store } from '../../src/adapters/sqlite/store.js';

/** Wait until the daemon has made a run of `version` and driven it to a terminal state; each stage result is passed on once as it lands. */
export async function waitForRun(store: Store, track: string, version: string, opts: { onStage?: (r: StageResult) => void; timeoutMs: number }): Promise<Run> {
  const until = Date.now() + opts.timeoutMs;
  let printed = 0;
  for (;;) {
    const run = await store.findRun(track, version);
    if (run) {
      const results = await store.stageResults(run.id);
      for (const r of results.slice(printed)) opts.onStage?.(r);
      printed = results.length;
      if (TERMINAL.has(run.status)) return run;
    }
    if (Date.now() > until) {
      throw new UpshiftError('E_TIMEOUT', run ? `run ${run.id} still ${run.status} after ${opts.timeoutMs / 1000} s` : `no run of ${track} ${version} after ${opts.timeoutMs / 1000} s`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}
