// Who starts the app when the machine restarts: whatever started it before, if it can (an
// app with its own enabled systemd unit is up again by itself); otherwise the daemon. At
// start, after reconciliation, the release `current` points at is probed a few times; if it
// never answers, the restart command runs once (UPSHIFT_REASON=boot). No probation and no
// rollback: that release was confirmed, and a failing app shows in health and heartbeats.
// Under blue-green the serving slot (slots.json) is probed on its port and started there.
import { toUpshiftError } from '../../core/errors.js';
import { isCancel, type ApplyContext } from './context.js';
import { probeHealth } from './probe.js';
import { idleSlot, readSlots, slotEnv, slotHealthUrl, writeSlots, type SlotRef } from './slots.js';
import { currentRelease } from './switch.js';

/** Probes before the daemon starts the app itself: a unit that is still starting gets this long. */
export const BOOT_PROBES = 3;

export type BootOutcome =
  | { action: 'none'; reason: string }
  | { action: 'started'; release: string; reason: string }
  | { action: 'failed'; release: string; reason: string };

export async function startAppIfDown(ctx: ApplyContext): Promise<BootOutcome> {
  const { app, clock, signal } = ctx.deps;
  const release = currentRelease(ctx.appDir);
  if (!release) return { action: 'none', reason: 'no release is current yet' };
  const slot = app.blue_green ? servingSlot(ctx, release) : null;
  const url = slot ? slotHealthUrl(app.health.url, slot.port) : app.health.url;
  let last = '';
  for (let i = 0; i < BOOT_PROBES; i += 1) {
    if (i > 0) await clock.sleep(app.health.interval, signal);
    const r = await probeHealth(url, app.health.timeout);
    if (r.ok) return { action: 'none', reason: `${release} answers ${url} (${r.detail})` };
    last = r.detail;
  }
  const why = `${release} did not answer ${url} at start (${last}): running app.restart`;
  ctx.deps.log?.warn({ module: 'apply', release }, why);
  try {
    await ctx.runCommand('restart', app.restart, release, 'boot', slot ? slotEnv(slot) : {});
  } catch (err) {
    if (isCancel(err)) throw err;
    const reason = `starting ${release} at boot failed: ${toUpshiftError(err).message}`;
    ctx.event('app.boot_start_failed', { release, reason });
    ctx.deps.log?.warn({ module: 'apply', release }, reason);
    return { action: 'failed', release, reason };
  }
  ctx.event('app.started_at_boot', { release, probe: last });
  return { action: 'started', release, reason: why };
}

/**
 * Under blue-green, the slot that serves `current`. A node that runs a release but has no
 * slot yet (blue_green just configured) adopts it into the first slot, so the proxy has
 * somewhere to send traffic once it is started there.
 */
function servingSlot(ctx: ApplyContext, release: string): SlotRef {
  const state = readSlots(ctx.appDir);
  if (state) return state.active;
  const active = { ...idleSlot(ctx.deps.app.blue_green!, null), release };
  writeSlots(ctx.appDir, { active, retiring: null });
  return active;
}
