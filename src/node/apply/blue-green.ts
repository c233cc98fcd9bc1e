// Blue-green on one node (README "Blue-green"; issue 12): the staged release starts in the
// idle slot beside the serving one, is probed on that slot's port for the usual probation
// (healthy_deadline, min_healthy), then slots.json flips (the proxy sends new connections
// there), `current` follows, the apply is confirmed, and the old slot is stopped once
// app.blue_green.drain has passed. A release that fails to start or to pass its probe is
// stopped and rolled back without the serving slot ever being touched.
import type { BlueGreenConfig } from '../../core/config.js';
import { UpshiftError, toUpshiftError } from '../../core/errors.js';
import type { ManifestPayload } from '../../core/manifest.js';
import type { ApplyRecord } from '../../core/records.js';
import { confirm, enterProbation, failureOf, removeRelease, watchHealth, type Failure } from './activate.js';
import { isCancel, type ApplyContext } from './context.js';
import { idleSlot, readSlots, slotEnv, slotHealthUrl, writeSlots, type SlotRef } from './slots.js';
import { currentRelease, switchCurrent } from './switch.js';

/** E_NO_BLUE_GREEN for a blue-green release on a node without app.blue_green: it has no second slot. */
export function checkStrategy(p: ManifestPayload, bg: BlueGreenConfig | undefined): void {
  if (p.rollout?.strategy !== 'blue_green' || bg) return;
  const why = 'this node has no app.blue_green (listen, ports, stop): it cannot start a release beside the running one';
  throw new UpshiftError('E_NO_BLUE_GREEN', `${p.track}#${p.seq} (${p.version}) is a blue-green release and ${why}`, {
    details: { track: p.track, seq: p.seq, strategy: 'blue_green' },
  });
}

function configOf(ctx: ApplyContext): BlueGreenConfig {
  const bg = ctx.deps.app.blue_green;
  if (!bg) throw new UpshiftError('E_INTERNAL', 'blue-green apply without app.blue_green');
  return bg;
}

/** staged → switching (start in the idle slot) → probation (probe that slot) → flip → confirmed → drain, stop the old slot. */
export async function activateBlueGreen(ctx: ApplyContext, staged: ApplyRecord): Promise<ApplyRecord> {
  const state = readSlots(ctx.appDir);
  const serving = state?.active ?? null;
  const next = { ...idleSlot(configOf(ctx), state), release: staged.releaseDir };
  const beside = serving ? `beside ${serving.release} in slot ${serving.slot} (port ${serving.port})` : 'no slot serves yet';
  let apply = await ctx.move(staged, 'switching', `starting ${next.release} in slot ${next.slot} (port ${next.port}), ${beside}`);
  try {
    await ctx.runCommand('restart', ctx.deps.app.restart, next.release, 'apply', slotEnv(next));
    ctx.fp('apply:restarted');
  } catch (err) {
    if (isCancel(err)) throw err; // shutting down: reconcile() stops the new slot
    return abandonSlot(ctx, apply, next, failureOf(err));
  }
  apply = await enterProbation(ctx, apply, `started in slot ${next.slot}`);
  const watched = await watchHealth(ctx, apply, slotHealthUrl(ctx.deps.app.health.url, next.port));
  if (!watched.verdict.ok) {
    const reason = `slot ${next.slot} (port ${next.port}): ${watched.verdict.reason}`;
    return abandonSlot(ctx, watched.apply, next, { code: 'E_HEALTH', reason, markBad: true });
  }
  await flip(ctx, next);
  const done = await confirm(ctx, watched.apply, `${watched.verdict.detail} in slot ${next.slot}; traffic flipped to port ${next.port}`);
  try {
    await retireSlot(ctx);
  } catch (err) {
    // stopping: the release is confirmed and serving; the next start stops the old slot
    if (!isCancel(err)) throw err;
  }
  return done;
}

