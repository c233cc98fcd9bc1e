// The node's verified manifests, one per track, as gossip sees them (ports.ts ManifestSource).
// A manifest is verified once when it is offered (signature and keyset, then fleet, track,
// expiry and seq: SPEC "Trust") and kept in the store for forwarding even when it does not
// target this node; one that targets this node is handed to the apply engine, one at a time,
// in the background: gossip never waits for an apply.
import { createHash } from 'node:crypto';
import { checkManifestAcceptable, type ManifestPayload } from '../../core/manifest.js';
import { toUpshiftError, UpshiftError } from '../../core/errors.js';
import type { Store } from '../../adapters/sqlite/store.js';
import type { ManifestSource, OfferResult } from '../../gossip/ports.js';
import type { Digest } from '../../gossip/types.js';
import type { Keyset } from '../../trust/keyset.js';
import { isRevocationEnvelope, REVOCATIONS_KEY, verifyRevocations } from '../../trust/revocation-list.js';
import { verifyManifest } from '../../trust/verify-manifest.js';
import type { ApplyLog } from '../apply/context.js';
import type { ApplyEngine } from '../apply/engine.js';

export const MANIFEST_KEY_PREFIX = 'gossip.manifest.';
/** Where the latest verified revocation list is kept (it gossips under REVOCATIONS_KEY). */
export const REVOCATIONS_STORE_KEY = 'gossip.revocations';

export interface ManifestSourceDeps {
  store: Store;
  keyset: Keyset;
  node: { id: string; fleet: string; tracks: readonly string[] };
  clock: { now(): number };
  /** Null when this node has no `app:` section: it stores and forwards, and applies nothing. */
  engine: ApplyEngine | null;
  log?: ApplyLog;
}

interface Held {
  envelope: string;
  hash: string;
  payload: ManifestPayload;
}

export class StoreManifestSource implements ManifestSource {
  private readonly held = new Map<string, Held>();
  private current: Digest = {};
  private queue: string[] = [];
  private draining: Promise<void> | null = null;
  private readonly looked = new Map<string, string>();
  private closed = false;
  private revocations: { envelope: string; hash: string; seq: number } | null = null;

  constructor(private readonly deps: ManifestSourceDeps) {
    for (const track of deps.node.tracks) {
      const envelope = deps.store.kv.get(MANIFEST_KEY_PREFIX + track);
      if (envelope === null) continue;
      try {
        // Our own store, but the keyset may have rotated since: what no longer verifies is not served.
        const { payload } = verifyManifest(envelope, deps.keyset);
        if (payload.track === track) this.held.set(track, { envelope, hash: this.hash(envelope), payload });
      } catch (err) {
        deps.log?.warn({ module: 'gossip', track, code: toUpshiftError(err).code }, 'stored manifest no longer verifies; not serving it');
      }
    }
    const list = deps.store.kv.get(REVOCATIONS_STORE_KEY);
    if (list !== null) {
      try {
        this.revocations = { envelope: list, hash: this.hash(list), seq: verifyRevocations(list, deps.keyset, deps.node.fleet).seq };
      } catch (err) {
        deps.log?.warn({ module: 'gossip', code: toUpshiftError(err).code }, 'stored revocation list no longer verifies; not serving it');
      }
    }
    this.rebuild();
  }

  digest(): Digest {
    return this.current;
  }

  get(track: string): string | null {
    if (track === REVOCATIONS_KEY) return this.revocations?.envelope ?? null;
    return this.held.get(track)?.envelope ?? null;
  }

  hash(envelope: string): string {
    return createHash('sha256').update(envelope).digest('hex');
  }

  /** The verified payload held for a track. */
  payload(track: string): ManifestPayload | null {
    return this.held.get(track)?.payload ?? null;
  }

  async offer(envelope: string): Promise<OfferResult> {
    try {
      return this.accept(envelope);
    } catch (err) {
      const e = toUpshiftError(err, 'E_MANIFEST_PARSE');
      this.deps.log?.warn({ module: 'gossip', code: e.code }, `manifest refused: ${e.message}`);
      return 'refused';
    }
  }

