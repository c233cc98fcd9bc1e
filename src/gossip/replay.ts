// Replay window (SPEC "Gossip": messages carry a timestamp and nonce). A message is refused
// when its `at` is more than `windowMs` from our clock, or when the same (sender, nonce) was
// seen while it could still be inside the window. Memory is bounded two ways: entries are
// dropped once no message they match could pass the window check, and when the table is
// full the oldest entry goes and its `at` becomes a watermark below which everything is
// refused, so eviction can never reopen a replay. The table lives in memory only, so a
// restart would reopen the window: messages stamped before this run started are refused,
// and so is anything not newer than what the previous run last accepted from that sender
// (saved at shutdown; covers senders whose clocks run ahead of ours).
import { UpshiftError } from '../core/errors.js';

export class ReplayGuard {
  // Per sender, so lookups hash the nonce string the sender made rather than a new joined key.
  private readonly seen = new Map<string, Set<string>>();
  private entries = 0;
  // Insertion-ordered queue of what to forget, consumed from `head`.
  private froms: string[] = [];
  private nonces: string[] = [];
  private inserted: number[] = [];
  private ats: number[] = [];
  private head = 0;
  private watermark = -Infinity;
  /** Per sender, the newest `at` accepted in this run, for the next run's floors. */
  private readonly latest = new Map<string, number>();
  private readonly since: number;
  private readonly restored: ReadonlyMap<string, number>;

  constructor(
    private readonly windowMs: number,
    private readonly maxEntries = 200_000,
    start: { since?: number; floors?: Readonly<Record<string, number>> } = {},
  ) {
    this.since = start.since ?? -Infinity;
    this.restored = new Map(Object.entries(start.floors ?? {}));
  }

  get size(): number {
    return this.entries;
  }

  /** Throws E_REPLAY, or remembers the nonce. */
  check(from: string, nonce: string, at: number, now: number): void {
    this.expire(now);
    if (Math.abs(now - at) > this.windowMs) {
      throw new UpshiftError('E_REPLAY', `message from ${from} is ${Math.round((now - at) / 1000)}s off our clock, outside the ±${this.windowMs / 1000}s replay window`, {
        details: { from, at, now },
      });
    }
    if (at < this.since) {
      const why = 'it may be a replay of one sent to the previous run';
      throw new UpshiftError('E_REPLAY', `message from ${from} is stamped before this node started; ${why}`, { details: { from, at, since: this.since } });
    }
    const floor = this.restored.get(from);
    if (floor !== undefined && at <= floor) {
      const why = 'not newer than the last one the previous run accepted from it';
      throw new UpshiftError('E_REPLAY', `message from ${from} is ${why}`, { details: { from, at, floor } });
    }
    if (at <= this.watermark) {
      throw new UpshiftError('E_REPLAY', `message from ${from} is older than the replay table remembers`, { details: { from, at } });
    }
    let nonces = this.seen.get(from);
    if (nonces?.has(nonce)) throw new UpshiftError('E_REPLAY', `message from ${from} with nonce ${nonce} was already received`, { details: { from, nonce } });
    if (this.entries >= this.maxEntries) this.forgetOldest(true);
    if (!nonces) this.seen.set(from, (nonces = new Set()));
    nonces.add(nonce);
    this.entries++;
    this.froms.push(from);
    this.nonces.push(nonce);
    this.inserted.push(now);
    this.ats.push(at);
    if (this.latest.size >= this.maxEntries) this.pruneLatest(now);
    if (!((this.latest.get(from) ?? -Infinity) >= at)) this.latest.set(from, at);
  }

  /**
   * What the next run should refuse, per sender: the newest `at` accepted from it, for
   * senders whose messages could still pass the window. Save it at shutdown.
   */
  floors(now: number): Record<string, number> {
    const out: Record<string, number> = {};
    for (const map of [this.restored, this.latest]) {
      for (const [from, at] of map) if (at >= now - this.windowMs && !((out[from] ?? -Infinity) >= at)) out[from] = at;
    }
    return out;
  }

  private pruneLatest(now: number): void {
    for (const [from, at] of this.latest) if (at < now - this.windowMs) this.latest.delete(from);
  }

  // A message accepted at `inserted` had at <= inserted + window, so after inserted + 2·window
  // any copy of it fails the window check by itself and its entry is no longer needed.
  private expire(now: number): void {
    while (this.head < this.froms.length && (this.inserted[this.head] as number) + 2 * this.windowMs < now) this.forgetOldest(false);
    if (this.head > 1024 && this.head * 2 > this.froms.length) {
      this.froms = this.froms.slice(this.head);
      this.nonces = this.nonces.slice(this.head);
      this.inserted = this.inserted.slice(this.head);
      this.ats = this.ats.slice(this.head);
      this.head = 0;
    }
  }

  private forgetOldest(early: boolean): void {
    const from = this.froms[this.head] as string;
    if (early) this.watermark = Math.max(this.watermark, this.ats[this.head] as number);
    const nonces = this.seen.get(from);
    nonces?.delete(this.nonces[this.head] as string);
    if (nonces?.size === 0) this.seen.delete(from);
    this.entries--;
    this.head++;
  }
}
