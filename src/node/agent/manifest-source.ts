// The node's verified manifests, as gossip sees them (ports.ts ManifestSource): per track the
// newest fleet-wide one and the targeted ones above it that some node still needs
// (gossip/held.ts), so a node that joins after a rolled-back canary still finds the fleet's
// release. A manifest is verified once when it is offered (signature and keyset, then fleet,
// track, expiry and seq: SPEC "Trust") and kept in the store for forwarding even when it does
// not target this node (or is of a track the authority releases but its app does not run); the newest one that targets this node is handed to the apply engine,
// one at a time, in the background: gossip never waits for an apply.
import { inWindow, nextOpening, type MaintenanceWindow } from '../../core/windows.js';
import { acceptForHolding } from '../../core/decisions/acceptance.js';
import type { ManifestPayload } from '../../core/manifest.js';
import { toUpshiftError, UpshiftError } from '../../core/errors.js';
import type { StateStore } from '../../core/ports.js';
import type { ManifestSource, OfferResult } from '../../gossip/ports.js';
import { admit, newestFor, worthPulling } from '../../gossip/held.js';
import type { Digest } from '../../gossip/types.js';
import type { Keyset } from '../../trust/keyset.js';
import { HELD_KEY_PREFIX, MANIFEST_KEY_PREFIX, storedHeld } from './held-store.js';
import { isRevocationEnvelope, REVOCATIONS_KEY, verifyRevocations } from '../../trust/revocation-list.js';
import { FLEET_SETTINGS_KEY, isFleetSettingsEnvelope, type FleetSettings } from '../../trust/fleet-settings.js';
import { FLEET_SETTINGS_KV, HeldSettings } from './held-settings.js';
import { envelopeHash, verifyManifest, type VerifiedManifest } from '../../trust/verify-manifest.js';
import type { ApplyLog } from '../apply/context.js';
import type { ApplyEngine } from '../apply/engine.js';

export { HELD_KEY_PREFIX, MANIFEST_KEY_PREFIX, sourceNode, storedHeld } from './held-store.js';

export interface ManifestSourceDeps {
  store: StateStore;
  keyset: Keyset;
  /**
   * `tracks`: what this node's app runs (a manifest of these may be applied). `relay`: tracks
   * it only holds and forwards, never applies: on the authority, every track it releases.
   */
  node: { id: string; fleet: string; tracks: readonly string[]; relay?: readonly string[] };
  clock: { now(): number };
  /** Null when this node has no `app:` section: it stores and forwards, and applies nothing. */
  engine: ApplyEngine | null;
  log?: ApplyLog;
  /** Told after a revocation list was recorded (the agent reads its revocations again). */
  onRevocations?: () => Promise<void>;
  /** Maintenance windows (node.windows): outside them only an urgent release is applied; the rest waits. */
  windows?: readonly MaintenanceWindow[];
}

const heldTracksOf = (node: ManifestSourceDeps['node']): string[] => [...new Set([...node.tracks, ...(node.relay ?? [])])];

interface Held {
  m: VerifiedManifest;
  envelope: string;
  hash: string;
  payload: ManifestPayload;
  seq: number;
  targets: ManifestPayload['targets'];
}

export class StoreManifestSource implements ManifestSource {
  /** Per track, newest first. */
  private readonly held = new Map<string, Held[]>();
  private current: Digest = {};
  private queue: VerifiedManifest[] = [];
  private draining: Promise<void> | null = null;
  /** Per track, the stored held list last looked at by refresh(). */
  private readonly looked = new Map<string, string>();
  /** Hashes refresh() has offered. */
  private readonly offered = new Set<string>();
  private closed = false;
  private revocations: { envelope: string; hash: string; seq: number } | null = null;
  /** Tracks held and forwarded: the ones this node runs and the ones it relays. */
  private readonly heldTracks: readonly string[];
  /** Per track, a manifest held back until a maintenance window opens, and why (for the heartbeat). */
  private readonly deferred = new Map<string, { m: VerifiedManifest; reason: string }>();

  /** Serializes accept(): each decides against what the one before it left (and wrote). */
  private turn: Promise<unknown> = Promise.resolve();

