// Who starts the app when the machine restarts: whatever started it before, if it can (an
// app with its own enabled systemd unit is up again by itself); otherwise the daemon. At
// start, after reconciliation, the release `current` points at is probed a few times; if it
// never answers, the restart command runs once (UPSHIFT_REASON=boot). No probation and no
// rollback: that release was confirmed, and a failing app shows in health and heartbeats.
import { toUpshiftError } from '../../core/errors.js';
import { isCancel, type ApplyContext } from './context.js';
import { probeHealth } from './probe.js';
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
  let last = '';
  for (let i = 0; i < BOOT_PROBES; i += 1) {
    if (i > 0) await clock.sleep(app.health.interval, signal);
    const r = await probeHealth(app.health.url, app.health.timeout);
    if (r.ok) return { action: 'none', reason: `${release} answers ${app.health.url} (${r.detail})` };
    last = r.detail;
  }
  const why = `${release} did not answer ${app.health.url} at start (${last}): running app.restart`;
  ctx.deps.log?.warn({ module: 'apply', release }, why);
  try {
    await ctx.runCommand('restart', app.restart, release, 'boot');
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