/** The flip: slots.json names `next` (the old slot retiring after the drain), then `current` follows. */
async function flip(ctx: ApplyContext, next: SlotRef): Promise<void> {
  const old = readSlots(ctx.appDir)?.active ?? null;
  const retiring = old && old.slot !== next.slot ? { ...old, until: ctx.now() + configOf(ctx).drain } : null;
  writeSlots(ctx.appDir, { active: next, retiring });
  ctx.fp('apply:flipped');
  if (currentRelease(ctx.appDir) !== next.release) switchCurrent(ctx.appDir, next.release, ctx.fp, 'apply');
  await ctx.event('app.slot_flipped', {
    from: old?.slot ?? null, to: next.slot, port: next.port, release: next.release, drain_until: retiring?.until ?? null,
  });
}

/**
 * Wait out the drain of the slot that served before the flip, then stop it. A stop that
 * fails is reported and forgotten: the next release's restart in that slot replaces it.
 */
export async function retireSlot(ctx: ApplyContext): Promise<void> {
  const state = readSlots(ctx.appDir);
  if (!state?.retiring) return;
  const old = state.retiring;
  const wait = old.until - ctx.now();
  if (wait > 0) await ctx.deps.clock.sleep(wait, ctx.deps.signal);
  try {
    await ctx.runCommand('stop', configOf(ctx).stop, old.release, 'drained', slotEnv(old));
    await ctx.event('app.slot_stopped', { slot: old.slot, port: old.port, release: old.release });
  } catch (err) {
    if (isCancel(err)) throw err;
    const reason = toUpshiftError(err).message;
    ctx.deps.log?.warn({ module: 'apply', slot: old.slot, release: old.release }, `stopping the drained slot failed: ${reason}`);
    await ctx.event('app.slot_stop_failed', { slot: old.slot, port: old.port, release: old.release, reason });
  }
  writeSlots(ctx.appDir, { active: state.active, retiring: null });
}

/** Before the flip: stop the new slot, leave the serving one as it is, rolled_back (marked bad when the release failed). */
async function abandonSlot(ctx: ApplyContext, apply: ApplyRecord, slot: SlotRef, f: Failure): Promise<ApplyRecord> {
  let reason = f.reason;
  try {
    await ctx.runCommand('stop', configOf(ctx).stop, slot.release, 'abandoned', slotEnv(slot));
  } catch (err) {
    if (isCancel(err)) throw err;
    reason += `; stopping slot ${slot.slot} also failed: ${(err as Error).message}`;
  }
  const serving = readSlots(ctx.appDir)?.active;
  const note = `stopped slot ${slot.slot}; ${serving ? `${serving.release} still serves in slot ${serving.slot}` : 'no slot serves'}: ${reason}`;
  const done = await ctx.move(apply, 'rolled_back', note, { reason, code: f.code }, f.markBad ? { markBad: f.reason } : {});
  removeRelease(ctx, done);
  await ctx.event('apply.rolled_back', { apply: apply.id, track: apply.track, version: apply.version, reason, code: f.code, slot: slot.slot });
  return done;
}

/**
 * Start-up, for an apply left switching or on probation: flipped already (slots.json names
 * its release) → `current` follows and it is confirmed; not flipped → its slot is stopped
 * and it is rolled back, not marked bad (it was interrupted, not found wanting).
 */
export async function reconcileBlueGreen(ctx: ApplyContext, open: ApplyRecord): Promise<ApplyRecord> {
  const state = readSlots(ctx.appDir);
  if (state?.active.release === open.releaseDir) {
    if (currentRelease(ctx.appDir) !== open.releaseDir) switchCurrent(ctx.appDir, open.releaseDir, ctx.fp, 'reconcile');
    return confirm(ctx, open, `traffic had flipped to slot ${state.active.slot} before the process applying it stopped`);
  }
  const slot = { ...idleSlot(configOf(ctx), state), release: open.releaseDir };
  return abandonSlot(ctx, open, slot, { code: 'E_CANCELLED', reason: `interrupted while ${open.state}, before the flip`, markBad: false });
}
