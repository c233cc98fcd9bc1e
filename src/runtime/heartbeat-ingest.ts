// Heartbeat ingest (issue 13 "Ingest at scale"): every verified heartbeat, whatever carried
// it (a gossip push over HTTP, a frame on the NATS channel), lands here. The latest one per
// node is held in memory; the store gets a node's state at once when it changed (one
// transaction for all changes of the same turn of the event loop) and only a coarse
// `last_seen` otherwise: at most every `lastSeenEveryMs` per node, all due nodes in one
// transaction. At 10,000 nodes every 5 s that is a few transactions a second instead of
// 2,000 row rewrites, and the daemon's own reads merge the memory over the store
// (`view`), so what it answers is never older than what it heard.
import type { FleetStateStore } from '../core/store-ports-fleet.js';
import type { HeardOn, NodeState } from '../core/node-state.js';
import type { Heartbeat } from '../gossip/types.js';
import { toNodeState } from '../node/agent/reports.js';

/** The channel a heartbeat came by ('local': this node's own). */
export type HeardVia = HeardOn;

export interface HeartbeatIngestOptions {
  /** The store's fleet read model (the raw table, not a view over this ingest). */
  fleet: FleetStateStore;
  clock: { now(): number };
  /** An unchanged node's time of hearing is written at most this often (gossip.report_every). */
  lastSeenEveryMs: number;
  log?: { warn(obj: object, msg: string): void };
}

interface Latest {
  at: number;
  heartbeat: Heartbeat;
  /** The heartbeat's JSON without its error rate: a change here is a state change, stored at once. */
  state: string;
  /** The whole heartbeat's JSON: a change only here (a metric) rides with the next coarse write. */
  json: string;
  via: HeardVia;
}

/** A node's state as compared for "changed": everything but the error rate, which moves all the time. */
function stateOf(heartbeat: Heartbeat): string {
  return JSON.stringify({ ...heartbeat, error_rate: null });
}

export class HeartbeatIngest {
  /** When this ingest started: a heartbeat heard before (in the store) predates this process. */
  readonly startedAt: number;
  private readonly latest = new Map<string, Latest>();
  /** Per node, what the store holds now (as far as this process wrote it). */
  private readonly stored = new Map<string, { state: string; json: string; at: number }>();
  private readonly changed = new Set<string>();
  private chain: Promise<void> = Promise.resolve();
  private soon: NodeJS.Immediate | null = null;
  /** What /metrics and the bench read: accepted by channel, refused by code, writes. */
  readonly counts = {
    heard: { gossip: 0, nats: 0, local: 0 } as Record<HeardVia, number>,
    stateWrites: 0, seenWrites: 0, transactions: 0,
  };

  private readonly o: HeartbeatIngestOptions;

  constructor(o: HeartbeatIngestOptions) {
    this.o = { ...o };
    this.startedAt = o.clock.now();
  }

  /**
   * A heartbeat whose sender was verified, heard at `at`. A changed one is written at once
   * (after this turn of the event loop, with the others); returns whether it changed.
   */
  accept(heartbeat: Heartbeat, at: number, via: HeardVia): boolean {
    const json = JSON.stringify(heartbeat);
    // the channel is part of the state: a node moving to or from NATS is written at once
    const state = `${via} ${heartbeat.error_rate === null ? json : stateOf(heartbeat)}`;
    const prev = this.latest.get(heartbeat.node);
    // newest wins across channels: one arriving late over the slower one does not go back
    if (prev && prev.at > at) return false;
    this.latest.set(heartbeat.node, { at, heartbeat, state, json, via });
    this.counts.heard[via]++;
    if (this.stored.get(heartbeat.node)?.state === state) return false;
    this.changed.add(heartbeat.node);
    this.soon ??= setImmediate(() => {
      this.soon = null;
      void this.flushChanges().catch(() => undefined);
    });
    return true;
  }

  /**
   * Write what is due, in order with earlier writes: every changed node's state, and the time
   * of hearing of nodes whose stored one is `lastSeenEveryMs` old (all of them at `force`, at
   * shutdown). A failed write is logged and retried by the next flush.
   */
  flush(force = false): Promise<void> {
    return this.queue(() => this.write(force, this.latest.keys()));
  }

  /** Only the changed nodes (no scan of the fleet): what accept() schedules. */
  private flushChanges(): Promise<void> {
    return this.queue(() => this.write(false, [...this.changed]));
  }

