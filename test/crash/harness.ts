// kill -9 harness: a real `upshift pipeline run` child, killed at a failpoint or while a
// stage command runs, then started again to finish the run.
import { chmodSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sampleAppFiles } from '../../scripts/demo/sample-app.js';
import { createWorkspace, localSandbox, type Workspace } from '../../scripts/demo/workspace.js';
import { openStore } from '../../src/runtime/deps.js';
import type { Store } from '../../src/adapters/sqlite/store.js';
import { gitRepo } from '../helpers/gitdir.js';
import { CLI_PATH as CLI } from '../helpers/paths.js';
import { spawnChild } from '../helpers/procs.js';
import { WAIT } from '../helpers/timeouts.js';
import { tempDir } from '../helpers/tmp.js';

export { processGone } from '../helpers/procs.js';

export interface Child {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface CrashBed {
  ws: Workspace;
  counts: string;
  marker: string;
  /** Run `pipeline run --ref main` with extra env; resolves when the child exits. */
  run(env?: Record<string, string>, onSpawn?: (pid: number) => void): Promise<Child>;
  /** How many times each stage's command ran. */
  ran(): Record<string, number>;
  store(): Store;
}

export async function crashBed(t: { teardown(fn: () => void | Promise<void>): void }): Promise<CrashBed> {
  const repo = gitRepo(t);
  repo.commit('v1', sampleAppFiles({ version: 'v1', latencyMs: 10 }));
  // the sample app's knobs come from the daemon's environment, so the sandbox passes them on
  const sandbox = localSandbox(['SAMPLE_COUNTS', 'SAMPLE_HOLD', 'SAMPLE_HOLD_MARKER']);
  const ws = await createWorkspace(tempDir(t, 'upshift-crash-'), { source: repo.dir, authority: { sandbox } });
  // where the stage commands, running as the build user, leave their traces
  const shared = join(ws.dir, 'shared');
  mkdirSync(shared);
  chmodSync(shared, 0o777);
  const counts = join(shared, 'counts.txt');
  const marker = join(shared, 'hold.marker');
  const run = (env: Record<string, string> = {}, onSpawn?: (pid: number) => void) =>
    new Promise<Child>((resolve) => {
      const child = spawnChild(t, process.execPath, [CLI, '--config', ws.configPath, 'pipeline', 'run', '--ref', 'main'], {
        env: { UPSHIFT_LOG_LEVEL: 'warn', SAMPLE_COUNTS: counts, SAMPLE_HOLD_MARKER: marker, ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout!.on('data', (d) => (stdout += d));
      child.stderr!.on('data', (d) => (stderr += d));
      if (child.pid) onSpawn?.(child.pid);
      // 'exit' can come before the last of the output is read (the resumed run's "resuming run"
      // went missing with cases side by side): a run that ended by itself is done at 'close', once
      // both pipes are drained. A killed one is done at 'exit': its orphaned stage command may
      // hold the pipes open for as long as it runs.
      child.on('exit', (code, signal) => {
        if (signal !== null) resolve({ code, signal, stdout, stderr });
      });
      child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
    });
  const ran = () => {
    const out: Record<string, number> = {};
    if (!existsSync(counts)) return out;
    for (const line of readFileSync(counts, 'utf8').split('\n').filter(Boolean)) out[line] = (out[line] ?? 0) + 1;
    return out;
  };
  const store = () => {
    const s = openStore(ws.stateDir);
    t.teardown(() => s.close());
    return s;
  };
  return { ws, counts, marker, run, ran, store };
}

/** Wait until a file exists with content (the stage command is running), polling. */
export async function waitForFile(path: string, timeoutMs = WAIT.run): Promise<void> {
  const until = Date.now() + timeoutMs;
  // the file appears before its content is written: wait for both
  while (!existsSync(path) || readFileSync(path, 'utf8') === '') {
    if (Date.now() > until) throw new Error(`timed out waiting for ${path}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
