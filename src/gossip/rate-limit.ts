// Per-peer token buckets (gossip.rate_limit_per_sec). Keyed by the authenticated sender, so a
// certified node cannot dodge its limit by changing address; the HTTP adapter can add a
// per-address limit in front for unauthenticated floods.
import { UpshiftError } from '../core/errors.js';

interface Bucket {
  tokens: number;
  at: number;
}

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();

  /** `burst` defaults to one second's worth, so a peer's steady rate is never refused. */
  constructor(
    private readonly perSec: number,
    private readonly burst = perSec,
    private readonly maxPeers = 10_000,
  ) {}

  /** Spends one token for `peer`, or throws E_RATE_LIMITED. */
  take(peer: string, now: number): void {
    let bucket = this.buckets.get(peer);
    if (!bucket) {
      if (this.buckets.size >= this.maxPeers) this.prune(now);
      bucket = { tokens: this.burst, at: now };
      this.buckets.set(peer, bucket);
    } else {
      bucket.tokens = Math.min(this.burst, bucket.tokens + (Math.max(0, now - bucket.at) * this.perSec) / 1000);
      bucket.at = now;
    }
    if (bucket.tokens < 1) {
      throw new UpshiftError('E_RATE_LIMITED', `peer ${peer} is over ${this.perSec} messages per second`, { details: { peer, limit: this.perSec } });
    }
    bucket.tokens -= 1;
  }

  // A bucket that has refilled completely is the same as no bucket, so dropping it is free.
  private prune(now: number): void {
    const refillMs = (this.burst * 1000) / this.perSec;
    for (const [peer, b] of this.buckets) if (now - b.at >= refillMs) this.buckets.delete(peer);
  }
}
