// Membership (SPEC "Gossip"): seeds from config plus peers learned from other nodes' samples.
// Liveness comes only from direct evidence: a message or an answer from the peer itself marks
// it seen; a request it failed to answer marks it failing. A failing peer silent for
// `suspectAfter` is suspect (still gossiped to), for `deadAfter` dead (left out of fanout,
// probed now and then by anti-entropy). We do not call a peer suspect merely because we have
// not talked to it: in a big fleet with partial views most peers are rarely contacted, and
// silence-only suspicion would kill healthy entries faster than probing revives them. A peer
// dead for `removeAfter` is removed; it comes back by talking to us.
// Another node's sample only makes a peer pending: called once (on the transport's URL policy),
// never passed on in our samples, and dropped at its first failure, its id and URL barred for
// `deadAfter`. So a lying sampler costs each receiver one request per made-up address.
import type { PeerAddress } from './ports.js';
import { randomIndex, type Rng } from './rng.js';
import type { MemberSample } from './types.js';

export type MemberState = 'alive' | 'suspect' | 'dead';

interface Member {
  addr: PeerAddress & { id: string };
  lastSeen: number;
  /** A request to it failed since we last heard from it. */
  failing: boolean;
  /** Known only from another node's sample: never heard from directly. */
  pending: boolean;
}

export interface MemberView {
  id: string;
  url: string;
  state: MemberState;
  last_seen: number;
}

export interface MembershipOptions {
  self: string;
  suspectAfter: number;
  deadAfter: number;
  rng: Rng;
  /** Table bound; when full, a stale entry makes room (default 1024). */
  maxMembers?: number;
  /** Seed URLs from config: first contacts, and probes when the table is empty. */
  seeds?: readonly string[];
  /** Chance that anti-entropy probes any member, dead ones included, instead of a live one. */
  probeAnyChance?: number;
  /** How long a failing peer stays in the table after it was last heard (gossip.remove_after, default 10 min). */
  removeAfter?: number;
  /** Pending peers at a time (default 8). */
  maxPending?: number;
  /** The transport's address policy: a sampled peer whose URL it refuses is not learned. */
  acceptUrl?: (url: string) => boolean;
}

export class Membership {
  private readonly list: Member[] = [];
  private readonly index = new Map<string, number>();
  private readonly max: number;
  private readonly seeds: readonly string[];
  private readonly probeAny: number;
  private readonly byUrl = new Map<string, string>();
  /** Ids and URLs of pending peers that failed, until when they may not be learned again. */
  private readonly barred = new Map<string, number>();
  private pendingCount = 0;

  constructor(private readonly opts: MembershipOptions) {
    this.max = opts.maxMembers ?? 1024;
    this.seeds = (opts.seeds ?? []).slice();
    this.probeAny = opts.probeAnyChance ?? 0.25;
  }

  get size(): number {
    return this.list.length;
  }

  state(id: string, now: number): MemberState | null {
    const i = this.index.get(id);
    return i === undefined ? null : this.stateOf(this.list[i] as Member, now);
  }

  /** Direct evidence from the peer itself: add or revive it; it alone may change its URL. */
  heard(addr: PeerAddress & { id: string }, now: number): void {
    if (addr.id === this.opts.self) return;
    const i = this.index.get(addr.id);
    if (i === undefined) {
      this.add({ addr: { id: addr.id, url: addr.url }, lastSeen: now, failing: false, pending: false }, true);
      return;
    }
    const m = this.list[i] as Member;
    if (m.addr.url !== addr.url) {
      if (this.byUrl.get(m.addr.url) === m.addr.id) this.byUrl.delete(m.addr.url);
      m.addr = { id: addr.id, url: addr.url };
      this.byUrl.set(addr.url, addr.id);
    }
    m.lastSeen = Math.max(m.lastSeen, now);
    m.failing = false;
    if (m.pending) {
      m.pending = false;
      this.pendingCount--;
    }
  }

  /** A request to the peer went unanswered. A pending peer is dropped at once and barred for deadAfter. */
  failed(id: string, now?: number): void {
    const i = this.index.get(id);
    if (i === undefined) return;
    const m = this.list[i] as Member;
    m.failing = true;
    if (!m.pending) return;
    if (now !== undefined) {
      this.barred.set(`id:${id}`, now + this.opts.deadAfter);
      this.barred.set(`url:${m.addr.url}`, now + this.opts.deadAfter);
    }
    this.removeAt(i);
  }

  /**
   * Another node's word only introduces peers we do not know, as pending, and only into free
   * room: it never changes a known peer nor pushes one out, so a hostile sampler cannot flush
   * our table; an address already in the table or refused by the URL policy is not learned.
   */
  learn(samples: readonly MemberSample[], now: number): void {
    const maxPending = this.opts.maxPending ?? 8;
    for (const s of samples) {
      if (this.list.length >= this.max || this.pendingCount >= maxPending) return;
      if (s.id === this.opts.self || this.index.has(s.id) || this.byUrl.has(s.url)) continue;
      if (s.age_ms >= this.opts.suspectAfter) continue;
      if (this.isBarred(`id:${s.id}`, now) || this.isBarred(`url:${s.url}`, now)) continue;
      if (this.opts.acceptUrl && !this.opts.acceptUrl(s.url)) continue;
      this.add({ addr: { id: s.id, url: s.url }, lastSeen: now - s.age_ms, failing: false, pending: true }, false);
    }
  }

