// SPEC step 6, start-up: an apply a dead process left open is finished from what the
// journal says and what `current` actually points at, never from what was in memory.
//   verified / staged       → abandoned (nothing was switched; its release dir removed)
//   switching               → current at the new release: restart, then a fresh probation;
//                             current still at the old one: rolled back (nothing ran)
//   probation               → continue to the stored deadlines: confirmed or rolled back
//   rolling_back            → finish switching back, restart, mark bad
//   blue-green (app.blue_green): switching / probation → confirmed if slots.json had flipped
//                             to it, else its slot stopped and rolled back (blue-green.ts)
// Afterwards `current` is valid and the journal has no open apply. An open apply below
// the floor on disk is a journal restored from an old backup: abandoned, nothing touched.
// An apply that keeps killing its process is not started again forever: see stopRetrying.
import type { ApplyRecord } from '../../core/records.js';
import { UpshiftError } from '../../core/errors.js';
import {
  enterProbation, failureOf, finishRollback, probation, removeRelease, rollBack, saveDiskFloor,
} from './activate.js';
import { ensureAppDir } from './app-dir.js';
import { reconcileBlueGreen, retireSlot } from './blue-green.js';
import { readDiskFloor } from './disk-floor.js';
import { isCancel, type ApplyContext } from './context.js';
import { currentRelease, removeStrayLinks } from './switch.js';

export interface Reconciled {
  apply: number;
  from: string;
  to: string;
  reason: string | null;
}

/** After this many applies of one manifest were left open by a dead process, it is marked bad. */
export const MAX_INTERRUPTED_APPLIES = 3;

/** Finish the open apply, if any. The caller holds the apply lock. */
export async function reconcileOpen(ctx: ApplyContext): Promise<Reconciled | null> {
  removeStrayLinks(ctx.appDir);
  await syncDiskFloors(ctx);
  const open = await ctx.deps.tables.open();
  // a drain the dead process did not finish: its proxy (and so its connections) went with it, or the wait resumes
  if (!open) {
    if (ctx.deps.app.blue_green) await retireSlot(ctx);
    return null;
  }
  ctx.deps.log?.warn({ module: 'apply', apply: open.id, state: open.state }, 'reconciling an apply left open by a restart');
  await ctx.deps.tables.noteInterrupted(open.id, `found ${open.state} after the process applying it died or was stopped`, ctx.now());
  const floor = readDiskFloor(ctx.appDir, open.track)?.seq ?? 0;
  const stale = `the journal is older than the floor ${floor} on disk (a restored database); current left as it is`;
  const done = open.seq < floor
    ? await ctx.move(open, 'abandoned', stale, { reason: 'below the floor on disk' })
    : await finish(ctx, open);
  await ctx.event('apply.reconciled', { apply: open.id, from: open.state, to: done.state, reason: done.reason });
  if (open.seq >= floor) await stopRetrying(ctx, done);
  if (ctx.deps.app.blue_green) await retireSlot(ctx);
  return { apply: open.id, from: open.state, to: done.state, reason: done.reason };
}

/** Floor files behind the database's confirmed applies (written by an older upshift, or a failed write). */
async function syncDiskFloors(ctx: ApplyContext): Promise<void> {
  for (const a of await ctx.deps.tables.latestConfirmedPerTrack()) {
    if ((readDiskFloor(ctx.appDir, a.track)?.seq ?? 0) >= a.seq) continue;
    ensureAppDir(ctx.appDir);
    saveDiskFloor(ctx, a);
  }
}

/**
 * A manifest whose apply kills the process (something in the release, the OOM killer) would
 * be applied again at every start (resume()) and kill it again, on every node that has it.
 * After MAX_INTERRUPTED_APPLIES interrupted applies that did not end confirmed, the version
 * is marked bad, so resume() and gossip refuse it (E_BAD_VERSION) until an operator unmarks it.
 */
async function stopRetrying(ctx: ApplyContext, done: ApplyRecord): Promise<void> {
  if (done.state === 'confirmed') return;
  const { tables } = ctx.deps;
  const times = await tables.interruptions(done.track, done.seq, done.commit);
  if (times < MAX_INTERRUPTED_APPLIES || await tables.badMark(done.track, done.commit, done.version)) return;
  const reason = `the apply of ${done.track}#${done.seq} was interrupted ${times} times (the process applying it died or was stopped before it finished); not tried again`;
  await tables.markBad({ track: done.track, commit: done.commit, version: done.version, reason, at: ctx.now() });
  await ctx.event('apply.marked_bad', { apply: done.id, track: done.track, seq: done.seq, version: done.version, commit: done.commit, reason });
  ctx.deps.log?.warn({ module: 'apply', apply: done.id, track: done.track, version: done.version }, reason);
}

async function finish(ctx: ApplyContext, open: ApplyRecord): Promise<ApplyRecord> {
  const on = currentRelease(ctx.appDir);
  switch (open.state) {
    case 'verified':
    case 'staged': {
      const done = await ctx.move(open, 'abandoned', `interrupted while ${open.state}; nothing was switched`, { reason: `interrupted while ${open.state}` });
      removeRelease(ctx, done);
      return done;
    }
    case 'switching':
    case 'probation':
      if (ctx.deps.app.blue_green) return reconcileBlueGreen(ctx, open);
      return open.state === 'switching' ? finishSwitch(ctx, open, on) : finishProbation(ctx, open, on);
    case 'rolling_back':
      return finishRollback(ctx, open);
    default:
      throw new UpshiftError('E_INTERNAL', `apply #${open.id} is ${open.state}, which is not open`);
  }
}

async function finishSwitch(ctx: ApplyContext, open: ApplyRecord, on: string | null): Promise<ApplyRecord> {
  if (on !== open.releaseDir) return rollBack(ctx, open, { code: 'E_CANCELLED', reason: `interrupted while switching`, markBad: false });
  // The restart may or may not have run; restart commands are idempotent by nature.
  try {
    await ctx.runCommand('restart', ctx.deps.app.restart, open.releaseDir, 'reconcile');
  } catch (err) {
    if (isCancel(err)) throw err;
    return rollBack(ctx, open, failureOf(err));
  }
  return probation(ctx, await enterProbation(ctx, open, 'restarted after an interrupted switch'));
}

async function finishProbation(ctx: ApplyContext, open: ApplyRecord, on: string | null): Promise<ApplyRecord> {
  if (on !== open.releaseDir) return rollBack(ctx, open, { code: 'E_HEALTH', reason: `current is ${on ?? '(none)'}, not the release on probation`, markBad: false });
  return probation(ctx, open);
}
