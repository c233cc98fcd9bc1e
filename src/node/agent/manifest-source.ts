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
import { verifyManifest } from '../../trust/verify-manifest.js';
import type { ApplyLog } from '../apply/context.js';
import type { ApplyEngine } from '../apply/engine.js';

export const MANIFEST_KEY_PREFIX = 'gossip.manifest.';

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
    this.rebuild();
  }

  digest(): Digest {
    return this.current;
  }

  get(track: string): string | null {
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
    const { deps } = this;
    let payload: ManifestPayload;
    try {
      payload = verifyManifest(envelope, deps.keyset).payload;
      if (!deps.node.tracks.includes(payload.track)) throw new UpshiftError('E_WRONG_TRACK', `this node does not follow track "${payload.track}"`);
      const have = this.held.get(payload.track) ?? null;
      const floor = Math.max(have?.payload.seq ?? 0, deps.store.floors.get(payload.track) ?? 0);
      const verdict = checkManifestAcceptable(payload, { now: deps.clock.now(), fleet: deps.node.fleet, track: payload.track, floorSeq: floor === 0 ? null : floor });
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
    for (const track of this.deps.node.tracks) {
      const stored = this.deps.store.kv.get(MANIFEST_KEY_PREFIX + track);
      if (stored === null || stored === this.held.get(track)?.envelope || stored === this.looked.get(track)) continue;
      this.looked.set(track, stored); // a refused one is not offered again every round
      void this.offer(stored);
    }
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
    this.current = d;
  }
}
