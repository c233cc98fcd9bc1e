// Which heard heartbeats are worth a store write this round. Every node's heartbeat arrives
// several times a second and almost never changes; writing each one was a transaction (an
// fsync) per round for nothing. A heartbeat is written when its content changed, or when the
// stored time of hearing it is `refreshMs` old (gossip.report_every): the age `fleet ls` and
// the canary's silence check read is then at most that stale, far under heartbeat_timeout.
import type { Heartbeat } from '../../gossip/types.js';

/** A heartbeat as heard, and the channel it came by (a change of channel alone is worth a write). */
type Heard = { at: number; heartbeat: Heartbeat; channel?: string };
const contentOf = (h: Heard): string => JSON.stringify([h.heartbeat, h.channel ?? null]);

export class HeartbeatWrites {
  /** Per node, what the store holds: the heartbeat's JSON and when it was heard. */
  private readonly stored = new Map<string, { json: string; at: number }>();

  constructor(private readonly refreshMs: number) {}

  /**
   * The entries of `heard` the store should get now: all of them when one is due (or at
   * `force`), since a transaction costs its commit, not its rows; none otherwise. So the
   * refreshes of every node fall in the same write rather than one write each.
   */
  due(heard: ReadonlyMap<string, Heard>, force = false): Array<[string, string]> {
    let any = force;
    for (const [node, saved] of heard) {
      if (any) break;
      const last = this.stored.get(node);
      any = last === undefined || saved.at - last.at >= this.refreshMs || last.json !== contentOf(saved);
    }
    return any ? [...heard].map(([node, saved]) => [node, JSON.stringify(saved)]) : [];
  }

  /** After the transaction committed: what the store now holds. */
  written(heard: ReadonlyMap<string, Heard>, nodes: readonly string[]): void {
    for (const node of nodes) {
      const saved = heard.get(node);
      if (saved) this.stored.set(node, { json: contentOf(saved), at: saved.at });
    }
  }
}
