// Prometheus metrics. Gauges are read from the store at scrape time, so a metric never
// reports a state change that was not persisted first.
import { Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { Config } from '../core/config.js';
import type { StateStore } from '../core/ports.js';

/** The authority's last poll of its source (runtime/source-health.ts); null fields are not yet known. */
export interface SourceView {
  pollOk: boolean | null;
  branches: Array<{ track: string; present: boolean | null }>;
}

export function createMetrics(config: Config, store: StateStore, heldSeq: (track: string) => Promise<number | null>,
  source?: () => Promise<SourceView>): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ node: config.node.id, fleet: config.fleet });
  collectDefaultMetrics({ register: registry, prefix: 'upshift_' });
  new Gauge({
    name: 'upshift_floor_seq',
    help: 'Highest manifest seq this node accepted, per track',
    labelNames: ['track'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const [track, seq] of Object.entries(await store.floors.all())) this.set({ track }, seq);
    },
  });
  new Gauge({
    name: 'upshift_gossip_manifest_seq',
    help: 'Seq of the verified manifest this node holds and gossips, per track',
    labelNames: ['track'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const track of config.node.tracks) {
        const seq = await heldSeq(track);
        if (seq !== null) this.set({ track }, seq);
      }
    },
  });
  new Gauge({
    name: 'upshift_runs',
    help: 'Pipeline runs by track and status',
    labelNames: ['track', 'status'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const r of await store.runCounts()) this.set({ track: r.track, status: r.status }, r.n);
    },
  });
  new Gauge({
    name: 'upshift_last_poll_timestamp_seconds',
    help: 'When the authority last polled its source',
    registers: [registry],
    async collect() {
      const at = await store.kv.get('authority.last_poll');
      this.set(at ? Number(at) / 1000 : 0);
    },
  });
  if (source) sourceGauges(registry, source);
  return registry;
}

/** Set only once known: a series that is absent before the first poll does not read as a failure. */
function sourceGauges(registry: Registry, source: () => Promise<SourceView>): void {
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
