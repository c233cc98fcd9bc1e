// Orchestration overhead: whole pipeline runs whose commands do nothing (`true`, or an
// echo where a stage must read a result), from run creation to `completed`. What is left
// is upshift's own cost: checkout, code hash, persistence, signing, process spawns.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../../src/adapters/logger.js';
import { createWorkspace, letBuildUserThrough } from '../demo/workspace.js';
import { loadConfig } from '../../src/runtime/config-load.js';
import { openStore, pipelineDeps } from '../../src/runtime/deps.js';
import { PipelineService } from '../../src/runtime/pipeline-service.js';
import { Leadership } from '../../src/adapters/postgres/leader.js';
import { leaderSession } from '../../src/adapters/postgres/session.js';
import { PgStore } from '../../src/adapters/postgres/store.js';
import type { StateStore } from '../../src/core/store-ports.js';
import { startPostgres } from '../../test/helpers/postgres.js';

const NOOP = {
  build: { command: 'true', timeout: '1m' },
  test: { command: 'echo "1 passed, 0 failed"', timeout: '1m' },
  audit: { commands: ['true'], protected_paths: ['LICENSE'], timeout: '1m' },
  benchmark: { suites: [{ name: 'noop', command: `echo '{"noop":{"value":1,"better":"lower"}}'`, repeat: 1 }], tolerance: 0.05 },
};

/** The same runs on SQLite and on PostgreSQL (a leader's fenced session), and their ratio. */
export async function benchOverhead(opts: { runs: number } = { runs: 5 }): Promise<object> {
  const sqlite = await overheadOn('sqlite', opts.runs);
  const postgres = await overheadOn('postgres', opts.runs);
  const ratio = Math.round((postgres.whole_run_ms.median / sqlite.whole_run_ms.median) * 100) / 100;
  return { name: 'orchestration_overhead', ...sqlite, postgres, postgres_over_sqlite: ratio, target_postgres_ratio: 1.5 };
}

async function overheadOn(kind: 'sqlite' | 'postgres', runs: number) {
  const dir = mkdtempSync(join(tmpdir(), 'upshift-bench-overhead-'));
  const cleanups: Array<() => unknown> = [];
  const opts = { runs };
  try {
    const repo = join(dir, 'app');
    const git = (...args: string[]) => execFileSync('git', ['-c', 'user.name=bench', '-c', 'user.email=bench@upshift.invalid', ...args], { cwd: repo, stdio: 'pipe' });
    execFileSync('git', ['init', '-q', '-b', 'main', repo]);
    letBuildUserThrough(dir);
    const ws = await createWorkspace(join(dir, 'authority'), { source: repo, authority: NOOP });
    const { config } = loadConfig(ws.configPath);
    let store: StateStore = openStore(config.state_dir);
    if (kind === 'postgres') {
      const db = await startPostgres({ teardown: (fn) => void cleanups.unshift(fn) });
      const target = { hosts: [db.host], database: db.database, user: db.user };
      await (await PgStore.open(target, { now: () => Date.now(), local: openStore(mkdirSync(join(dir, 'probe'), { recursive: true }) as string) })).close(); // the schema
      const leader = await Leadership.campaign({ target, fleet: 'bench', replica: 'bench', stallTimeoutMs: 10_000 });
      cleanups.unshift(() => leader.resign());
      store = await PgStore.open(target, { now: () => Date.now(), local: store, session: (pool) => leaderSession(pool, leader) });
    }
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
    await store.close();
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
    const total = median(totals);
    return {
      store: kind,
      runs: opts.runs,
      whole_run_ms: { median: round(total), min: round(Math.min(...totals)), max: round(Math.max(...totals)) },
      command_ms_median: round(median(commands)),
      overhead_ms_median: round(total - median(commands)),
      target_ms: 1000,
      meets_target: total <= 1000,
    };
  } finally {
    for (const fn of cleanups) await fn();
    rmSync(dir, { recursive: true, force: true });
  }
}

function commandMs(evidence: Record<string, unknown>): number {
  let ms = typeof evidence.duration_ms === 'number' ? evidence.duration_ms : 0;
  for (const c of (evidence.commands as Array<{ duration_ms?: number }> | undefined) ?? []) ms += c.duration_ms ?? 0;
  return ms;
}

const round = (n: number) => Math.round(n * 10) / 10;
