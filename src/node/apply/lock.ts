// The apply lock (SPEC step 1: one apply at a time, whether the OTA timer or gossip asked).
// An exclusive file in the state dir, held for the whole apply, naming its holder. A lock
// whose holder died is broken. The check-then-break runs inside an IMMEDIATE transaction of
// the state database that every contender shares, so two processes can never both decide
// a lock is stale and both take it.
import { randomBytes } from 'node:crypto';
import { readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { UpshiftError } from '../../core/errors.js';
import { processAlive } from '../../adapters/exec.js';
import type { StateStore } from '../../core/ports.js';

export const LOCK_FILE = 'apply.lock';

interface LockBody {
  pid: number;
  /** Process start time (clock ticks since boot): a recycled pid is not the holder. */
  started: string | null;
  token: string;
  holder: string;
  at: number;
}

export class ApplyLock {
  private constructor(readonly path: string, private readonly token: string) {}

  /** Take the lock or throw E_APPLY_LOCKED naming who holds it. */
  static async acquire(stateDir: string, store: StateStore, holder: string, now: number): Promise<ApplyLock> {
    const path = join(stateDir, LOCK_FILE);
    const body: LockBody = { pid: process.pid, started: startTime(process.pid), token: randomBytes(12).toString('hex'), holder, at: now };
    // the state database's write lock makes the look and the take one step across processes
    await store.journal.serialized(() => {
      const held = readLock(path);
      if (held && holderAlive(held)) {
        throw new UpshiftError('E_APPLY_LOCKED', `another apply is in progress (${held.holder}, pid ${held.pid}, since ${new Date(held.at).toISOString()})`, {
          details: { pid: held.pid, holder: held.holder, since: held.at },
        });
      }
      // Absent, unreadable (a holder died between create and write) or held by a dead pid.
      if (held !== undefined) unlinkSync(path);
      writeFileSync(path, JSON.stringify(body), { flag: 'wx', mode: 0o600 });
    });
    return new ApplyLock(path, body.token);
  }

  /** Who holds the lock, if a live process does: a look, not a claim (acquire() decides). */
  static heldBy(stateDir: string): { pid: number; holder: string; since: number } | null {
    const held = readLock(join(stateDir, LOCK_FILE));
    return held && holderAlive(held) ? { pid: held.pid, holder: held.holder, since: held.at } : null;
  }

  /** Remove the file if it is still ours; a lock broken and retaken by another process stays. */
  release(): void {
    const held = readLock(this.path);
    if (held && held.token === this.token) unlinkSync(this.path);
  }
}

/** undefined: no lock file; null: a file that is not a lock body (treated as stale). */
function readLock(path: string): LockBody | null | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new UpshiftError('E_STATE_CORRUPT', `cannot read the apply lock ${path}: ${(err as Error).message}`, { cause: err });
  }
  try {
    const body = JSON.parse(text) as LockBody;
    return Number.isSafeInteger(body.pid) && typeof body.token === 'string' ? body : null;
  } catch {
    return null;
  }
}

function holderAlive(held: LockBody): boolean {
  if (!processAlive(held.pid)) return false;
  const started = startTime(held.pid);
  return held.started === null || started === null || started === held.started;
}

/** Field 22 of /proc/<pid>/stat; null where /proc is not available. */
function startTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}
