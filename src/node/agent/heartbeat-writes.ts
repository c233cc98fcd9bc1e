// Which heard heartbeats are worth a store write this round. Every node's heartbeat arrives
// several times a second and almost never changes; writing each one was a transaction (an
// fsync) per round for nothing. A heartbeat is written when its content changed, or when the
// stored time of hearing it is `refreshMs` old (gossip.report_every): the age `fleet ls` and
// the canary's silence check read is then at most that stale, far under heartbeat_timeout.
import type { Heartbeat } from '../../gossip/types.js';

export class HeartbeatWrites {
  /** Per node, what the store holds: the heartbeat's JSON and when it was heard. */
  private readonly stored = new Map<string, { json: string; at: number }>();

  constructor(private readonly refreshMs: number) {}

  /** The entries of `heard` the store should get now (all of them when `force`). */
  due(heard: ReadonlyMap<string, { at: number; heartbeat: Heartbeat }>, force = false): Array<[string, string]> {
    const out: Array<[string, string]> = [];
    for (const [node, saved] of heard) {
      const json = JSON.stringify(saved.heartbeat);
      const last = this.stored.get(node);
      if (!force && last !== undefined && last.json === json && saved.at - last.at < this.refreshMs) continue;
      out.push([node, JSON.stringify(saved)]);
    }
    return out;
  }

  /** After the transaction committed: what the store now holds. */
  written(heard: ReadonlyMap<string, { at: number; heartbeat: Heartbeat }>, nodes: readonly string[]): void {
    for (const node of nodes) {
      const saved = heard.get(node);
      if (saved) this.stored.set(node, { json: JSON.stringify(saved.heartbeat), at: saved.at });
    }
  }
}
