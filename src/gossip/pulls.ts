// One verification per digest (SPEC "Gossip"): however many peers advertise the same
// (track, hash), the node pulls it from one advertiser at a time and offers it to the
// manifest store once. Other advertisers are kept as fallbacks in case that pull is lost.
// A refused hash is remembered, so it is never fetched or verified again.
import type { OfferResult, PeerAddress } from './ports.js';

interface Pulling {
  state: 'pulling';
  /** Advertisers to try next if the current pull fails, oldest first. */
  fallbacks: PeerAddress[];
}

interface Refused {
  state: 'refused';
}

export type WantResult = 'start' | 'queued' | 'skip';

export class PullTracker {
  private readonly entries = new Map<string, Pulling | Refused>();
  private refusedCount = 0;

  constructor(
    /** Fallback advertisers kept per digest; more only repeat what the first ones said. */
    private readonly maxFallbacks = 4,
    /** Refused hashes remembered; past this the oldest is forgotten (and may cost one more verify). */
    private readonly maxRefused = 1024,
  ) {}

  get inFlight(): number {
    return this.entries.size - this.refusedCount;
  }

  /** A peer advertised (track, hash) newer than ours: 'start' means pull from it now. */
  want(track: string, hash: string, from: PeerAddress): WantResult {
    const key = keyOf(track, hash);
    const entry = this.entries.get(key);
    if (!entry) {
      this.entries.set(key, { state: 'pulling', fallbacks: [] });
      return 'start';
    }
    if (entry.state === 'refused') return 'skip';
    if (entry.fallbacks.length < this.maxFallbacks && !entry.fallbacks.some((p) => p.id === from.id)) entry.fallbacks.push(from);
    return 'queued';
  }

  /** The pull failed (lost, timed out, wrong bytes): the next advertiser to try, or null to wait for a new advertisement. */
  failed(track: string, hash: string): PeerAddress | null {
    const key = keyOf(track, hash);
    const entry = this.entries.get(key);
    if (!entry || entry.state !== 'pulling') return null;
    const next = entry.fallbacks.shift() ?? null;
    if (!next) this.entries.delete(key);
    return next;
  }

  /**
   * The store answered. Accepted or same: forget the entry, because the node's own digest now
   * filters that seq out. Refused: remember it. A store that threw is `null`: forget, so a
   * later advertisement can try again.
   */
  settled(track: string, hash: string, result: OfferResult | null): void {
    const key = keyOf(track, hash);
    if (this.entries.get(key)?.state === 'refused') this.refusedCount--;
    this.entries.delete(key);
    if (result !== 'refused') return;
    if (this.refusedCount >= this.maxRefused) this.forgetOldestRefused();
    this.entries.set(key, { state: 'refused' });
    this.refusedCount++;
  }

  private forgetOldestRefused(): void {
    for (const [key, entry] of this.entries) {
      if (entry.state !== 'refused') continue;
      this.entries.delete(key);
      this.refusedCount--;
      return;
    }
  }
}

const keyOf = (track: string, hash: string): string => `${track}\u0000${hash}`;
