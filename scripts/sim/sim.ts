// The fleet simulator: N real GossipNodes over a SimNetwork with a virtual clock. One node
// publishes a manifest; we measure when 99% and 100% of the fleet have accepted it. What is
// NOT real here, to keep N = 10,000 fast: message auth is a stand-in that trusts the sender
// field (no signatures), a "manifest" is a short string and its hash a 32-bit FNV, and every
// node starts with a warm random partial view of `view` peers (a fleet that has been up a while).
import type { Digest, GossipMessage, Heartbeat } from '../../src/gossip/types.js';
import type { GossipTimings, ManifestSource, MessageAuth, OfferResult } from '../../src/gossip/ports.js';
import { GossipNode } from '../../src/gossip/node.js';
import { randomIndex, seededRng } from '../../src/gossip/rng.js';
import { SimNetwork } from './sim-network.js';

export const SIM_STAND_INS = {
  auth: 'stand-in: no signatures, the sender field is trusted (real nodes use Ed25519 node keys and certificates)',
  manifest: 'stand-in: a short string "verified" by parsing it, hash = 32-bit FNV-1a (real nodes verify DSSE/Ed25519, hash = sha256)',
  membership: 'warm start: each node knows `view` random peers, as a fleet that has been running would',
} as const;

export interface SimScenario {
  nodes: number;
  seed: number;
  loss: number;
  gossip?: Partial<GossipTimings & { interval: number; anti_entropy: number }>;
  latency?: { min: number; max: number };
  /** Peers each node knows at start (default min(N − 1, 32)); the table may grow to `maxMembers` (default 64). */
  view?: number;
  maxMembers?: number;
  /** Cut the fleet in two halves (the publisher in the first) from time 0 until `healAt` ms. */
  partition?: { healAt: number };
  /** Give up after this much virtual time (default 120 s, or 120 s after the heal). */
  maxMs?: number;
}

/** What every simulated broadcast reports, the protocol and the push-only baseline alike. */
export interface ConvergenceStats {
  nodes: number;
  converged: boolean;
  /** Virtual ms from publish until 99% / 100% of nodes had it; null if never. */
  ms99: number | null;
  ms100: number | null;
  rounds99: number | null;
  rounds100: number | null;
  /** Messages put on the wire per node, lost ones included, until 100%. */
  messagesPerNode: number;
  /** Messages that carried the manifest, per node. */
  transfersPerNode: number;
}

export interface SimRun extends ConvergenceStats {
  /** Verifications (store offers) per node; one per node is the ideal. */
  offersPerNode: number;
  /** Partition scenario: ms from the heal to 100%, and what the fleet looked like at the heal. */
  healToFullMs?: number | null;
  atHeal?: { reached: number; crossPeers: { alive: number; suspect: number; dead: number } };
}

export const SIM_DEFAULTS = { fanout: 3, interval: 1000, anti_entropy: 10_000, suspect_after: 5000, dead_after: 30_000, replay_window: 30_000, rate_limit_per_sec: 50 };

const TRACK = 'testnet';
export const simEnvelope = (seq: number, valid = true): string => `sim-manifest/v1 ${TRACK} ${seq} ${valid ? 'ok' : 'bad'}`;

export function fnv1a(s: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return (h >>> 0).toString(16).padStart(8, '0');
}

/** A node's manifest store for the simulator: "verification" parses the stand-in string. */
export class SimSource implements ManifestSource {
  offers = 0;
  private d: Digest = {};
  private readonly envelopes = new Map<string, string>();
  constructor(private readonly onAccept: (track: string, seq: number) => void = () => {}) {}

  digest(): Digest {
    return this.d;
  }
  get(track: string): string | null {
    return this.envelopes.get(track) ?? null;
  }
  hash(envelope: string): string {
    return fnv1a(envelope);
  }
  async offer(envelope: string): Promise<OfferResult> {
    this.offers++;
    const [schema, track, seqText, verdict] = envelope.split(' ');
    const seq = Number(seqText);
    if (schema !== 'sim-manifest/v1' || track === undefined || !Number.isSafeInteger(seq) || verdict !== 'ok') return 'refused';
    const have = this.d[track];
    if (have && seq <= have.seq) return have.hash === this.hash(envelope) ? 'same' : 'refused';
    // A new object, never a mutation: nodes may hold the old digest while a message is in flight.
    this.d = { ...this.d, [track]: { seq, hash: this.hash(envelope) } };
    this.envelopes.set(track, envelope);
    this.onAccept(track, seq);
    return 'accepted';
  }
}

