// Replay window (SPEC "Gossip": messages carry a timestamp and nonce). A message is refused
// when its `at` is more than `windowMs` from our clock, or when the same (sender, nonce) was
// seen while it could still be inside the window. Memory is bounded two ways: entries are
// dropped once no message they match could pass the window check, and when the table is
// full the oldest entry goes and its `at` becomes a watermark below which everything is
// refused, so eviction can never reopen a replay.
import { UpshiftError } from '../core/errors.js';

export class ReplayGuard {
  private readonly seen = new Map<string, true>();
  // Insertion-ordered queue (key, time inserted, message `at`), consumed from `head`.
  private keys: string[] = [];
  private inserted: number[] = [];
  private ats: number[] = [];
  private head = 0;
  private watermark = -Infinity;

  constructor(
    private readonly windowMs: number,
    private readonly maxEntries = 200_000,
  ) {}

  get size(): number {
    return this.seen.size;
  }

  /** Throws E_REPLAY, or remembers the nonce. */
  check(from: string, nonce: string, at: number, now: number): void {
    this.expire(now);
    if (Math.abs(now - at) > this.windowMs) {
      throw new UpshiftError('E_REPLAY', `message from ${from} is ${Math.round((now - at) / 1000)}s off our clock, outside the ±${this.windowMs / 1000}s replay window`, {
        details: { from, at, now },
      });
    }
    if (at <= this.watermark) {
      throw new UpshiftError('E_REPLAY', `message from ${from} is older than the replay table remembers`, { details: { from, at } });
    }
    const key = `${from}\u0000${nonce}`;
    if (this.seen.has(key)) throw new UpshiftError('E_REPLAY', `message from ${from} with nonce ${nonce} was already received`, { details: { from, nonce } });
    if (this.seen.size >= this.maxEntries) this.evictOldest(true);
    this.seen.set(key, true);
    this.keys.push(key);
    this.inserted.push(now);
    this.ats.push(at);
  }

  // A message accepted at `inserted` had at <= inserted + window, so after inserted + 2·window
  // any copy of it fails the window check by itself and its entry is no longer needed.
  private expire(now: number): void {
    while (this.head < this.keys.length && (this.inserted[this.head] as number) + 2 * this.windowMs < now) this.evictOldest(false);
    if (this.head > 1024 && this.head * 2 > this.keys.length) {
      this.keys = this.keys.slice(this.head);
      this.inserted = this.inserted.slice(this.head);
      this.ats = this.ats.slice(this.head);
      this.head = 0;
    }
  }

  private evictOldest(early: boolean): void {
    const key = this.keys[this.head] as string;
    if (early) this.watermark = Math.max(this.watermark, this.ats[this.head] as number);
    this.seen.delete(key);
    this.head++;
  }
}