  /** offer() for the authority's own publish: a refusal throws its code instead of returning 'refused'. */
  accept(envelope: string): 'accepted' | 'same' {
    if (isRevocationEnvelope(envelope)) return this.acceptRevocations(envelope);
    const { deps } = this;
    let payload: ManifestPayload;
    try {
      payload = verifyManifest(envelope, deps.keyset).payload;
      if (!deps.node.tracks.includes(payload.track)) throw new UpshiftError('E_WRONG_TRACK', `this node does not follow track "${payload.track}"`);
      const have = this.held.get(payload.track) ?? null;
      const floor = Math.max(have?.payload.seq ?? 0, deps.store.floors.get(payload.track) ?? 0);
      const verdict = checkManifestAcceptable(payload, {
        now: deps.clock.now(), limits: deps.keyset.limits, fleet: deps.node.fleet,
        track: payload.track, floorSeq: floor === 0 ? null : floor,
      });
      if (verdict === 'same') {
        if (have?.hash === this.hash(envelope)) return 'same';
        // Same seq, other bytes: two manifests for one seq. The one we hold stays.
        if (have !== null) throw new UpshiftError('E_SEQ_CONFLICT', `a different manifest for ${payload.track}#${payload.seq} is already held`);
      }
    } catch (err) {
      throw toUpshiftError(err, 'E_MANIFEST_PARSE');
    }
    deps.store.kv.set(MANIFEST_KEY_PREFIX + payload.track, envelope);
    this.held.set(payload.track, { envelope, hash: this.hash(envelope), payload });
    this.rebuild();
    deps.log?.info({ module: 'gossip', track: payload.track, seq: payload.seq, version: payload.version }, 'manifest accepted');
    if (this.targetsMe(payload)) this.enqueue(envelope);
    return 'accepted';
  }

  /**
   * Take up a manifest another process of this node stored (`pipeline run` from the CLI
   * while the daemon runs): one kv read per track, verified like any offer.
   */
  refresh(): void {
    const keys: Array<[string, string]> = this.deps.node.tracks.map((t) => [t, MANIFEST_KEY_PREFIX + t]);
    for (const [key, storeKey] of [...keys, [REVOCATIONS_KEY, REVOCATIONS_STORE_KEY] as [string, string]]) {
      const stored = this.deps.store.kv.get(storeKey);
      if (stored === null || stored === this.get(key) || stored === this.looked.get(key)) continue;
      this.looked.set(key, stored); // a refused one is not offered again every round
      void this.offer(stored);
    }
  }

  /** A newer revocation list: kept, served, and its revocations recorded, so revoked senders are refused here too. */
  private acceptRevocations(envelope: string): 'accepted' | 'same' {
    const { deps } = this;
    const list = verifyRevocations(envelope, deps.keyset, deps.node.fleet);
    const have = this.revocations;
    const hash = this.hash(envelope);
    if (have && list.seq === have.seq) {
      if (have.hash === hash) return 'same';
      throw new UpshiftError('E_SEQ_CONFLICT', `a different revocation list #${list.seq} is already held`);
    }
    if (have && list.seq < have.seq) throw new UpshiftError('E_ROLLBACK', `revocation list #${list.seq} is older than the #${have.seq} held`);
    deps.store.tx(() => {
      deps.store.kv.set(REVOCATIONS_STORE_KEY, envelope);
      for (const r of list.revoked) deps.store.identity.revoke(r.node_id, r.serial, r.reason, Date.parse(r.revoked_at));
    });
    this.revocations = { envelope, hash, seq: list.seq };
    this.rebuild();
    deps.log?.info({ module: 'gossip', seq: list.seq, revoked: list.revoked.length }, 'revocation list accepted');
    return 'accepted';
  }

  /** Manifests held but not yet applied here (after a restart mid-apply, say): apply them. */
  resume(): void {
    for (const h of this.held.values()) {
      const floor = this.deps.store.floors.get(h.payload.track);
      if (this.targetsMe(h.payload) && (floor === null || h.payload.seq > floor)) this.enqueue(h.envelope);
    }
  }

  /** Drop what is queued (shutdown); the apply running finishes or stops at its signal. Call idle() next. */
  close(): void {
    this.closed = true;
    this.queue = [];
  }

  /** Resolves when no apply is queued or running. */
  async idle(): Promise<void> {
    while (this.draining) await this.draining;
  }

  private targetsMe(p: ManifestPayload): boolean {
    return this.deps.engine !== null && (p.targets === 'all' || p.targets.includes(this.deps.node.id));
  }

  private enqueue(envelope: string): void {
    if (this.closed) return; // after shutdown began: the next start's resume() takes it up
    this.queue.push(envelope);
    this.draining ??= this.drain().finally(() => {
      this.draining = null;
    });
  }

  /** One apply at a time; the engine's own lock also guards against other processes. */
  private async drain(): Promise<void> {
    const engine = this.deps.engine;
    let next: string | undefined;
    while (engine && (next = this.queue.shift()) !== undefined) {
      try {
        const out = await engine.applyManifest(next);
        this.deps.log?.info({ module: 'apply' }, out.reason);
      } catch (err) {
        const e = toUpshiftError(err);
        this.deps.log?.warn({ module: 'apply', code: e.code }, `apply from gossip ended: ${e.message}`);
      }
    }
  }

  private rebuild(): void {
    const d: Digest = {};
    for (const [track, h] of this.held) d[track] = { seq: h.payload.seq, hash: h.hash };
    if (this.revocations) d[REVOCATIONS_KEY] = { seq: this.revocations.seq, hash: this.revocations.hash };
    this.current = d;
  }
}
