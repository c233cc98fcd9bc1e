// A real authority for tests: a sample-app git repo, a workspace with config and keys,
// and the pipeline service wired to real adapters (logs go to a sink the test can read).
import { Writable } from 'node:stream';
import { createLogger } from '../../src/adapters/logger.js';
import { sampleAppFiles, type SampleKnobs } from '../../scripts/demo/sample-app.js';
import { createWorkspace, type Workspace } from '../../scripts/demo/workspace.js';
import { loadConfig } from '../../src/runtime/config-load.js';
import { openStore, pipelineDeps, type Overrides } from '../../src/runtime/deps.js';
import type { StateStore } from '../../src/core/store-ports.js';
import { PipelineService } from '../../src/runtime/pipeline-service.js';
import { gitRepo, type GitRepo } from './gitdir.js';
import { tempDir } from './tmp.js';

export interface TestAuthority {
  repo: GitRepo;
  ws: Workspace;
  service: PipelineService;
  logs: Array<Record<string, unknown>>;
  /** Commit a version of the sample app on the repo's branch (main unless `branch`); returns the commit SHA. */
  commitVersion(k: SampleKnobs): string;
  close(): void;
}

export async function testAuthority(t: Tap.Test, opts: {
  authority?: Record<string, unknown>; overrides?: Overrides; branch?: string;
  /** The state store (the state dir's SQLite one unless given; the PostgreSQL tests give theirs). */
  openStore?: (stateDir: string) => Promise<StateStore>;
} = {}): Promise<TestAuthority> {
  const repo = gitRepo(t, opts.branch ? { branch: opts.branch } : {});
  const commitVersion = (k: SampleKnobs) => repo.commit(`version ${k.version}`, sampleAppFiles(k));
  commitVersion({ version: 'v1.0.0', latencyMs: 10 });
  const ws = await createWorkspace(tempDir(t, 'upshift-ws-'), { source: repo.dir, ...(opts.authority ? { authority: opts.authority } : {}) });
  const { config } = loadConfig(ws.configPath);
  const store = opts.openStore ? await opts.openStore(config.state_dir) : openStore(config.state_dir);
  const logs: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      for (const line of String(chunk).split('\n').filter(Boolean)) logs.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  const service = new PipelineService(pipelineDeps(config, store, createLogger({ level: 'info', destination: sink }), opts.overrides));
  const close = () => void store.close();
  t.teardown(async () => { await store.close(); });
  return { repo, ws, service, logs, commitVersion, close };
}

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Tap {
    interface Test {
      teardown(fn: () => void | Promise<void>): void;
    }
  }
}
