// Prometheus metrics (every one is listed in the README's "Metrics" section). What the store
// holds is read from it at scrape time, so a metric never reports a state change that was
// not persisted first; gossip traffic lives in memory and restarts at zero with the process,
// as Prometheus counters may. Nothing here verifies a signature: held manifests come from
// the gossip source, which verified them on arrival.
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { Config } from '../core/config.js';
import type { StateStore } from '../core/ports.js';
import type { GossipView } from '../node/agent/agent.js';
import type { ChannelView } from '../adapters/nats/channel.js';
import { pipelineMetrics } from './metrics-pipeline.js';

export type { GossipView };

/** The authority's last poll of its source (runtime/source-health.ts); null fields are not yet known. */
export interface SourceView {
  /** When the last poll ran (good or not), ms; null before the first. */
  polledAt?: number | null;
  pollOk: boolean | null;
  branches: Array<{ track: string; present: boolean | null }>;
}

export interface MetricsDeps {
  heldSeq: (track: string) => Promise<number | null>;
  /** On the authority only. */
  source?: () => Promise<SourceView>;
  /** Absent on a node without a gossip agent. */
  gossip?: () => GossipView;
  /** Absent with `channel: gossip`. */
  channel?: () => ChannelView;
  now?: () => number;
}

export function createMetrics(config: Config, store: StateStore, deps: MetricsDeps): Registry {
  const now = deps.now ?? Date.now;
  const registry = new Registry();
  registry.setDefaultLabels({ node: config.node.id, fleet: config.fleet });
  collectDefaultMetrics({ register: registry, prefix: 'upshift_' });
  const gauge = (name: string, help: string, labelNames: string[], collect: (g: Gauge) => void | Promise<void>) =>
    new Gauge({ name, help, labelNames, registers: [registry], async collect() { this.reset(); await collect(this); } });

  gauge('upshift_floor_seq', 'Highest manifest seq this node accepted, per track', ['track'], async (g) => {
    for (const [track, seq] of Object.entries(await store.floors.all())) g.set({ track }, seq);
  });
  gauge('upshift_gossip_manifest_seq', 'Seq of the verified manifest this node holds and gossips, per track', ['track'], async (g) => {
    for (const track of config.node.tracks) {
      const seq = await deps.heldSeq(track);
      if (seq !== null) g.set({ track }, seq);
    }
  });
  new Counter({
    name: 'upshift_applies_total',
    help: 'Applies on this node that ended, by track and outcome (confirmed, rolled_back, failed, abandoned)',
    labelNames: ['track', 'outcome'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const r of await store.tallies.appliesByOutcome()) this.inc({ track: r.track, outcome: r.outcome }, r.n);
    },
  });
  if (deps.gossip) gossipMetrics(registry, deps.gossip);
  if (deps.channel) channelMetrics(registry, deps.channel);
  if (config.authority) {
    gauge('upshift_runs', 'Pipeline runs by track and status', ['track', 'status'], async (g) => {
      for (const r of await store.tallies.runsByStatus()) g.set({ track: r.track, status: r.status }, r.n);
    });
    pipelineMetrics(registry, store);
    // the authority hears every node: how long ago, per node (a series per node, so only here)
    gauge('upshift_node_heartbeat_age_seconds', 'Seconds since each node\'s last heartbeat was received', ['peer'], async (g) => {
      const at = now();
      for (const n of await store.fleet.nodes()) g.set({ peer: n.node }, Math.max(0, at - n.heardAt) / 1000);
    });
    // how the authority last heard each node: nats, gossip, or local (itself)
    gauge('upshift_node_channel', 'The channel each node was last heard on (1 for that channel)', ['peer', 'channel'], async (g) => {
      for (const n of await store.fleet.nodes()) g.set({ peer: n.node, channel: n.channel ?? 'unknown' }, 1);
    });
    gauge('upshift_last_poll_timestamp_seconds', 'When the authority last polled its source successfully', [], async (g) => {
      const at = await store.kv.get('authority.last_poll');
      g.set(at ? Number(at) / 1000 : 0);
    });
  }
  if (deps.source) sourceGauges(registry, deps.source, now);
  return registry;
}

