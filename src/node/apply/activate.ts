// SPEC steps 4–6: switch to a staged release, restart, probation, then confirm (raise the
// floor, prune) or roll back (switch back, restart, mark the version bad). Shared by a
// live apply and by start-up reconciliation, which enters at whatever step the journal
// says was reached. Each journal move is written before the effect it announces.
import { rmSync } from 'node:fs';
import { UpshiftError, toUpshiftError, type ErrorCode } from '../../core/errors.js';
import { decodeManifest, type Rollout } from '../../core/manifest.js';
import { parseEnvelope } from '../../trust/envelope.js';
import type { ApplyRecord } from '../../core/records.js';
import { ApplyFailure, isCancel, type ApplyContext } from './context.js';
import { probeHealth, runProbation, type ProbationVerdict } from './probe.js';
import { pruneReleases } from './prune.js';
import { raiseDiskFloor } from './disk-floor.js';
import { currentRelease, releaseExists, switchCurrent } from './switch.js';

/** staged → switching → (rename, fsync, restart) → probation → confirmed | rolled_back. */
export async function activate(ctx: ApplyContext, staged: ApplyRecord): Promise<ApplyRecord> {
  let apply = await ctx.move(staged, 'switching', `switching current from ${staged.previousDir ?? '(none)'} to ${staged.releaseDir}`);
  try {
    switchCurrent(ctx.appDir, apply.releaseDir, ctx.fp, 'apply');
    await ctx.runCommand('restart', ctx.deps.app.restart, apply.releaseDir, 'apply');
    ctx.fp('apply:restarted');
  } catch (err) {
    if (isCancel(err)) throw err; // shutting down: reconcile() finishes this apply
    return rollBack(ctx, apply, failureOf(err));
  }
  apply = await enterProbation(ctx, apply, 'restarted');
  return probation(ctx, apply);
}

/** Journal probation with its absolute deadline, counted from now (the restart). */
export async function enterProbation(ctx: ApplyContext, apply: ApplyRecord, after: string): Promise<ApplyRecord> {
  const healthyBy = ctx.now() + (rolloutOf(apply)?.healthy_deadline ?? ctx.deps.app.healthy_deadline);
  const moved = await ctx.move(apply, 'probation', `${after}; healthy by ${new Date(healthyBy).toISOString()}`, { healthyBy });
  ctx.fp('apply:probation');
  return moved;
}

/**
 * A deployment's manifest (v2) carries the healthy_deadline and min_healthy its policy
 * sets; those win over app.* here. The envelope was verified before it was journaled.
 */
export function rolloutOf(apply: Pick<ApplyRecord, 'envelope'>): Rollout | null {
  try {
    return decodeManifest(Buffer.from(parseEnvelope(apply.envelope).payload, 'base64')).rollout ?? null;
  } catch {
    return null;
  }
}

/** Probe to the stored deadlines; confirmed or rolled back. */
export async function probation(ctx: ApplyContext, apply: ApplyRecord): Promise<ApplyRecord> {
  const { verdict, apply: current } = await watchHealth(ctx, apply, ctx.deps.app.health.url);
  if (!verdict.ok) return rollBack(ctx, current, { code: 'E_HEALTH', reason: verdict.reason, markBad: true });
  return confirm(ctx, current, verdict.detail);
}

/** Probe `url` to the apply's stored deadlines, journaling the healthy window; the verdict and the apply as journaled. */
export async function watchHealth(ctx: ApplyContext, apply: ApplyRecord, url: string): Promise<{ verdict: ProbationVerdict; apply: ApplyRecord }> {
  const { app, clock, signal } = ctx.deps;
  let current = apply;
  const verdict = await runProbation({
    window: { healthyBy: apply.healthyBy ?? ctx.now(), healthySince: apply.healthySince, stableUntil: apply.stableUntil },
    minHealthyMs: rolloutOf(apply)?.min_healthy ?? app.min_healthy,
    intervalMs: app.health.interval,
    probe: () => probeHealth(url, app.health.timeout),
    clock,
    ...(signal ? { signal } : {}),
    onHealthy: async (healthySince, stableUntil) => {
      current = await ctx.move(current, 'probation', `healthy; must stay healthy until ${new Date(stableUntil).toISOString()}`, { healthySince, stableUntil });
      ctx.fp('apply:healthy');
    },
  });
  return { verdict, apply: current };
}

/** Confirmed and floor raised in one transaction, then prune (SPEC step 6, success). */
export async function confirm(ctx: ApplyContext, apply: ApplyRecord, detail: string): Promise<ApplyRecord> {
  const done = await ctx.move(apply, 'confirmed', `confirmed: ${detail}`, { reason: detail }, { raiseFloor: true });
  saveDiskFloor(ctx, done);
  ctx.fp('apply:confirmed');
  await ctx.event('apply.confirmed', { apply: apply.id, track: apply.track, seq: apply.seq, version: apply.version, commit: apply.commit });
  try {
    const removed = await pruneReleases(ctx, done);
    if (removed.length > 0) ctx.deps.log?.info({ module: 'apply', removed }, 'pruned old releases');
  } catch (err) {
    // A full disk of old releases is an operator's problem to see, not a reason to undo a good release.
    ctx.deps.log?.warn({ module: 'apply', err: (err as Error).message }, 'pruning releases failed');
  }
  return done;
}

