// The apply engine (SPEC "Node agent: applying a release"). applyManifest runs steps 1–6
// for one signed manifest; reconcile() finishes what a dead process left; applyStatus()
// is what heartbeats report. A refused manifest writes nothing but an event; anything past
// verification is journaled step by step (node-tables.ts) before each effect.
import { existsSync, rmSync } from 'node:fs';
import { acceptForApply } from '../../core/decisions/acceptance.js';
import type { ManifestPayload } from '../../core/manifest.js';
import { toUpshiftError } from '../../core/errors.js';
import type { ApplyRecord, ApplyState } from '../../core/records.js';
import type { VerifiedManifest } from '../../trust/verify-manifest.js';
import { activate, confirm, endError, failureOf, removeRelease, type Failure } from './activate.js';
import { activateBlueGreen, checkStrategy } from './blue-green.js';
import { ApplyContext, isCancel, type ApplyDeps } from './context.js';
import { ApplyLock } from './lock.js';
import { reconcileOpen, type Reconciled } from './reconcile.js';
import { startAppIfDown, type BootOutcome } from './boot.js';
import { releaseName } from './release-dir.js';
import { releaseSourceFor, type ReleaseSource } from './release-source.js';
import { currentRelease } from './switch.js';
import { ensureAppDir } from './app-dir.js';
import { checkDiskFloor } from './disk-floor.js';

export interface ApplyOutcome {
  /** The journal entry; null when the manifest was already applied (seq equals the floor). */
  apply: ApplyRecord | null;
  reason: string;
}

export interface TrackApplyStatus {
  seq: number;
  version: string;
  commit: string;
  /** The code hash computed from this node's checkout (null until fetched). */
  code_hash: string | null;
  state: ApplyState;
  since: number;
  reason: string | null;
  /** The newest confirmed release of the track: what runs after a later apply rolled back. */
  running: { seq: number; version: string; commit: string; release: string; code_hash: string | null } | null;
}

export class ApplyEngine {
  private readonly ctx: ApplyContext;

  constructor(deps: ApplyDeps) {
    this.ctx = new ApplyContext(deps);
  }

  /**
   * Apply one verified manifest, its files from `source` (default: its bundle on an allowed
   * URL, else the pinned commit). Resolves when the release is confirmed (or was already
   * applied). Throws the refusal's code (nothing written but an event), or the code of the
   * step that failed with `details.state` (`failed`, `rolled_back`, …).
   */
  async applyManifest(m: VerifiedManifest, source?: ReleaseSource): Promise<ApplyOutcome> {
    const { deps } = this.ctx;
    if (await this.refuseOrPass(m) === 'same') return { apply: null, reason: 'already applied: seq equals the floor' };
    const lock = await this.lock('apply');
    try {
      // A dead process's apply is finished first; it may even have been this manifest.
      await reconcileOpen(this.ctx);
      if (await this.refuseOrPass(m) === 'same') return { apply: null, reason: 'already applied: seq equals the floor' };
      const { payload } = m;
      const name = releaseName(payload.version, payload.commit);
      const previous = currentRelease(this.ctx.appDir);
      const apply = await deps.tables.begin({
        track: payload.track, seq: payload.seq, version: payload.version, commit: payload.commit, kind: payload.kind,
        codeHash: payload.code_hash, releaseDir: name, previousDir: previous, envelope: m.text,
      }, this.ctx.now(), `verified ${payload.track}#${payload.seq} ${payload.version} (${payload.commit})`);
      this.ctx.fp('apply:verified');
      const from = source ?? releaseSourceFor(m, deps.app, deps.log);
      const done = name === previous ? await this.alreadyCurrent(apply) : await this.stageAndActivate(apply, from);
      if (done.state !== 'confirmed') throw endError(done);
      return { apply: done, reason: done.reason ?? 'confirmed' };
    } finally {
      lock.release();
    }
  }

  /** Finish any apply left open by a dead process. E_APPLY_LOCKED while one is running. */
  async reconcile(): Promise<Reconciled | null> {
    const lock = await this.lock('reconcile');
    try {
      return await reconcileOpen(this.ctx);
    } finally {
      lock.release();
    }
  }

  /** At daemon start, after reconcile(): run the current release if it does not answer (boot.ts). */
  async startIfDown(): Promise<BootOutcome> {
    const lock = await this.lock('boot');
    try {
      return await startAppIfDown(this.ctx);
    } finally {
      lock.release();
    }
  }

  /** Per track, the newest apply: what heartbeats carry. */
  async applyStatus(): Promise<Record<string, TrackApplyStatus>> {
    const out: Record<string, TrackApplyStatus> = {};
    const running = new Map((await this.ctx.deps.tables.latestConfirmedPerTrack()).map((a) => [a.track, a]));
    for (const a of await this.ctx.deps.tables.latestPerTrack()) {
      const r = running.get(a.track);
      out[a.track] = {
        seq: a.seq, version: a.version, commit: a.commit, code_hash: a.actualCodeHash, state: a.state, since: a.updatedAt, reason: a.reason,
        running: r ? { seq: r.seq, version: r.version, commit: r.commit, release: r.releaseDir, code_hash: r.actualCodeHash } : null,
      };
    }
    return out;
  }