/** Set from the agent's counts at each scrape; they only grow while the process lives. */
function gossipMetrics(registry: Registry, view: () => GossipView): void {
  const counter = (name: string, help: string, labelNames: string[], fill: (c: Counter, v: GossipView) => void) =>
    new Counter({ name, help, labelNames, registers: [registry], collect() { this.reset(); fill(this, view()); } });
  counter('upshift_gossip_messages_received_total', 'Gossip requests received from peers (refused ones included)', [],
    (c, v) => c.inc(v.received));
  counter('upshift_gossip_messages_sent_total', 'Gossip requests sent to peers, by kind (push, sync, pull)', ['kind'], (c, v) => {
    for (const [kind, n] of Object.entries(v.sent)) c.inc({ kind }, n);
  });
  counter('upshift_gossip_messages_refused_total', 'Gossip requests refused, by reason (the error code)', ['reason'], (c, v) => {
    for (const [reason, n] of Object.entries(v.refused)) c.inc({ reason }, n);
  });
  counter('upshift_gossip_manifests_total', 'Manifests offered by peers, by result (accepted, refused)', ['result'], (c, v) => {
    c.inc({ result: 'accepted' }, v.manifests.accepted);
    c.inc({ result: 'refused' }, v.manifests.refused);
  });
}

/** The NATS fleet channel's counts (runtime/nats-fleet.ts), set at each scrape. */
function channelMetrics(registry: Registry, view: () => ChannelView): void {
  new Gauge({ name: 'upshift_nats_connected', help: 'Whether the NATS fleet channel is connected (1) or not (0)', registers: [registry],
    collect() { this.set(view().connected ? 1 : 0); } });
  const counter = (name: string, help: string, labelNames: string[], fill: (c: Counter, v: ChannelView) => void) =>
    new Counter({ name, help, labelNames, registers: [registry], collect() { this.reset(); fill(this, view()); } });
  counter('upshift_nats_frames_total', 'Frames read from NATS and taken, by kind (heartbeat, manifest, revocations)', ['kind'], (c, v) => {
    for (const [kind, n] of Object.entries(v.received)) c.inc({ kind }, n);
  });
  counter('upshift_nats_refused_total', 'Frames from NATS refused, by reason (the error code)', ['reason'], (c, v) => {
    for (const [reason, n] of Object.entries(v.refused)) c.inc({ reason }, n);
  });
  counter('upshift_nats_heartbeats_total', 'This node\'s heartbeats, by the channel that carried them (nats, gossip)', ['channel'], (c, v) => {
    c.inc({ channel: 'nats' }, v.heartbeats.nats);
    c.inc({ channel: 'gossip' }, v.heartbeats.gossip);
  });
  counter('upshift_nats_published_total', 'Manifests and revocation lists the authority published to NATS', [], (c, v) => c.inc(v.published));
}

/** Set only once known: a series that is absent before the first poll does not read as a failure. */
function sourceGauges(registry: Registry, source: () => Promise<SourceView>, now: () => number): void {
  new Gauge({
    name: 'upshift_source_poll_success',
    help: 'Whether the authority\'s last poll fetched its source (1) or failed (0)',
    registers: [registry],
    async collect() {
      this.reset();
      const ok = (await source()).pollOk;
      if (ok !== null) this.set(ok ? 1 : 0);
    },
  });
  new Gauge({
    name: 'upshift_source_poll_age_seconds',
    help: 'Seconds since the authority last polled its source, successfully or not',
    registers: [registry],
    async collect() {
      this.reset();
      const at = (await source()).polledAt;
      if (at !== null && at !== undefined) this.set(Math.max(0, now() - at) / 1000);
    },
  });
  new Gauge({
    name: 'upshift_track_branch_present',
    help: 'Whether the source has the branch a branch track follows (1) or not (0), per track',
    labelNames: ['track'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const b of (await source()).branches) if (b.present !== null) this.set({ track: b.track }, b.present ? 1 : 0);
    },
  });
}
