// A fleet of simulated peers behind the FleetPort, for stage tests: each node verifies
// what it is sent with the real trust code and "runs" it, reporting heartbeats the way
// a node agent would. It records every publish. The real fleet over loopback is tested
// end to end elsewhere; this double lets a 30-minute soak run on a virtual clock.
import { UpshiftError } from '../../src/core/errors.js';
import type { CanaryCandidate } from '../../src/core/decisions/canary.js';
import type { NodeState } from '../../src/core/node-state.js';
import type { Clock, FleetPort } from '../../src/core/ports.js';
import type { Keyset } from '../../src/trust/keyset.js';
import { verifyManifest } from '../../src/trust/verify-manifest.js';

export interface SimNode {
  id: string;
  region: string;
  errorRate: number;
  /** What the node reports as its code hash after applying; default: the manifest's. */
  tamperHash?: string;
  /** The node's health probe fails after it applies a manifest whose version matches. */
  unhealthyOn?: string;
  silent?: boolean;
  /** Goes silent when it is handed a fleet-wide manifest: its heartbeats stop, last heard before it took it up. */
  silentAfterFleetWide?: boolean;
  /** Virtual ms an apply takes: until then the node reports the new seq as `fetching`, still running the old version. */
  applyMs?: number;
}

export function fleetDouble(nodes: SimNode[], keyset: Keyset, clock: Clock) {
  const published: Array<{ seq: number; kind: string; targets: 'all' | string[]; commit: string }> = [];
  const state = new Map<string, NodeState>();
  /** Applies still running: finished (their effect applied) once the clock reaches `due`. */
  let pending: Array<{ due: number; finish: () => void }> = [];
  /** Reports frozen as last heard (an authority that was down hears nothing new) until `until`. */
  const frozen = new Map<string, { until: number; report: NodeState }>();
  const settle = () => {
    const now = clock.now();
    for (const p of pending.filter((x) => x.due <= now)) p.finish();
    pending = pending.filter((x) => x.due > now);
  };
  const current = (n: SimNode): NodeState => {
    const f = frozen.get(n.id);
    if (f && clock.now() < f.until) return f.report;
    const s = state.get(n.id) as NodeState;
    // a silent node is what it last said, when it last said it
    if (!n.silent) Object.assign(s, { errorRate: n.errorRate, heardAt: clock.now() });
    return structuredClone(s);
  };
  for (const n of nodes) {
    // every simulated node runs the app on testnet: a slot before it applied anything, as a real heartbeat has
    const idle = { version: null, seq: null, apply: 'idle', reason: null, codeHash: null };
    state.set(n.id, { node: n.id, heardAt: clock.now(), labels: { region: n.region }, health: 'ok', errorRate: n.errorRate, tracks: { testnet: idle }, smoke: null });
  }
  const port: FleetPort = {
    async nodes() {
      settle();
      return nodes.map(current);
    },
    async canaryCandidates(): Promise<CanaryCandidate[]> {
      return nodes.map((n) => ({ id: n.id, labels: { region: n.region }, verified: true, healthy: true }));
    },
    async publish(envelope, track) {
      const { payload } = verifyManifest(envelope, keyset);
      published.push({ seq: payload.seq, kind: payload.kind, targets: payload.targets, commit: payload.commit });
      for (const n of nodes) {
        if (payload.targets !== 'all' && !payload.targets.includes(n.id)) continue;
        if (payload.targets === 'all' && n.silentAfterFleetWide) {
          n.silent = true;
          continue;
        }
        const r = state.get(n.id) as NodeState;
        const was = r.tracks[track];
        // what the apply engine does for a release already current: confirm the new seq, no switch
        if (was?.version === payload.version && was.apply === 'confirmed') {
          r.tracks[track] = { ...was, seq: payload.seq };
          continue;
        }
        const bad = n.unhealthyOn !== undefined && payload.version === n.unhealthyOn;
        const finish = () => {
          r.health = bad ? 'failing' : 'ok';
          // a node that rolled back runs (and attests) what it ran before
          const was = r.tracks[track];
          r.tracks[track] = bad
            ? { seq: payload.seq, version: was?.version ?? null, codeHash: was?.codeHash ?? null, apply: 'rolled_back', reason: 'health failed in the min_healthy window' }
            : { seq: payload.seq, version: payload.version, codeHash: n.tamperHash ?? payload.code_hash, apply: 'confirmed', reason: null };
        };
        if (n.applyMs) {
          const was = r.tracks[track];
          r.tracks[track] = { seq: payload.seq, version: was?.version ?? null, codeHash: was?.codeHash ?? null, apply: 'fetching', reason: null };
          pending.push({ due: clock.now() + n.applyMs, finish });
        } else finish();
      }
      return { held: 'accepted' as const };
    },
  };
  /**
   * From now until `until`, these nodes are reported as they were last heard, changed by
   * `as` (say, mid-apply): what a restarted authority finds in its store before it hears anew.
   */
  const freeze = (ids: string[], until: number, as: (r: NodeState) => NodeState = (r) => r) => {
    for (const n of nodes.filter((x) => ids.includes(x.id))) frozen.set(n.id, { until, report: as(current(n)) });
  };
  return { port, published, freeze };
}

/** A clock whose sleep advances virtual time at once, recording each sleep. */
export function virtualClock(start = Date.parse('2026-11-22T00:00:00Z')) {
  let now = start;
  const sleeps: number[] = [];
  const clock: Clock = {
    now: () => now,
    async sleep(ms, signal) {
      // a macrotask per sleep, so a test can interrupt a soak between checks
      await new Promise((resolve) => setImmediate(resolve));
      if (signal?.aborted) throw new UpshiftError('E_CANCELLED', 'cancelled');
      sleeps.push(ms);
      now += ms;
    },
  };
  return { clock, sleeps, advance: (ms: number) => void (now += ms) };
}
