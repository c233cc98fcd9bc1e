// The apply engine (SPEC "Node agent: applying a release"). applyManifest runs steps 1–6
// for one signed manifest; reconcile() finishes what a dead process left; applyStatus()
// is what heartbeats report. A refused manifest writes nothing but an event; anything past
// verification is journaled step by step (node-tables.ts) before each effect.
import { existsSync, rmSync } from 'node:fs';
import { checkManifestAcceptable, type ManifestPayload } from '../../core/manifest.js';
import { UpshiftError, toUpshiftError } from '../../core/errors.js';
import type { ApplyRecord, ApplyState } from '../../adapters/sqlite/node-tables.js';
import { verifyManifest } from '../../trust/verify-manifest.js';
import { activate, confirm, endError, failureOf, removeRelease, type Failure } from './activate.js';
import { ApplyContext, ApplyFailure, isCancel, type ApplyDeps } from './context.js';
import { ApplyLock } from './lock.js';
import { reconcileOpen, type Reconciled } from './reconcile.js';
import { BundleContentError, bundleUrlAllowed, fetchBundle } from './bundle.js';
import { checkVersion, fetchRelease, releaseName } from './release-dir.js';
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
   * Apply one signed manifest (envelope JSON). Resolves when the release is confirmed (or
   * was already applied). Throws the refusal's code (nothing written but an event), or
   * the code of the step that failed with `details.state` (`failed`, `rolled_back`, …).
   */
  async applyManifest(envelope: string): Promise<ApplyOutcome> {
    const { deps } = this.ctx;
    let payload = this.refuseOrPass(envelope);
    if (payload === 'same') return { apply: null, reason: 'already applied: seq equals the floor' };
    const lock = this.lock('apply');
    try {
      // A dead process's apply is finished first; it may even have been this manifest.
      await reconcileOpen(this.ctx);
      payload = this.refuseOrPass(envelope);
      if (payload === 'same') return { apply: null, reason: 'already applied: seq equals the floor' };
      const name = releaseName(payload.version, payload.commit);
      const previous = currentRelease(this.ctx.appDir);
      const apply = deps.tables.begin({
        track: payload.track, seq: payload.seq, version: payload.version, commit: payload.commit, kind: payload.kind,
        codeHash: payload.code_hash, releaseDir: name, previousDir: previous, envelope,
      }, this.ctx.now(), `verified ${payload.track}#${payload.seq} ${payload.version} (${payload.commit})`);
      this.ctx.fp('apply:verified');
      const done = name === previous ? await this.alreadyCurrent(apply) : await this.stageAndActivate(apply);
      if (done.state !== 'confirmed') throw endError(done);
      return { apply: done, reason: done.reason ?? 'confirmed' };
    } finally {
      lock.release();
    }
  }

  /** Finish any apply left open by a dead process. E_APPLY_LOCKED while one is running. */
  async reconcile(): Promise<Reconciled | null> {
    const lock = this.lock('reconcile');
    try {
      return await reconcileOpen(this.ctx);
    } finally {
      lock.release();
    }
  }

  /** Per track, the newest apply: what heartbeats carry. */
  applyStatus(): Record<string, TrackApplyStatus> {
    const out: Record<string, TrackApplyStatus> = {};
    const running = new Map(this.ctx.deps.tables.latestConfirmedPerTrack().map((a) => [a.track, a]));
    for (const a of this.ctx.deps.tables.latestPerTrack()) {
      const r = running.get(a.track);
      out[a.track] = {
        seq: a.seq, version: a.version, commit: a.commit, code_hash: a.actualCodeHash, state: a.state, since: a.updatedAt, reason: a.reason,
        running: r ? { seq: r.seq, version: r.version, commit: r.commit, release: r.releaseDir, code_hash: r.actualCodeHash } : null,
      };
    }
    return out;
  }

  /** SPEC step 1: signature, node, track, fleet, expiry, floor, bad mark, path-safe version. */
  private refuseOrPass(envelope: string): ManifestPayload | 'same' {
    const { deps } = this.ctx;
    let payload: ManifestPayload | undefined;
    try {
      payload = verifyManifest(envelope, deps.keyset).payload;
      if (!deps.node.tracks.includes(payload.track)) {
        throw new UpshiftError('E_WRONG_TRACK', `this node does not follow track "${payload.track}"`);
      }
      if (payload.targets !== 'all' && !payload.targets.includes(deps.node.id)) {
        throw new UpshiftError('E_NOT_TARGETED', `manifest ${payload.track}#${payload.seq} targets other nodes, not ${deps.node.id}`, { details: { targets: payload.targets } });
      }
      const floorSeq = deps.store.floors.get(payload.track);
      const now = this.ctx.now();
      const ctx = { now, limits: deps.keyset.limits, fleet: deps.node.fleet, track: payload.track, floorSeq };
      if (checkManifestAcceptable(payload, ctx) === 'same') return 'same';
      const bad = deps.tables.badMark(payload.track, payload.commit, payload.version);
      if (bad) {
        throw new UpshiftError('E_BAD_VERSION', `${bad.version} (${bad.commit.slice(0, 12)}) is marked bad on this node: ${bad.reason}`, { details: { ...bad } });
      }
      checkVersion(payload.version);
      // Before anything is read from or fetched into the app dir; then the floor kept there,
      // which a lost or restored database cannot lower.
      ensureAppDir(this.ctx.appDir);
      checkDiskFloor(this.ctx.appDir, payload);
      return payload;
    } catch (err) {
      this.refused(err, payload);
      throw err;
    }
  }

  private lock(holder: string): ApplyLock {
    try {
      return ApplyLock.acquire(this.ctx.deps.stateDir, this.ctx.deps.store, `${holder} on ${this.ctx.deps.node.id}`, this.ctx.now());
    } catch (err) {
      this.refused(err, undefined);
      throw err;
    }
  }

  private refused(err: unknown, p: ManifestPayload | undefined): void {
    const e = toUpshiftError(err);
    const about = p ? { track: p.track, seq: p.seq, version: p.version, commit: p.commit } : {};
    this.ctx.event('apply.refused', { code: e.code, reason: e.message, ...about });
    this.ctx.deps.log?.warn({ module: 'apply', code: e.code, ...about }, e.message);
  }

  /** SPEC steps 2–3, then activate (4–6). */
  private async stageAndActivate(verified: ApplyRecord): Promise<ApplyRecord> {
    const { deps, fp } = this.ctx;
    const dir = this.ctx.releasePath(verified.releaseDir);
    let apply = verified;
    try {
      // Not current (handled by alreadyCurrent): a leftover of an abandoned apply or an old copy.
      if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
      await this.fetch(apply, dir);
      fp('apply:fetched');
      const { hash } = await deps.codeHash(dir);
      if (hash !== apply.codeHash) {
        return this.fail(apply, { code: 'E_BAD_VERSION', reason: `code hash of the checkout is ${hash}, the signed manifest says ${apply.codeHash}`, markBad: true }, hash);
      }
      for (const kind of ['install', 'migrate'] as const) {
        const command = deps.app[kind];
        if (command) await this.ctx.runCommand(kind, command, apply.releaseDir, 'apply');
      }
      fp('apply:hooks-done');
      apply = this.ctx.move(apply, 'staged', `fetched, code hash verified, hooks done in releases/${apply.releaseDir}`, { actualCodeHash: hash });
      fp('apply:staged');
    } catch (err) {
      if (isCancel(err)) return this.fail(apply, { code: 'E_CANCELLED', reason: 'cancelled before the switch', markBad: false }, null);
      return this.fail(apply, failureOf(err), null);
    }
    return activate(this.ctx, apply);
  }

  /**
   * SPEC step 2: the manifest's bundle when it names one on an allowed URL (downloaded,
   * length and sha256 checked, entries pre-scanned), else the pinned commit from app.remote.
   */
  private async fetch(apply: ApplyRecord, dir: string): Promise<void> {
    const { deps } = this.ctx;
    const signal = deps.signal ? { signal: deps.signal } : {};
    const bundle = verifyManifest(apply.envelope, deps.keyset).payload.bundle;
    const { bundles } = deps.app;
    if (bundle && bundleUrlAllowed(bundle.url, bundles.allow)) {
      const limits = { maxBytes: bundles.max_bytes, maxUnpackedBytes: bundles.max_unpacked_bytes, maxEntries: bundles.max_entries };
      try {
        await fetchBundle({ ...bundle, dir, allow: bundles.allow, ...limits, timeoutMs: bundles.timeout, ...signal });
      } catch (err) {
        // The signed bytes themselves are refused: every retry would fail the same way.
        if (err instanceof BundleContentError) throw new ApplyFailure(err.code, err.message, true);
        throw err;
      }
      return;
    }
    if (bundle) deps.log?.warn({ module: 'apply', url: bundle.url }, 'the bundle URL is not in app.bundles.allow; fetching the pinned commit from app.remote instead');
    await fetchRelease({ remote: deps.app.remote, commit: apply.commit, dir, ...signal });
  }

  /** Before the switch: nothing ran, so `failed`, the release dir removed, maybe marked bad. */
  private fail(apply: ApplyRecord, f: Failure, hash: string | null): ApplyRecord {
    const { store, tables } = this.ctx.deps;
    const done = store.tx(() => {
      if (f.markBad) tables.markBad({ track: apply.track, commit: apply.commit, version: apply.version, reason: f.reason, at: this.ctx.now() });
      return this.ctx.move(apply, 'failed', f.reason, { reason: f.reason, code: f.code, ...(hash ? { actualCodeHash: hash } : {}) });
    });
    removeRelease(this.ctx, done);
    this.ctx.event('apply.failed', { apply: apply.id, track: apply.track, version: apply.version, code: f.code, reason: f.reason });
    return done;
  }

  /** The manifest pins what `current` already runs (e.g. a rollback manifest): verify it and confirm. */
  private async alreadyCurrent(apply: ApplyRecord): Promise<ApplyRecord> {
    const { hash } = await this.ctx.deps.codeHash(this.ctx.releasePath(apply.releaseDir));
    if (hash !== apply.codeHash) {
      return this.fail(apply, { code: 'E_BAD_VERSION', reason: `current release ${apply.releaseDir} has code hash ${hash}, the signed manifest says ${apply.codeHash}`, markBad: false }, hash);
    }
    const staged = this.ctx.move(apply, 'staged', `releases/${apply.releaseDir} is already current`, { actualCodeHash: hash });
    return confirm(this.ctx, staged, `${apply.releaseDir} was already current; code hash verified`);
  }
}
