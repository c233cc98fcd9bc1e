// After a crash a stage command may still be running, orphaned. Before resuming, kill
// the process groups recorded by earlier attempts, but only when the process still
// carries this run's UPSHIFT_RUN_ID, so a recycled pid is never touched. A command is
// started before its group is stored (the write follows the spawn), so a crash between the
// two leaves one unrecorded: every running process that carries the mark is found too.
import { readFileSync } from 'node:fs';
import type { StateStore } from '../core/ports.js';
import type { Logger } from '../adapters/logger.js';

export interface ReapIO {
  alive: (pid: number) => boolean;
  kill: (pid: number, signal: NodeJS.Signals) => void;
  log: Logger;
  environOf?: (pid: number) => string | null;
  /** Every running process and its group (exec.ts runningProcesses). */
  processes: () => Array<{ pid: number; pgid: number }>;
}

export async function reapStrayCommands(store: StateStore, runId: string, io: ReapIO): Promise<number> {
  const environOf = io.environOf ?? readEnviron;
  const marked = (pid: number) => environOf(pid)?.split('\0').includes(`UPSHIFT_RUN_ID=${runId}`) === true;
  const killed = new Set<number>();
  for (const stray of await store.strayPids(runId)) {
    if (io.alive(stray.pid) && marked(stray.pid)) {
      io.kill(stray.pid, 'SIGKILL');
      killed.add(stray.pid);
      io.log.warn({ runId, stage: stray.stage, pid: stray.pid }, 'killed a stage command left running by a crashed driver');
    }
    await store.setAttemptPid(runId, stray.stage as never, stray.attempt, null);
  }
  const running = io.processes();
  // never this driver's own group
  const own = running.find((p) => p.pid === process.pid)?.pgid;
  for (const p of running) {
    if (p.pid === process.pid || p.pgid <= 1 || p.pgid === own || killed.has(p.pgid) || !marked(p.pid)) continue;
    io.kill(p.pgid, 'SIGKILL');
    killed.add(p.pgid);
    io.log.warn({ runId, pid: p.pid, group: p.pgid }, 'killed a stage command left running by a crashed driver before its group was recorded');
  }
  return killed.size;
}

function readEnviron(pid: number): string | null {
  try {
    return readFileSync(`/proc/${pid}/environ`, 'latin1');
  } catch {
    return null;
  }
}