  /** SPEC step 1 (the signature was checked when `m` was made): the acceptance rules, then the app dir and the floor on disk. */
  private async refuseOrPass(m: VerifiedManifest): Promise<'newer' | 'same'> {
    const { deps } = this.ctx;
    const p = m.payload;
    try {
      const verdict = acceptForApply(p, {
        now: this.ctx.now(), limits: deps.keyset.limits, node: deps.node,
        floorSeq: await deps.store.floors.get(p.track),
        badMark: await deps.tables.badMark(p.track, p.commit, p.version),
      });
      if (verdict === 'same') return 'same';
      checkStrategy(p, deps.app.blue_green);
      // Before anything is read from or fetched into the app dir; then the floor kept there,
      // which a lost or restored database cannot lower.
      ensureAppDir(this.ctx.appDir);
      checkDiskFloor(this.ctx.appDir, p);
      return 'newer';
    } catch (err) {
      await this.refused(err, p);
      throw err;
    }
  }

  private async lock(holder: string): Promise<ApplyLock> {
    try {
      return await ApplyLock.acquire(this.ctx.deps.stateDir, this.ctx.deps.store, `${holder} on ${this.ctx.deps.node.id}`, this.ctx.now());
    } catch (err) {
      await this.refused(err, undefined);
      throw err;
    }
  }

  private async refused(err: unknown, p: ManifestPayload | undefined): Promise<void> {
    const e = toUpshiftError(err);
    const about = p ? { track: p.track, seq: p.seq, version: p.version, commit: p.commit } : {};
    await this.ctx.event('apply.refused', { code: e.code, reason: e.message, ...about });
    this.ctx.deps.log?.warn({ module: 'apply', code: e.code, ...about }, e.message);
  }

  /** SPEC steps 2–3, then activate (4–6). */
  private async stageAndActivate(verified: ApplyRecord, source: ReleaseSource): Promise<ApplyRecord> {
    const { deps, fp } = this.ctx;
    const dir = this.ctx.releasePath(verified.releaseDir);
    let apply = verified;
    try {
      // Not current (handled by alreadyCurrent): a leftover of an abandoned apply or an old copy.
      if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
      await source.fetch(dir, deps.signal);
      fp('apply:fetched');
      const { hash } = await deps.codeHash(dir);
      if (hash !== apply.codeHash) {
        const reason = `code hash of the checkout is ${hash}, the signed manifest says ${apply.codeHash}`;
        return this.fail(apply, { code: 'E_BAD_VERSION', reason, markBad: source.signedBytes !== false }, hash);
      }
      for (const kind of ['install', 'migrate'] as const) {
        const command = deps.app[kind];
        if (command) await this.ctx.runCommand(kind, command, apply.releaseDir, 'apply');
      }
      fp('apply:hooks-done');
      apply = await this.ctx.move(apply, 'staged', `fetched, code hash verified, hooks done in releases/${apply.releaseDir}`, { actualCodeHash: hash });
      fp('apply:staged');
    } catch (err) {
      if (isCancel(err)) return this.fail(apply, { code: 'E_CANCELLED', reason: 'cancelled before the switch', markBad: false }, null);
      return this.fail(apply, failureOf(err), null);
    }
    // With app.blue_green every release switches by slots, whatever the manifest's strategy:
    // the app runs behind the proxy and has no other place to start.
    return deps.app.blue_green ? activateBlueGreen(this.ctx, apply) : activate(this.ctx, apply);
  }

  /** Before the switch: nothing ran, so `failed`, the release dir removed, maybe marked bad. */
  private async fail(apply: ApplyRecord, f: Failure, hash: string | null): Promise<ApplyRecord> {
    const patch = { reason: f.reason, code: f.code, ...(hash ? { actualCodeHash: hash } : {}) };
    const done = await this.ctx.move(apply, 'failed', f.reason, patch, f.markBad ? { markBad: f.reason } : {});
    removeRelease(this.ctx, done);
    await this.ctx.event('apply.failed', { apply: apply.id, track: apply.track, version: apply.version, code: f.code, reason: f.reason });
    return done;
  }

  /** The manifest pins what `current` already runs (e.g. a rollback manifest): verify it and confirm. */
  private async alreadyCurrent(apply: ApplyRecord): Promise<ApplyRecord> {
    const { hash } = await this.ctx.deps.codeHash(this.ctx.releasePath(apply.releaseDir));
    if (hash !== apply.codeHash) {
      return this.fail(apply, { code: 'E_BAD_VERSION', reason: `current release ${apply.releaseDir} has code hash ${hash}, the signed manifest says ${apply.codeHash}`, markBad: false }, hash);
    }
    const staged = await this.ctx.move(apply, 'staged', `releases/${apply.releaseDir} is already current`, { actualCodeHash: hash });
    return confirm(this.ctx, staged, `${apply.releaseDir} was already current; code hash verified`);
  }
}