  private isBarred(key: string, now: number): boolean {
    const until = this.barred.get(key);
    if (until === undefined) return false;
    if (until > now) return true;
    this.barred.delete(key);
    return false;
  }

  /** Up to `k` distinct peers that are not dead, chosen uniformly; seeds when we know nobody. */
  pickFanout(k: number, now: number, exclude: string | null = null): PeerAddress[] {
    if (this.list.length === 0) return this.seeds.slice(0, k).map((url) => ({ id: null, url }));
    const picked: PeerAddress[] = [];
    const n = this.list.length;
    if (n <= 4 * k) {
      // Small tables: a partial shuffle of the candidates, so every peer gets its turn.
      const candidates = this.list.filter((m) => m.addr.id !== exclude && this.stateOf(m, now) !== 'dead');
      for (let i = 0; i < k && i < candidates.length; i++) {
        const j = i + randomIndex(this.opts.rng, candidates.length - i);
        [candidates[i], candidates[j]] = [candidates[j] as Member, candidates[i] as Member];
        picked.push((candidates[i] as Member).addr);
      }
      return picked;
    }
    // Rejection sampling keeps this O(k) on big tables.
    for (let tries = 0; tries < 4 * k && picked.length < k; tries++) {
      const m = this.list[randomIndex(this.opts.rng, n)] as Member;
      if (m.addr.id === exclude || picked.includes(m.addr) || this.stateOf(m, now) === 'dead') continue;
      picked.push(m.addr);
    }
    return picked;
  }

  /** Anti-entropy's partner: usually a live peer, sometimes any (so dead ones get re-probed), a seed when alone. */
  pickProbe(now: number): PeerAddress | null {
    this.sweep(now);
    const r = this.opts.rng();
    if (this.seeds.length > 0 && (this.list.length === 0 || r < 0.05)) return { id: null, url: this.seeds[randomIndex(this.opts.rng, this.seeds.length)] as string };
    if (this.list.length === 0) return null;
    if (r < this.probeAny) return (this.list[randomIndex(this.opts.rng, this.list.length)] as Member).addr;
    return this.pickFanout(1, now)[0] ?? (this.list[randomIndex(this.opts.rng, this.list.length)] as Member).addr;
  }

  /** Up to `k` alive members with their ages, for the samples we send. */
  sample(k: number, now: number): MemberSample[] {
    const out: MemberSample[] = [];
    const n = this.list.length;
    if (n === 0) return out;
    for (let tries = 0; tries < 2 * k && out.length < k; tries++) {
      const m = this.list[randomIndex(this.opts.rng, n)] as Member;
      if (m.pending || this.stateOf(m, now) !== 'alive' || out.some((s) => s.id === m.addr.id)) continue;
      out.push({ id: m.addr.id, url: m.addr.url, age_ms: Math.max(0, Math.round(now - m.lastSeen)) });
    }
    return out;
  }

  /** The members heard from directly (pending ones are not members yet). */
  view(now: number): MemberView[] {
    return this.list
      .filter((m) => !m.pending)
      .map((m) => ({ id: m.addr.id, url: m.addr.url, state: this.stateOf(m, now), last_seen: m.lastSeen }));
  }

  /** Remove peers dead for removeAfter, and forget expired bars; runs with anti-entropy, O(table). */
  sweep(now: number): void {
    const removeAfter = Math.max(this.opts.removeAfter ?? 10 * 60_000, this.opts.deadAfter);
    for (let i = this.list.length - 1; i >= 0; i--) {
      const m = this.list[i] as Member;
      if (m.failing && now - m.lastSeen >= removeAfter) this.removeAt(i);
    }
    for (const [key, until] of this.barred) if (until <= now) this.barred.delete(key);
  }

  private stateOf(m: Member, now: number): MemberState {
    if (!m.failing) return 'alive';
    const silent = now - m.lastSeen;
    return silent >= this.opts.deadAfter ? 'dead' : silent >= this.opts.suspectAfter ? 'suspect' : 'alive';
  }

  private add(m: Member, evict: boolean): void {
    if (this.list.length >= this.max) {
      if (!evict) return;
      this.evictStalest();
    }
    this.index.set(m.addr.id, this.list.length);
    this.list.push(m);
    this.byUrl.set(m.addr.url, m.addr.id);
    if (m.pending) this.pendingCount++;
  }

  /** O(1): the last entry takes the removed one's place. */
  private removeAt(i: number): void {
    const gone = this.list[i] as Member;
    const last = this.list.pop() as Member;
    this.index.delete(gone.addr.id);
    if (this.byUrl.get(gone.addr.url) === gone.addr.id) this.byUrl.delete(gone.addr.url);
    if (gone.pending) this.pendingCount--;
    if (gone !== last) {
      this.list[i] = last;
      this.index.set(last.addr.id, i);
    }
  }

  // Looking at a few random entries keeps eviction O(1) while still preferring dead and
  // long-silent peers; a random survivor also keeps partial views mixing.
  private evictStalest(): void {
    let worst = randomIndex(this.opts.rng, this.list.length);
    for (let j = 0; j < 3; j++) {
      const i = randomIndex(this.opts.rng, this.list.length);
      const a = this.list[i] as Member;
      const b = this.list[worst] as Member;
      if (a.failing !== b.failing ? a.failing : a.lastSeen < b.lastSeen) worst = i;
    }
    this.removeAt(worst);
  }
}
