// The comparison point for the benchmark: memberlist-style push-only broadcast over the same
// simulated network. A node that learns the message queues it; every gossip interval it sends
// its queued broadcasts to `fanout` random peers, each send counting one transmit, until the
// message has been sent retransmitMult × ceil(log10(N + 1)) times (memberlist's
// TransmitLimitedQueue with RetransmitMult = 4). The message carries the payload itself, so
// every delivery is a manifest transfer; there is no pull, no digest and no anti-entropy.
import { randomIndex, seededRng } from '../../src/gossip/rng.js';
import { SimNetwork } from './sim-network.js';
import type { ConvergenceStats } from './sim.js';

export interface BaselineScenario {
  nodes: number;
  seed: number;
  loss: number;
  fanout?: number;
  interval?: number;
  retransmitMult?: number;
  latency?: { min: number; max: number };
  /** Peers each node knows (default min(N − 1, 32)), as in the gossip simulation. */
  view?: number;
  maxMs?: number;
}

export interface BaselineRun extends ConvergenceStats {
  retransmitLimit: number;
  /** Fraction of nodes the broadcast reached before every queue emptied. */
  reached: number;
}

export const retransmitLimit = (nodes: number, mult = 4): number => mult * Math.ceil(Math.log10(nodes + 1));

export async function runPushBaseline(s: BaselineScenario): Promise<BaselineRun> {
  const n = s.nodes;
  const fanout = s.fanout ?? 3;
  const interval = s.interval ?? 1000;
  const limit = retransmitLimit(n, s.retransmitMult ?? 4);
  const net = new SimNetwork<never>({ seed: s.seed, loss: s.loss, ...(s.latency ? { latency: s.latency } : {}) });
  const rng = seededRng(s.seed);
  const view = Math.min(n - 1, s.view ?? 32);
  const peers: Int32Array[] = [];
  for (let i = 0; i < n; i++) {
    const set = new Set<number>();
    while (set.size < view) {
      const j = randomIndex(rng, n);
      if (j !== i) set.add(j);
    }
    peers.push(Int32Array.from(set));
  }
  const has = new Uint8Array(n);
  const transmits = new Int32Array(n);
  let reached = 0;
  let pending = 0;
  let deliveries = 0;
  let t99: number | null = null;
  let t100: number | null = null;

  const receive = (i: number) => {
    deliveries++;
    if (has[i]) return;
    has[i] = 1;
    reached++;
    pending++;
    if (t99 === null && reached >= Math.ceil(0.99 * n)) t99 = net.clock.now();
    if (reached === n) t100 = net.clock.now();
  };
  // One gossip interval of node i: up to `fanout` sends while its transmit budget lasts.
  const gossip = (i: number) => {
    if (!has[i] || transmits[i]! >= limit) return;
    const mine = peers[i] as Int32Array;
    for (let k = 0; k < fanout && transmits[i]! < limit; k++) {
      const j = mine[randomIndex(rng, mine.length)] as number;
      transmits[i]!++;
      net.messages++;
      if (!net.dropped(i, j)) net.after(net.latency(), () => receive(j));
    }
    if (transmits[i]! >= limit) pending--;
  };
  for (let i = 0; i < n; i++) {
    const loop = (t: number) => net.at(t, () => { gossip(i); loop(t + interval); });
    loop(Math.floor(rng() * interval));
  }
  receive(0);
  deliveries = 0;
  // Done when everyone has it, or when no queue holds it any more and nothing is in flight.
  let idleSince = 0;
  await net.run(() => {
    if (reached === n) return true;
    if (pending > 0) idleSince = net.clock.now();
    return pending === 0 && net.clock.now() - idleSince > 200;
  }, s.maxMs ?? 120_000);

  const r2 = (x: number) => Math.round(x * 100) / 100;
  return {
    nodes: n,
    retransmitLimit: limit,
    reached: r2(reached / n),
    converged: reached === n,
    ms99: t99,
    ms100: t100,
    rounds99: t99 === null ? null : r2(t99 / interval),
    rounds100: t100 === null ? null : r2(t100 / interval),
    messagesPerNode: r2(net.messages / n),
    transfersPerNode: r2(deliveries / n),
  };
}
