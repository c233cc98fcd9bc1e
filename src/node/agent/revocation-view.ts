// The revocations this node knows, held in memory: gossip checks a sender's certificate on
// every message, synchronously, and the store is async. The agent reads them again before
// it handles each message it receives, before each round it starts, and right after it
// records a revocation list.
import type { StateStore } from '../../core/ports.js';

export class RevocationView {
  /** Per node, the highest serial a revocation covers (it covers every older one too). */
  private covered = new Map<string, number>();

  constructor(private readonly store: StateStore) {}

  async refresh(): Promise<this> {
    const next = new Map<string, number>();
    for (const r of await this.store.identity.revocations()) next.set(r.nodeId, Math.max(next.get(r.nodeId) ?? -1, r.serial));
    this.covered = next;
    return this;
  }

  /** True when a revocation covers this certificate (the same rule as the store's isRevoked). */
  readonly revoked = (nodeId: string, serial: number): boolean => (this.covered.get(nodeId) ?? -Infinity) >= serial;
}
