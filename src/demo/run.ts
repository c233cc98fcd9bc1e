// The demo: a sample app in a temp git repo, an authority workspace, and four versions
// through the real pipeline: a baseline, a good release, a benchmark regression (rolled
// back) and a broken test suite (failed). Everything lives in a temp dir removed at the end.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExitCode } from '../core/errors.js';
import { formatDuration } from '../core/duration.js';
import type { Run } from '../core/run.js';
import { createLogger } from '../adapters/logger.js';
import { loadConfig } from '../runtime/config-load.js';
import { openStore, pipelineDeps } from '../runtime/deps.js';
import { PipelineService } from '../runtime/pipeline-service.js';
import { sampleAppFiles, type SampleKnobs } from './sample-app.js';
import { createWorkspace } from './workspace.js';
import { stageLine } from '../cli/render.js';

const STEPS: Array<{ knobs: SampleKnobs; story: string; expect: Run['status'] }> = [
  { knobs: { version: 'v1', latencyMs: 10 }, story: 'first version: records the benchmark baseline', expect: 'completed' },
  { knobs: { version: 'v2', latencyMs: 9 }, story: 'a faster version: passes every gate', expect: 'completed' },
  { knobs: { version: 'v3', latencyMs: 14 }, story: 'latency +55%: the benchmark gate rolls it back', expect: 'rolled_back' },
  { knobs: { version: 'v4', latencyMs: 9, failingTests: 3 }, story: '3 of 20 tests fail: the test gate stops it', expect: 'failed' },
];

export async function runDemo(opts: { keep: boolean; out: NodeJS.WritableStream }): Promise<ExitCode> {
  const say = (s: string) => opts.out.write(`${s}\n`);
  const dir = mkdtempSync(join(tmpdir(), 'upshift-demo-'));
  const repoDir = join(dir, 'app');
  const git = (...args: string[]) =>
    execFileSync('git', ['-c', 'user.name=upshift demo', '-c', 'user.email=demo@upshift.invalid', '-c', 'commit.gpgsign=false', ...args], { cwd: repoDir, stdio: 'pipe' });
  try {
    execFileSync('git', ['init', '-q', '-b', 'main', repoDir]);
    const ws = await createWorkspace(join(dir, 'authority'), { source: repoDir });
    say(`upshift demo in ${dir}`);
    say('the authority runs alone here: the multi-node demo (peers over gossip, canaries, apply) is not implemented yet, so canary has no candidates and deploy releases to the authority\'s own node.\n');
    const { config } = loadConfig(ws.configPath);
    const store = openStore(config.state_dir);
    const service = new PipelineService(pipelineDeps(config, store, createLogger({ level: 'silent' })));
    const rows: Array<{ version: string; run: Run; took: number; ok: boolean; stoppedAt: string | null }> = [];
    for (const step of STEPS) {
      for (const [path, content] of Object.entries(sampleAppFiles(step.knobs))) writeFileSync(join(repoDir, path), content);
      git('add', '-A');
      git('commit', '-q', '-m', `sample app ${step.knobs.version}`);
      say(`── ${step.knobs.version}: ${step.story}`);
      const started = Date.now();
      const { run } = service.startOrFind(await service.resolve('main'));
      let printed = 0;
      const done = await service.orchestrator.drive(run.id, {
        onState: () => {
          const results = store.stageResults(run.id);
          for (const r of results.slice(printed)) say(stageLine(r));
          printed = results.length;
        },
      });
      for (const r of store.stageResults(run.id).slice(printed)) say(stageLine(r));
      const stopped = store.stageResults(run.id).find((r) => r.outcome === 'failed' || r.outcome === 'rolled_back');
      rows.push({ version: step.knobs.version, run: done, took: Date.now() - started, ok: done.status === step.expect, stoppedAt: stopped?.stage ?? null });
      say('');
    }
    say('summary');
    say('  version  run            status       stopped at    took    as expected');
    for (const r of rows) {
      say(`  ${r.version.padEnd(8)} ${r.run.id.padEnd(14)} ${r.run.status.padEnd(12)} ${(r.stoppedAt ?? '-').padEnd(13)} ${formatDuration(r.took).padStart(6)}  ${r.ok ? 'yes' : 'NO'}`);
    }
    const manifests = store.manifests.list('testnet');
    say(`\nsigned manifests: ${manifests.map((m) => `testnet#${m.seq} (${m.version.slice(0, 12)})`).join(', ')}`);
    say(`authority floor for testnet: ${store.floors.get('testnet') ?? '-'}`);
    store.close();
    return rows.every((r) => r.ok) ? 0 : 1;
  } finally {
    if (opts.keep) say(`kept ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }
}
