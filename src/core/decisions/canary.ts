// Canary decisions, pure: which nodes are canaries, and whether they passed. The stage
// gathers observations; these functions decide and explain.
import { rngFromString } from '../rng.js';

export interface CanaryCandidate {
  id: string;
  labels: Record<string, string>;
  verified: boolean;
  healthy: boolean;
}

function shuffle<T>(items: T[], rand: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

export interface CanarySelection {
  canaries: string[];
  eligible: number;
  excluded: Array<{ id: string; why: string }>;
  reason: string;
}

/**
 * Pick `ceil(fraction × eligible)` canaries (at least one) among verified healthy nodes,
 * seeded by the run id, taking one node from each label group in turn (e.g. one per
 * region) so a canary set covers the fleet's variety before doubling up anywhere.
 */
export function selectCanaries(candidates: CanaryCandidate[], opts: { fraction: number; labels: string[]; seed: string }): CanarySelection {
  const excluded = candidates.filter((c) => !c.verified || !c.healthy).map((c) => ({ id: c.id, why: !c.verified ? 'not verified' : 'not healthy' }));
  const eligible = candidates.filter((c) => c.verified && c.healthy).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  if (eligible.length === 0) return { canaries: [], eligible: 0, excluded, reason: 'no canary candidates: no verified healthy peers' };
  const want = Math.max(1, Math.ceil(opts.fraction * eligible.length - 1e-9));
  const rand = rngFromString(opts.seed);
  const groups = new Map<string, CanaryCandidate[]>();
  for (const c of eligible) {
    const key = opts.labels.map((l) => c.labels[l] ?? '').join('\u0000');
    groups.set(key, [...(groups.get(key) ?? []), c]);
  }
  const queues = shuffle([...groups.keys()].sort(), rand).map((k) => shuffle(groups.get(k) ?? [], rand));
  const canaries: string[] = [];
  while (canaries.length < want) {
    for (const q of queues) {
      const next = q.shift();
      if (next && canaries.length < want) canaries.push(next.id);
    }
  }
  const spread = opts.labels.length ? ` across ${groups.size} ${opts.labels.join('/')} group(s)` : '';
  return { canaries, eligible: eligible.length, excluded, reason: `${canaries.length} of ${eligible.length} eligible node(s) (fraction ${opts.fraction}, rounded up)${spread}` };
}

export interface CanaryObservation {
  node: string;
  /** When the node last heartbeat, or null if never during the soak. */
  lastHeartbeat: number | null;
  healthOk: boolean;
  /** Errors per request (or per second) over the soak window; null when the node reports none. */
  errorRate: number | null;
  codeHash: string | null;
  /** The on-node smoke benchmark: null when not configured or not reported. */
  smokeRegressed: boolean | null;
}

export interface CriterionResult {
  name: 'error_rate' | 'health' | 'heartbeat' | 'code_hash' | 'smoke_benchmark';
  ok: boolean;
  detail: string;
}

export interface CanaryVerdict {
  pass: boolean;
  criteria: CriterionResult[];
  reason: string;
}

const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null);

/**
 * SPEC's five canary criteria, all required. The error rate is compared with the
 * non-canary control group over the same window; a small absolute slack keeps a single
 * error on an otherwise clean control group from failing the canary.
 */
export function judgeCanary(
  canaries: CanaryObservation[],
  control: Array<{ errorRate: number | null }>,
  opts: { now: number; heartbeatTimeoutMs: number; expectedCodeHash: string; maxErrorIncrease: number; absoluteSlack?: number },
): CanaryVerdict {
  const slack = opts.absoluteSlack ?? 0.001;
  const canaryRate = mean(canaries.map((c) => c.errorRate).filter((r): r is number => r !== null));
  const controlRate = mean(control.map((c) => c.errorRate).filter((r): r is number => r !== null));
  const criteria: CriterionResult[] = [];

  if (canaryRate === null) criteria.push({ name: 'error_rate', ok: false, detail: 'no canary reported an error rate' });
  else if (controlRate === null) criteria.push({ name: 'error_rate', ok: true, detail: `canary error rate ${canaryRate.toFixed(4)}; no control group to compare with` });
  else {
    const allowed = controlRate * (1 + opts.maxErrorIncrease) + slack;
    criteria.push({ name: 'error_rate', ok: canaryRate <= allowed, detail: `canary ${canaryRate.toFixed(4)} vs control ${controlRate.toFixed(4)} (allowed ≤ ${allowed.toFixed(4)}, +${(opts.maxErrorIncrease * 100).toFixed(0)}%)` });
  }
  const unhealthy = canaries.filter((c) => !c.healthOk).map((c) => c.node);
  criteria.push({ name: 'health', ok: unhealthy.length === 0, detail: unhealthy.length ? `health probe failing on ${unhealthy.join(', ')}` : 'health probe passing on every canary' });
  const silent = canaries.filter((c) => c.lastHeartbeat === null || opts.now - c.lastHeartbeat > opts.heartbeatTimeoutMs).map((c) => c.node);
  criteria.push({ name: 'heartbeat', ok: silent.length === 0, detail: silent.length ? `no recent heartbeat from ${silent.join(', ')}` : 'every canary heartbeats' });
  const wrongHash = canaries.filter((c) => c.codeHash !== opts.expectedCodeHash).map((c) => `${c.node} (${c.codeHash?.slice(0, 12) ?? 'none'})`);
  criteria.push({ name: 'code_hash', ok: wrongHash.length === 0, detail: wrongHash.length ? `code hash differs from the manifest's ${opts.expectedCodeHash.slice(0, 12)} on ${wrongHash.join(', ')}` : 'every canary attests the manifest code hash' });
  const regressed = canaries.filter((c) => c.smokeRegressed === true).map((c) => c.node);
  const reported = canaries.some((c) => c.smokeRegressed !== null);
  criteria.push({ name: 'smoke_benchmark', ok: regressed.length === 0, detail: regressed.length ? `smoke benchmark regressed on ${regressed.join(', ')}` : reported ? 'smoke benchmark shows no regression' : 'no smoke benchmark configured' });

  const failing = criteria.filter((c) => !c.ok);
  return { pass: failing.length === 0, criteria, reason: failing.length ? failing.map((c) => `${c.name}: ${c.detail}`).join('; ') : 'all five canary criteria hold' };
}
