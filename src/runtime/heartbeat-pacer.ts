// The authority's side of the adaptive heartbeat interval: every so often it sizes the
// interval from the fleet it hears (core/decisions/heartbeat-interval.ts), pins the canaries of
// runs in CANARY and a control sample of the same size at the base interval, and when that
// differs from what it last signed, signs new fleet settings and hands them to its own gossip
// source, from where digests carry them to every node (as a revocation list travels).
import { createHash } from 'node:crypto';
import type { Config } from '../core/config.js';
import { heartbeatPlan } from '../core/decisions/heartbeat-interval.js';
import { isLive, type NodeState } from '../core/node-state.js';
import type { StateStore } from '../core/ports.js';
import { toUpshiftError } from '../core/errors.js';
import { signFleetSettings, type FleetSettings } from '../trust/fleet-settings.js';
import type { Signer } from '../trust/keyfile.js';

/** A node unheard for this long no longer counts in the fleet's size. */
const COUNTED_WITHIN_MS = 10 * 60_000;

export interface HeartbeatPacerDeps {
  config: Config;
  /** The daemon's store (its fleet read model merges what the ingest heard). */
  store: StateStore;
  /** The authority's own gossip source: what it holds, and where new settings go. */
  source: { settings(): FleetSettings | null; accept(envelope: string): Promise<unknown> };
  signers: () => Promise<Signer[]>;
  clock: { now(): number };
  log?: { warn(obj: object, msg: string): void; info(obj: object, msg: string): void };
}

export class HeartbeatPacer {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<unknown> | null = null;

  constructor(private readonly deps: HeartbeatPacerDeps) {}

  /** Size the interval now; sign and publish settings when they changed. Returns what is held after. */
  async tick(): Promise<FleetSettings | null> {
    const { config, store, clock, source } = this.deps;
    const hb = config.authority?.heartbeat ?? { base: config.gossip.report_every, max_per_second: 2000 };
    const now = clock.now();
    const nodes = (await store.fleet.nodes()).filter((n) => isLive(n, now, COUNTED_WITHIN_MS));
    const pinned = await this.pinned(nodes);
    const plan = heartbeatPlan({
      nodes: nodes.length, pinned: pinned.length, baseMs: hb.base, maxPerSecond: hb.max_per_second,
    });
    const held = source.settings();
    const want = { base_ms: plan.baseMs, interval_ms: plan.intervalMs, pinned };
    if (held && sameHeartbeat(held.heartbeat, want)) return held;
    const seq = Math.max(now, (held?.seq ?? 0) + 1);
    const envelope = signFleetSettings({
      fleet: config.fleet, seq, issued_at: new Date(now).toISOString(), heartbeat: want,
    }, await this.deps.signers());
    await source.accept(envelope);
    const fields = { module: 'heartbeats', interval_ms: plan.intervalMs, pinned: pinned.length, nodes: nodes.length };
    this.deps.log?.info(fields, plan.reason);
    return source.settings();
  }

  /** Canaries of runs in CANARY, and a control sample as large, chosen by the run's id. */
  private async pinned(nodes: NodeState[]): Promise<string[]> {
    const { store, config } = this.deps;
    const out = new Set<string>();
    for (const run of await store.unfinishedRuns()) {
      if (run.stage !== 'canary') continue;
      const plan = await store.plans.canaryPlan(run.id);
      if (!plan) continue;
      for (const c of plan.canaries) out.add(c);
      const rank = (n: string) => createHash('sha256').update(`${run.id}/${n}`).digest('hex');
      const others = nodes
        .filter((n) => n.tracks[run.track] !== undefined && !plan.canaries.includes(n.node) && n.node !== config.node.id)
        .map((n) => n.node).sort((a, b) => (rank(a) < rank(b) ? -1 : 1));
      for (const n of others.slice(0, Math.max(1, plan.canaries.length))) out.add(n);
    }
    return [...out].sort();
  }

  /** Every `everyMs` (30 s), and once now. */
  start(everyMs = 30_000): void {
    const run = () => {
      if (this.running) return;
      this.running = this.tick()
        .catch((err: unknown) => {
          const e = toUpshiftError(err);
          this.deps.log?.warn({ module: 'heartbeats', code: e.code }, `heartbeat interval not updated: ${e.message}`);
        })
        .finally(() => { this.running = null; });
    };
    run();
    this.timer = setInterval(run, everyMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }
}

function sameHeartbeat(a: FleetSettings['heartbeat'], b: FleetSettings['heartbeat']): boolean {
  return a.base_ms === b.base_ms && a.interval_ms === b.interval_ms && a.pinned.join(',') === b.pinned.join(',');
}