/**
 * The floor beside the releases, after the database confirmed (never above a release that
 * did not pass). A failed write leaves the database floor in force; reconcile() retries.
 */
export function saveDiskFloor(ctx: ApplyContext, a: ApplyRecord): void {
  try {
    raiseDiskFloor(ctx.appDir, {
      track: a.track, seq: a.seq, version: a.version, commit: a.commit, release: a.releaseDir,
      confirmed_at: new Date(a.finishedAt ?? ctx.now()).toISOString(),
    });
  } catch (err) {
    const why = (err as Error).message;
    ctx.deps.log?.warn({ module: 'apply', track: a.track, seq: a.seq, err: why }, 'writing the floor file failed');
  }
}

export interface Failure {
  code: ErrorCode;
  reason: string;
  /** Whether the version itself failed (and must not be retried automatically). */
  markBad: boolean;
}

export function failureOf(err: unknown): Failure {
  if (err instanceof ApplyFailure) return { code: err.code, reason: err.message, markBad: err.markBad };
  const e = toUpshiftError(err);
  return { code: e.code, reason: e.message, markBad: false };
}

/**
 * Undo an apply that may have switched. Where `current` points decides: at the new
 * release → journal rolling_back, then switch back and restart; still at the old one →
 * nothing ran, so rolled_back without touching `current`.
 */
export async function rollBack(ctx: ApplyContext, apply: ApplyRecord, f: Failure): Promise<ApplyRecord> {
  const on = currentRelease(ctx.appDir);
  if (on !== apply.releaseDir) {
    const note = `rolled back before the switch took effect (current is ${on ?? '(none)'}): ${f.reason}`;
    const done = await ctx.move(apply, 'rolled_back', note, { reason: f.reason, code: f.code });
    removeRelease(ctx, done);
    await ctx.event('apply.rolled_back', { apply: apply.id, track: apply.track, version: apply.version, reason: f.reason, code: f.code });
    return done;
  }
  if (apply.previousDir === null || !releaseExists(ctx.appDir, apply.previousDir)) {
    // First release on this node (or the old one vanished): there is nothing to return to,
    // and a `current` pointing nowhere would be worse than the failed release.
    const reason = `${f.reason}; no previous release to roll back to, current stays on ${apply.releaseDir}`;
    const done = await ctx.move(apply, 'failed', reason, { reason, code: f.code }, f.markBad ? { markBad: f.reason } : {});
    await ctx.event('apply.failed', { apply: apply.id, track: apply.track, version: apply.version, reason, code: f.code });
    return done;
  }
  const rolling = await ctx.move(apply, 'rolling_back', `rolling back to ${apply.previousDir}: ${f.reason}`, { reason: f.reason, code: f.code });
  ctx.fp('rollback:started');
  return finishRollback(ctx, rolling);
}

/** From rolling_back: current → previous (if not already), restart, mark bad, rolled_back. */
export async function finishRollback(ctx: ApplyContext, apply: ApplyRecord): Promise<ApplyRecord> {
  const previous = apply.previousDir as string;
  if (currentRelease(ctx.appDir) !== previous) switchCurrent(ctx.appDir, previous, ctx.fp, 'rollback');
  let reason = apply.reason ?? 'rolled back';
  try {
    await ctx.runCommand('restart', ctx.deps.app.restart, previous, 'rollback');
  } catch (err) {
    if (isCancel(err)) throw err;
    reason += `; restarting ${previous} also failed: ${(err as Error).message}`;
  }
  const bad = VERSION_FAILED.has(apply.code ?? '') ? { markBad: apply.reason ?? reason } : {};
  const done = await ctx.move(apply, 'rolled_back', `back on ${previous}: ${reason}`, { reason }, bad);
  ctx.fp('rollback:done');
  removeRelease(ctx, done);
  await ctx.event('apply.rolled_back', { apply: apply.id, track: apply.track, version: apply.version, reason, code: apply.code });
  return done;
}

// Failures the version itself caused: its health, or its restart. Read from the journal's
// code, so a rollback finished by reconcile() decides the same way the live one would.
const VERSION_FAILED = new Set<string>(['E_HEALTH', 'E_COMMAND_FAILED', 'E_TIMEOUT']);

/** Remove an apply's release dir unless `current` or the apply's previous release is it. */
export function removeRelease(ctx: ApplyContext, apply: ApplyRecord): void {
  if (apply.releaseDir === currentRelease(ctx.appDir) || apply.releaseDir === apply.previousDir) return;
  rmSync(ctx.releasePath(apply.releaseDir), { recursive: true, force: true });
}

/** The error a caller of applyManifest gets for an apply that did not end confirmed. */
export function endError(apply: ApplyRecord): UpshiftError {
  const code = (apply.code ?? 'E_INTERNAL') as ErrorCode;
  return new UpshiftError(code, `apply #${apply.id} of ${apply.track} ${apply.version} ended ${apply.state}: ${apply.reason ?? ''}`, {
    details: { apply: apply.id, state: apply.state, track: apply.track, version: apply.version, commit: apply.commit },
  });
}