export const simAuth: MessageAuth<GossipMessage> = { sign: (m) => m, verify: (w) => ({ from: w.from, content: w }) };

export const simHeartbeat = (node: string): Heartbeat => ({ node, versions: {}, code_hash: {}, health: 'ok', error_rate: 0, apply_state: 'idle', labels: {} });

export async function runGossipSim(s: SimScenario): Promise<SimRun> {
  const g = { ...SIM_DEFAULTS, ...s.gossip };
  const n = s.nodes;
  const half = Math.ceil(n / 2);
  const side = (i: number) => (i < half ? 0 : 1);
  const healAt = s.partition?.healAt ?? -1;
  const net = new SimNetwork<GossipMessage>({
    seed: s.seed,
    loss: s.loss,
    ...(s.latency ? { latency: s.latency } : {}),
    ...(s.partition ? { blocked: (a: number, b: number, now: number) => now < healAt && side(a) !== side(b) } : {}),
  });
  const rng = seededRng(s.seed);
  const view = Math.min(n - 1, s.view ?? 32);
  const addr = (i: number) => ({ id: `n${i}`, url: `sim://n${i}` });
  let reached = 0;
  let t99: number | null = null;
  let t100: number | null = null;
  const need99 = Math.ceil(0.99 * n);
  const onAccept = () => {
    reached++;
    if (reached >= need99 && t99 === null) t99 = net.clock.now();
    if (reached === n) t100 = net.clock.now();
  };

  const nodes: Array<GossipNode<GossipMessage>> = [];
  const sources: SimSource[] = [];
  for (let i = 0; i < n; i++) {
    const peers = new Map<number, { id: string; url: string }>();
    while (peers.size < view) {
      const j = randomIndex(rng, n);
      if (j !== i && !peers.has(j)) peers.set(j, addr(j));
    }
    const source = new SimSource(onAccept);
    const hb = simHeartbeat(`n${i}`);
    const node = new GossipNode<GossipMessage>({
      id: `n${i}`,
      url: `sim://n${i}`,
      gossip: g,
      clock: net.clock,
      rng: seededRng((s.seed * 1_000_003 + i) >>> 0),
      transport: net.transport(i),
      auth: simAuth,
      source,
      heartbeat: () => hb,
      peers: [...peers.values()],
      maxMembers: s.maxMembers ?? 64,
    });
    net.register(`sim://n${i}`, (w) => node.receive(w));
    nodes.push(node);
    sources.push(source);
    // Unsynchronized timers, as on real machines.
    const every = (period: number, fn: () => Promise<void>) => {
      const loop = (t: number) => net.at(t, () => { fn().catch(() => {}); loop(t + period); });
      loop(Math.floor(rng() * period));
    };
    every(g.interval, () => node.tick());
    every(g.anti_entropy, () => node.antiEntropy());
  }

  let atHeal: SimRun['atHeal'];
  if (s.partition) net.at(healAt, () => { atHeal = { reached, crossPeers: crossStates(nodes, side, healAt) }; });

  // The publisher's own store accepts the signed manifest, and it advertises at once.
  await sources[0]!.offer(simEnvelope(1));
  void nodes[0]!.tick();
  await net.run(() => reached === n, s.maxMs ?? Math.max(healAt, 0) + 120_000);

  const sum = (f: (x: GossipNode<GossipMessage>) => number) => nodes.reduce((a, x) => a + f(x), 0);
  const r2 = (x: number) => Math.round(x * 100) / 100;
  const rounds = (ms: number | null) => (ms === null ? null : r2(ms / g.interval));
  return {
    nodes: n,
    converged: reached === n,
    ms99: t99,
    ms100: t100,
    rounds99: rounds(t99),
    rounds100: rounds(t100),
    messagesPerNode: r2(net.messages / n),
    transfersPerNode: r2(sum((x) => x.stats.manifestsServed) / n),
    offersPerNode: r2(sources.reduce((a, x) => a + x.offers, 0) / n),
    ...(s.partition ? { healToFullMs: t100 === null ? null : t100 - healAt, atHeal } : {}),
  };
}

function crossStates(nodes: ReadonlyArray<GossipNode<GossipMessage>>, side: (i: number) => number, now: number) {
  const out = { alive: 0, suspect: 0, dead: 0 };
  nodes.forEach((node, i) => {
    for (const m of node.membership.view(now)) if (side(Number(m.id.slice(1))) !== side(i)) out[m.state]++;
  });
  return out;
}
