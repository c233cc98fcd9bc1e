// After a crash a stage command may still be running, orphaned. Before resuming, kill
// the process groups recorded by earlier attempts, but only when the process still
// carries this run's UPSHIFT_RUN_ID, so a recycled pid is never touched.
import { readFileSync } from 'node:fs';
import type { StateStore } from '../core/ports.js';
import type { Logger } from '../adapters/logger.js';

export async function reapStrayCommands(
  store: StateStore,
  runId: string,
  io: { alive: (pid: number) => boolean; kill: (pid: number, signal: NodeJS.Signals) => void; log: Logger; environOf?: (pid: number) => string | null },
): Promise<number> {
  const environOf = io.environOf ?? readEnviron;
  let reaped = 0;
  for (const stray of await store.strayPids(runId)) {
    if (io.alive(stray.pid) && environOf(stray.pid)?.split('\0').includes(`UPSHIFT_RUN_ID=${runId}`)) {
      io.kill(stray.pid, 'SIGKILL');
      io.log.warn({ runId, stage: stray.stage, pid: stray.pid }, 'killed a stage command left running by a crashed driver');
      reaped++;
    }
    await store.setAttemptPid(runId, stray.stage as never, stray.attempt, null);
  }
  return reaped;
}

function readEnviron(pid: number): string | null {
  try {
    return readFileSync(`/proc/${pid}/environ`, 'latin1');
  } catch {
    return null;
  }
}