  private queue(write: () => Promise<void>): Promise<void> {
    const run = this.chain.then(write);
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async write(force: boolean, nodes: Iterable<string>): Promise<void> {
    const states: NodeState[] = [];
    const seen: Array<{ node: string; heardAt: number }> = [];
    const taken = new Map<string, Latest>();
    for (const node of nodes) {
      const l = this.latest.get(node);
      if (!l) continue;
      const stored = this.stored.get(node);
      const due = stored !== undefined && l.at > stored.at && (force || l.at - stored.at >= this.o.lastSeenEveryMs);
      if (this.changed.has(node) || stored === undefined) states.push(toNodeState(l.heartbeat, l.at, l.via));
      // a metric that moved (the error rate) is written whole, but only as often as last_seen
      else if (due && stored.json !== l.json) states.push(toNodeState(l.heartbeat, l.at, l.via));
      else if (due) seen.push({ node, heardAt: l.at });
      else continue;
      taken.set(node, l);
    }
    if (taken.size === 0) return;
    for (const node of taken.keys()) this.changed.delete(node);
    try {
      // a transaction costs its commit, not its rows: the due refreshes ride with the changes
      if (states.length > 0) await this.o.fleet.record(states);
      if (seen.length > 0) await this.o.fleet.touch(seen);
    } catch (err) {
      for (const node of taken.keys()) if (states.some((s) => s.node === node)) this.changed.add(node);
      this.o.log?.warn({ module: 'heartbeats' }, `heartbeats not saved: ${(err as Error).message}`);
      return;
    }
    this.counts.stateWrites += states.length;
    this.counts.seenWrites += seen.length;
    this.counts.transactions += (states.length > 0 ? 1 : 0) + (seen.length > 0 ? 1 : 0);
    for (const [node, l] of taken) this.stored.set(node, { state: l.state, json: l.json, at: l.at });
  }

  /** The newest heard state of a node in memory (this process heard it), or null. */
  heard(node: string): (NodeState & { via: HeardVia }) | null {
    const l = this.latest.get(node);
    return l ? { ...toNodeState(l.heartbeat, l.at, l.via), via: l.via } : null;
  }

  /** Nodes unheard since `before` leave the store (retention) and the memory. */
  async forget(before: number): Promise<number> {
    for (const [node, l] of this.latest) {
      if (l.at >= before) continue;
      this.latest.delete(node);
      this.stored.delete(node);
      this.changed.delete(node);
    }
    return await this.o.fleet.forget(before);
  }

  /** How many nodes this process has heard from. */
  get size(): number {
    return this.latest.size;
  }

  /**
   * The fleet read model as this daemon answers it: the store's rows with what was heard in
   * memory over them (newer wins), so a reply never lags what this process already heard.
   * Writes go to the store as before.
   */
  view(): FleetStateStore {
    const fleet = this.o.fleet;
    const merge = (s: NodeState | null, node: string): NodeState | null => {
      const l = this.latest.get(node);
      if (!l || (s !== null && s.heardAt >= l.at)) return s;
      return toNodeState(l.heartbeat, l.at, l.via);
    };
    return {
      record: (states) => fleet.record(states),
      touch: (seen) => fleet.touch(seen),
      forget: (before) => this.forget(before),
      node: async (id) => merge(await fleet.node(id), id),
      nodes: async () => {
        const rows = new Map((await fleet.nodes()).map((s) => [s.node, s]));
        for (const node of this.latest.keys()) {
          const merged = merge(rows.get(node) ?? null, node);
          if (merged) rows.set(node, merged);
        }
        return [...rows.values()].sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0));
      },
    };
  }
}

/** The daemon's ingest: last_seen as often as nodes report (gossip.report_every). */
export function heartbeatIngest(
  config: { gossip: { report_every: number } }, fleet: FleetStateStore, clock: { now(): number },
  log?: HeartbeatIngestOptions['log'],
): HeartbeatIngest {
  return new HeartbeatIngest({ fleet, clock, lastSeenEveryMs: config.gossip.report_every, ...(log ? { log } : {}) });
}

/**
 * The store as the daemon answers from it: the same store, its fleet read model replaced by
 * the ingest's view (memory over the store). Everything else passes through untouched.
 */
export function withFleetView<S extends { fleet: FleetStateStore }>(store: S, fleet: FleetStateStore): S {
  return new Proxy(store, {
    get: (target, prop, receiver) => (prop === 'fleet' ? fleet : Reflect.get(target, prop, receiver)),
  });
}