  /** A source with what the store holds: the manifests of every track held, the revocation list. */
  static async open(deps: ManifestSourceDeps): Promise<StoreManifestSource> {
    const tracks = heldTracksOf(deps.node);
    const stored = new Map<string, string[]>();
    for (const track of tracks) stored.set(track, await storedHeld(deps.store, track));
    const settings = await HeldSettings.open({ store: deps.store, keyset: deps.keyset, fleet: deps.node.fleet, ...(deps.log ? { log: deps.log } : {}) }, envelopeHash);
    return new StoreManifestSource(deps, stored, await deps.store.identity.revocationList(), settings);
  }

  private constructor(
    private readonly deps: ManifestSourceDeps, stored: Map<string, string[]>, list: string | null, private readonly fleetSettings: HeldSettings,
  ) {
    this.heldTracks = heldTracksOf(deps.node);
    for (const track of this.heldTracks) {
      const held: Held[] = [];
      for (const envelope of stored.get(track) ?? []) {
        try {
          // Our own store, but the keyset may have rotated since: what no longer verifies is not served.
          const m = verifyManifest(envelope, deps.keyset);
          if (m.payload.track === track) held.push(entry(m));
        } catch (err) {
          deps.log?.warn({ module: 'gossip', track, code: toUpshiftError(err).code }, 'stored manifest no longer verifies; not serving it');
        }
      }
      if (held.length > 0) this.held.set(track, held);
    }
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

  get(track: string, hash?: string): string | null {
    if (track === REVOCATIONS_KEY) return this.revocations?.envelope ?? null;
    if (track === FLEET_SETTINGS_KEY) return this.fleetSettings.envelope;
    const held = this.held.get(track) ?? [];
    return (hash === undefined ? held[0] : held.find((h) => h.hash === hash))?.envelope ?? null;
  }

  wants(track: string, seq: number, hash: string): boolean {
    if (track === REVOCATIONS_KEY) return seq > (this.revocations?.seq ?? -1);
    if (track === FLEET_SETTINGS_KEY) return this.fleetSettings.wants(seq);
    return worthPulling(this.held.get(track) ?? [], seq, hash);
  }

  /** What digests advertise for an envelope: the same hash a VerifiedManifest carries. */
  hash(envelope: string): string {
    return envelopeHash(envelope);
  }

  /** The newest verified payload held for a track. */
  payload(track: string): ManifestPayload | null {
    return this.held.get(track)?.[0]?.payload ?? null;
  }

  /** The newest verified fleet settings held (the heartbeat interval), or null. */
  settings(): FleetSettings | null {
    return this.fleetSettings.settings;
  }

  /** Every verified payload held for a track, newest first. */
  payloads(track: string): ManifestPayload[] {
    return (this.held.get(track) ?? []).map((h) => h.payload);
  }

  async offer(envelope: string): Promise<OfferResult> {
    try {
      return await this.accept(envelope);
    } catch (err) {
      const e = toUpshiftError(err, 'E_MANIFEST_PARSE');
      this.deps.log?.warn({ module: 'gossip', code: e.code }, `manifest refused: ${e.message}`);
      return 'refused';
    }
  }

  /** offer() for the authority's own publish: a refusal throws its code instead of returning 'refused'. */
  accept(envelope: string): Promise<'accepted' | 'same'> {
    const next = this.turn.then(() => this.acceptNow(envelope));
    this.turn = next.catch(() => undefined);
    return next;
  }

  private async acceptNow(envelope: string): Promise<'accepted' | 'same'> {
    if (isRevocationEnvelope(envelope)) return this.acceptRevocations(envelope);
    if (isFleetSettingsEnvelope(envelope)) {
      const verdict = await this.fleetSettings.accept(envelope, this.hash(envelope));
      if (verdict === 'accepted') this.rebuild();
      return verdict;
    }
    const { deps } = this;
    let m: Held;
    let held: Held[];
    try {
      const verified = verifyManifest(envelope, deps.keyset);
      const { payload } = verified;
      // Fleet, track, expiry here; the seq against what is held in admit(). The apply engine
      // checks this node's floor before it applies anything.
      acceptForHolding(payload, { now: deps.clock.now(), limits: deps.keyset.limits, fleet: deps.node.fleet, tracks: this.heldTracks });
      m = entry(verified);
      const verdict = admit(this.held.get(payload.track) ?? [], m);
      if (verdict.verdict === 'same') return 'same';
      if (verdict.verdict === 'refused') throw new UpshiftError(verdict.code, `${payload.track}: ${verdict.reason}`);
      held = verdict.held;
    } catch (err) {
      throw toUpshiftError(err, 'E_MANIFEST_PARSE');
    }
    const { track, seq, version } = m.payload;
    await deps.store.kv.setMany({
      [MANIFEST_KEY_PREFIX + track]: (held[0] as Held).envelope,
      [HELD_KEY_PREFIX + track]: JSON.stringify(held.map((h) => h.envelope)),
    });
    this.held.set(track, held);
    this.rebuild();
    deps.log?.info({ module: 'gossip', track, seq, version, held: held.map((h) => h.seq) }, 'manifest accepted');
    // Only the newest manifest that targets this node is applied; an older one that arrives later is only forwarded.
    if (this.targetsMe(m.payload) && newestFor(held, deps.node.id) === m) this.enqueue(m.m);
    return 'accepted';
  }

  /**
   * Take up a manifest another process of this node stored (`pipeline run` from the CLI
   * while the daemon runs): one kv read per track, verified like any offer.
   */
  async refresh(): Promise<void> {
    this.retryDeferred();
    const stored: string[] = [];
    for (const t of this.heldTracks) {
      const list = await this.deps.store.kv.get(HELD_KEY_PREFIX + t);
      if (list === this.looked.get(t)) continue; // unchanged since the last round
      if (list !== null) this.looked.set(t, list);
      stored.push(...await storedHeld(this.deps.store, t));
    }
    const revocations = await this.deps.store.identity.revocationList();
    if (revocations !== null && revocations !== this.looked.get(REVOCATIONS_KEY)) {
      this.looked.set(REVOCATIONS_KEY, revocations);
      stored.push(revocations);
    }
    // what the authority's daemon signed (heartbeat-pacer.ts) and another process of it stored
    const settings = await this.deps.store.kv.get(FLEET_SETTINGS_KV);
    if (settings !== null && !this.fleetSettings.holds(this.hash(settings))) stored.push(settings);
    for (const envelope of stored) {
      const hash = this.hash(envelope);
      if (this.offered.has(hash) || this.holds(hash)) continue;
      this.offered.add(hash); // a refused one is not offered again every round
      await this.offer(envelope);
    }
  }

  /** A newer revocation list: kept, served, and its revocations recorded, so revoked senders are refused here too. */
  private async acceptRevocations(envelope: string): Promise<'accepted' | 'same'> {
    const { deps } = this;
    const list = verifyRevocations(envelope, deps.keyset, deps.node.fleet);
    const have = this.revocations;
    const hash = this.hash(envelope);
    if (have && list.seq === have.seq) {
      if (have.hash === hash) return 'same';
      throw new UpshiftError('E_SEQ_CONFLICT', `a different revocation list #${list.seq} is already held`);
    }
    if (have && list.seq < have.seq) throw new UpshiftError('E_ROLLBACK', `revocation list #${list.seq} is older than the #${have.seq} held`);
    const revoked = list.revoked.map((r) => ({ nodeId: r.node_id, serial: r.serial, reason: r.reason, revokedAt: Date.parse(r.revoked_at) }));
    await deps.store.identity.holdRevocationList(envelope, revoked);
    await deps.onRevocations?.();
    this.revocations = { envelope, hash, seq: list.seq };
    this.rebuild();
    deps.log?.info({ module: 'gossip', seq: list.seq, revoked: list.revoked.length }, 'revocation list accepted');
    return 'accepted';
  }

  /** Manifests held but not yet applied here (after a restart mid-apply, say): apply them. */
  async resume(): Promise<void> {
    if (this.deps.engine === null) return;
    for (const [track, held] of this.held) {
      const floor = await this.deps.store.floors.get(track);
      const mine = newestFor(held, this.deps.node.id);
      if (mine && this.targetsMe(mine.payload) && (floor === null || mine.seq > floor)) this.enqueue(mine.m);
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

  /** Applied here: a track this node runs (a relayed one is only held), aimed at this node. */
  private targetsMe(p: ManifestPayload): boolean {
    if (this.deps.engine === null || !this.deps.node.tracks.includes(p.track)) return false;
    return p.targets === 'all' || p.targets.includes(this.deps.node.id);
  }

  private enqueue(m: VerifiedManifest): void {
    if (this.closed) return; // after shutdown began: the next start's resume() takes it up
    this.queue.push(m);
    this.draining ??= this.drain().finally(() => {
      this.draining = null;
    });
  }

  /** Why a track's newest release waits (its maintenance window), or null. */
  waiting(track: string): string | null {
    return this.deferred.get(track)?.reason ?? null;
  }

  /**
   * Outside every maintenance window a release waits (not urgent) or goes ahead and is
   * recorded as urgent. Returns the reason it waits, or null to apply now.
   */
  private async windowGate(m: VerifiedManifest): Promise<string | null> {
    const windows = this.deps.windows ?? [];
    const now = this.deps.clock.now();
    if (inWindow(windows, now)) return null;
    const { track, seq, version } = m.payload;
    if (m.payload.rollout?.urgent) {
      await this.deps.store.appendEvent({ at: now, runId: null, stage: null, kind: 'apply.urgent', actor: `node:${this.deps.node.id}`, data: { track, seq, version, windows: windows.map((w) => w.text) } });
      this.deps.log?.warn({ module: 'apply', track, seq }, `urgent release ${version}: switching outside the maintenance window`);
      return null;
    }
    return `waiting for maintenance window ${windows.map((w) => w.text).join(', ')} (opens ${new Date(nextOpening(windows, now)).toISOString()})`;
  }

  /** Deferred releases whose window has opened, if still the newest for this node, are queued again. */
  private retryDeferred(): void {
    if (this.deferred.size === 0 || !inWindow(this.deps.windows ?? [], this.deps.clock.now())) return;
    for (const [track, { m }] of [...this.deferred]) {
      this.deferred.delete(track);
      if (newestFor(this.held.get(track) ?? [], this.deps.node.id)?.hash === m.hash) this.enqueue(m);
    }
  }

  /** One apply at a time; the engine's own lock also guards against other processes. */
  private async drain(): Promise<void> {
    const engine = this.deps.engine;
    let next: VerifiedManifest | undefined;
    while (engine && (next = this.queue.shift()) !== undefined) {
      const waits = await this.windowGate(next);
      if (waits) {
        this.deferred.set(next.payload.track, { m: next, reason: waits });
        this.deps.log?.info({ module: 'apply', track: next.payload.track, seq: next.payload.seq }, waits);
        continue;
      }
      this.deferred.delete(next.payload.track);
      try {
        const out = await engine.applyManifest(next);
        this.deps.log?.info({ module: 'apply' }, out.reason);
      } catch (err) {
        const e = toUpshiftError(err);
        this.deps.log?.warn({ module: 'apply', code: e.code }, `apply from gossip ended: ${e.message}`);
      }
    }
  }

  private holds(hash: string): boolean {
    if (this.revocations?.hash === hash) return true;
    if (this.fleetSettings.holds(hash)) return true;
    for (const held of this.held.values()) if (held.some((h) => h.hash === hash)) return true;
    return false;
  }

  private rebuild(): void {
    const d: Digest = {};
    for (const [track, [newest, ...others]] of this.held) {
      if (!newest) continue;
      const also = others.map((h) => ({ seq: h.seq, hash: h.hash }));
      d[track] = { seq: newest.seq, hash: newest.hash, ...(also.length ? { also } : {}) };
    }
    if (this.revocations) d[REVOCATIONS_KEY] = { seq: this.revocations.seq, hash: this.revocations.hash };
    const settings = this.fleetSettings.entry;
    if (settings) d[FLEET_SETTINGS_KEY] = settings;
    this.current = d;
  }
}

function entry(m: VerifiedManifest): Held {
  return { m, envelope: m.text, hash: m.hash, payload: m.payload, seq: m.payload.seq, targets: m.payload.targets };
}
