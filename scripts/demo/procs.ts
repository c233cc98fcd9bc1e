// Child processes that can always be taken down: every daemon, sample app or CLI process
// that the demo or a test starts goes through spawnGroup, which puts it in a process group
// of its own (pgid = pid) so that stopGroup reaches everything it started, not just the
// direct child.
//
// Under tap there is a second line of defence: test/helpers/reaper.mjs, loaded into every
// test process, marks it with PROCESS_SCOPE_VAR; every process started from it inherits
// the mark, and a watchdog kills all marked processes (and their descendants) as soon as
// the test process is gone, even when it was SIGKILLed or timed out. So a child's `env` is
// given as additions to this process's environment (childEnv), never as a new one.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';

/** Set by test/helpers/reaper.mjs in each test process; the name is repeated there. */
export const PROCESS_SCOPE_VAR = 'TEST_REAPER_SCOPE';

/** `env` on top of this process's environment (with its scope mark); undefined removes a variable. */
export function childEnv(env: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = { ...process.env, ...env };
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete out[k];
  return out;
}

/** spawn() in a new process group; `env` is merged over this process's (see childEnv). */
export function spawnGroup(
  command: string,
  args: readonly string[],
  opts: Omit<SpawnOptions, 'detached' | 'env'> & { env?: Record<string, string | undefined> } = {},
): ChildProcess {
  const { env, ...rest } = opts;
  return spawn(command, args, { ...rest, env: childEnv(env), detached: true });
}

/** Signal the child's whole group; false when it is gone already. */
export function signalGroup(child: ChildProcess, signal: NodeJS.Signals = 'SIGKILL'): boolean {
  if (child.pid === undefined) return false;
  try {
    process.kill(-child.pid, signal);
    return true;
  } catch {
    return false;
  }
}

export const exited = (child: ChildProcess): boolean => child.exitCode !== null || child.signalCode !== null;

/**
 * Stop a child and everything in its group: `signal` to the group, SIGKILL to the group
 * after `graceMs`, resolves once the child itself has exited. Safe to call twice.
 */
export async function stopGroup(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM', graceMs = 25_000): Promise<void> {
  // long gone: its pid may be reused by now, so its group number is not ours to signal
  if (exited(child)) return;
  const done = new Promise<void>((resolve) =>
    child.once('exit', () => {
      signalGroup(child, 'SIGKILL'); // what it left behind in its group, before the pid can be reused
      resolve();
    }),
  );
  signalGroup(child, signal);
  const timer = setTimeout(() => signalGroup(child, 'SIGKILL'), graceMs);
  await done;
  clearTimeout(timer);
}
