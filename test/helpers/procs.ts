// Start child processes from a test: spawnChild(t, cmd, args, opts) puts the child in a
// process group of its own and kills that group when the test ends, whatever happened.
// Use it (or LoopbackFleet / runCli, which use the same spawnGroup) for every process a
// test starts; do not call child_process.spawn directly.
//
// When a test process dies without running its teardowns (tap's timeout, SIGKILL), the
// watchdog of test/helpers/reaper.mjs kills what it started: every child inherits the
// scope mark through its environment, so pass `env` as additions (undefined removes a
// variable) rather than a whole new environment.
import { readFileSync } from 'node:fs';
import type { ChildProcess, SpawnOptions } from 'node:child_process';
import { spawnGroup, stopGroup } from '../../scripts/demo/procs.js';

export { PROCESS_SCOPE_VAR, childEnv, signalGroup, spawnGroup, stopGroup } from '../../scripts/demo/procs.js';

interface Teardownable {
  teardown(fn: () => void | Promise<void>): void;
}

export type ChildOptions = Omit<SpawnOptions, 'detached' | 'env'> & { env?: Record<string, string | undefined> };

/** spawnGroup, plus a teardown that SIGKILLs the child's group when the test ends. */
export function spawnChild(t: Teardownable, command: string, args: readonly string[], opts: ChildOptions = {}): ChildProcess {
  const child = spawnGroup(command, args, opts);
  t.teardown(() => stopGroup(child, 'SIGKILL'));
  return child;
}

/** Gone, or a zombie: this sandbox's PID 1 does not reap orphans, so a killed orphan lingers as Z. */
export function processGone(pid: number): boolean {
  try {
    return /^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return true;
  }
}

/** Resolves once `pid` is gone (see processGone), polling; rejects after `timeoutMs`. */
export async function waitGone(pid: number, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!processGone(pid)) {
    if (Date.now() > until) throw new Error(`process ${pid} is still running after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
