// Orchestration overhead: whole pipeline runs whose commands do nothing (`true`, or an
// echo where a stage must read a result), from run creation to `completed`. What is left
// is upshift's own cost: checkout, code hash, persistence, signing, process spawns.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../../src/adapters/logger.js';
import { createWorkspace, letBuildUserThrough } from '../demo/workspace.js';
import { loadConfig } from '../../src/runtime/config-load.js';
import { openStore, pipelineDeps } from '../../src/runtime/deps.js';
import { PipelineService } from '../../src/runtime/pipeline-service.js';

const NOOP = {
  build: { command: 'true', timeout: '1m' },
  test: { command: 'echo "1 passed, 0 failed"', timeout: '1m' },
  audit: { commands: ['true'], protected_paths: ['LICENSE'], timeout: '1m' },
  benchmark: { suites: [{ name: 'noop', command: `echo '{"noop":{"value":1,"better":"lower"}}'`, repeat: 1 }], tolerance: 0.05 },
};

export async function benchOverhead(opts: { runs: number } = { runs: 5 }): Promise<object> {
  const dir = mkdtempSync(join(tmpdir(), 'upshift-bench-overhead-'));
  try {
    const repo = join(dir, 'app');
    const git = (...args: string[]) => execFileSync('git', ['-c', 'user.name=bench', '-c', 'user.email=bench@upshift.invalid', ...args], { cwd: repo, stdio: 'pipe' });
    execFileSync('git', ['init', '-q', '-b', 'main', repo]);
    letBuildUserThrough(dir);
    const ws = await createWorkspace(join(dir, 'authority'), { source: repo, authority: NOOP });
    const { config } = loadConfig(ws.configPath);
    const store = openStore(config.state_dir);
    const service = new PipelineService(pipelineDeps(config, store, createLogger({ level: 'silent' })));
    const totals: number[] = [];
    const commands: number[] = [];
    for (let i = 0; i <= opts.runs; i++) {
      writeFileSync(join(repo, 'README.md'), `run ${i}\n`);
      git('add', '-A');
      git('commit', '-q', '-m', `run ${i}`);
      const started = performance.now();
      const { run } = await service.startOrFind(await service.resolve('main'));
      const done = await service.orchestrator.drive(run.id);
      const took = performance.now() - started;
      if (done.status !== 'completed') throw new Error(`overhead run ${run.id} ended ${done.status}: ${done.reason}`);
      if (i === 0) continue; // warm-up: first mirror fetch, first baseline
      totals.push(took);
      commands.push((await store.stageResults(run.id)).reduce((sum, r) => sum + commandMs(r.evidence), 0));
    }
    store.close();
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
    const total = median(totals);
    return {
      name: 'orchestration_overhead',
      runs: opts.runs,
      whole_run_ms: { median: round(total), min: round(Math.min(...totals)), max: round(Math.max(...totals)) },
      command_ms_median: round(median(commands)),
      overhead_ms_median: round(total - median(commands)),
      target_ms: 1000,
      meets_target: total <= 1000,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function commandMs(evidence: Record<string, unknown>): number {
  let ms = typeof evidence.duration_ms === 'number' ? evidence.duration_ms : 0;
  for (const c of (evidence.commands as Array<{ duration_ms?: number }> | undefined) ?? []) ms += c.duration_ms ?? 0;
  return ms;
}

const round = (n: number) => Math.round(n * 10) / 10;
