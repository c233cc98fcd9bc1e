// Canary decisions, pure: which nodes are canaries, and whether they passed. The stage
// gathers observations; these functions decide and explain.
import type { NodeState } from '../node-state.js';
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

/**
 * One canary's node state narrowed to what the five criteria read, for the canary's track
 * (and kept as evidence): a projection of NodeState, not another name for it.
 */
export interface CanaryObservation {
  node: string;
  /** When the node last heartbeat, or null if never during the soak. */
  lastHeartbeat: number | null;
  /** Its health probe passes and it confirmed the canary release. */
  healthOk: boolean;
  /** Errors per request (or per second) over the soak window; null when the node reports none. */
  errorRate: number | null;
  codeHash: string | null;
  /** The on-node smoke benchmark: null when not configured or not reported. */
  smokeRegressed: boolean | null;
  /** Its health probe alone (healthOk also needs the release confirmed); absent in older evidence. */
  probeOk?: boolean;
  /** Its apply state on the track (`rolled_back` when it gave the release up itself); null when never heard. */
  apply?: string | null;
  /** Why its apply ended so (the rollback's cause); null when it said nothing. */
  applyReason?: string | null;
}

/** A canary as its node state says, on `track`; never heard: null everywhere. */
export function observeCanary(node: string, s: NodeState | undefined, track: string): CanaryObservation {
  const t = s?.tracks[track];
  return {
    node,
    lastHeartbeat: s?.heardAt ?? null,
    healthOk: s?.health === 'ok' && t?.apply === 'confirmed',
    probeOk: s?.health === 'ok',
    errorRate: s?.errorRate ?? null,
    codeHash: t?.codeHash ?? null,
    smokeRegressed: s?.smoke?.regressed ?? null,
    apply: t?.apply ?? null,
    applyReason: t?.reason ?? null,
  };
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

  const back = canaries.filter(rolledBack).map((c) => c.node);
  const backNote = back.length ? ` (${back.join(', ')} rolled back)` : '';
  if (canaryRate === null) criteria.push({ name: 'error_rate', ok: false, detail: `no canary reported an error rate${backNote}` });
  else if (controlRate === null) criteria.push({ name: 'error_rate', ok: true, detail: `canary error rate ${canaryRate.toFixed(4)}; no control group to compare with` });
  else {
    const allowed = controlRate * (1 + opts.maxErrorIncrease) + slack;
    criteria.push({ name: 'error_rate', ok: canaryRate <= allowed, detail: `canary ${canaryRate.toFixed(4)} vs control ${controlRate.toFixed(4)} (allowed ≤ ${allowed.toFixed(4)}, +${(opts.maxErrorIncrease * 100).toFixed(0)}%)` });
  }
  criteria.push(healthCriterion(canaries));
  const silent = canaries.filter((c) => c.lastHeartbeat === null || opts.now - c.lastHeartbeat > opts.heartbeatTimeoutMs).map((c) => c.node);
  criteria.push({ name: 'heartbeat', ok: silent.length === 0, detail: silent.length ? `no recent heartbeat from ${silent.join(', ')}` : 'every canary heartbeats' });
  criteria.push(codeHashCriterion(canaries, opts.expectedCodeHash));
  const regressed = canaries.filter((c) => c.smokeRegressed === true).map((c) => c.node);
  const reported = canaries.some((c) => c.smokeRegressed !== null);
  criteria.push({ name: 'smoke_benchmark', ok: regressed.length === 0, detail: regressed.length ? `smoke benchmark regressed on ${regressed.join(', ')}` : reported ? 'smoke benchmark shows no regression' : 'no smoke benchmark configured' });

  const failing = criteria.filter((c) => !c.ok);
  // a canary that rolled itself back is the cause: its health leads, what followed from it after
  if (back.length) failing.sort((a, b) => Number(b.name === 'health') - Number(a.name === 'health'));
  return { pass: failing.length === 0, criteria, reason: failing.length ? failing.map((c) => `${c.name}: ${c.detail}`).join('; ') : 'all five canary criteria hold' };
}

const rolledBack = (c: CanaryObservation) => c.apply === 'rolled_back';
const gaveUp = (c: CanaryObservation) => `${c.node} rolled itself back${c.applyReason ? ` (${c.applyReason})` : ''}`;

/** Health: the probe passes and the release was confirmed; a canary that rolled back says so, as itself. */
function healthCriterion(canaries: CanaryObservation[]): CriterionResult {
  const failing = canaries.filter((c) => !c.healthOk);
  if (failing.length === 0) return { name: 'health', ok: true, detail: 'health probe passing on every canary' };
  const parts: string[] = [];
  const back = failing.filter(rolledBack);
  // a rolled-back canary is named for its probe only when the probe still fails now
  const probe = failing.filter((c) => !rolledBack(c) || c.probeOk === false).map((c) => c.node);
  if (probe.length) parts.push(`health probe failing on ${probe.join(', ')}`);
  if (back.length) parts.push(back.map(gaveUp).join(', '));
  return { name: 'health', ok: false, detail: parts.join('; ') };
}

/**
 * The code hash each canary attests against the manifest's. A canary that rolled itself
 * back runs its previous release, so its hash is that release's: it is reported as the
 * rollback it is, never as a mismatch (which reads as tampering).
 */
function codeHashCriterion(canaries: CanaryObservation[], expected: string): CriterionResult {
  const back = canaries.filter(rolledBack);
  const wrong = canaries.filter((c) => !rolledBack(c) && c.codeHash !== expected)
    .map((c) => `${c.node} (${c.codeHash?.slice(0, 12) ?? 'none'})`);
  const note = back.length ? `; not compared: ${back.map((c) => c.node).join(', ')} rolled back to the previous release` : '';
  const result = (ok: boolean, detail: string): CriterionResult => ({ name: 'code_hash', ok, detail: `${detail}${note}` });
  if (wrong.length) return result(false, `code hash differs from the manifest's ${expected.slice(0, 12)} on ${wrong.join(', ')}`);
  if (back.length > 0 && back.length === canaries.length) return result(false, 'no canary runs the release to attest it');
  return result(true, 'every canary running the release attests the manifest code hash');
}

/** A canary during the soak, as the authority last heard it. */
export interface SoakCanary {
  node: string;
  /** When its last heartbeat was received; null if never. */
  heardAt: number | null;
  /** Its apply of the canary manifest: `confirmed`, `rolled_back`, another state while it applies; null before it began. */
  state: string | null;
  /** How it was last heard, for a reason (e.g. `fetching #6`). */
  last: string;
}

export interface SoakInput {
  now: number;
  canaries: SoakCanary[];
  /** When each canary was first seen confirmed (stored, absolute): its soak starts there. */
  confirmedAt: Readonly<Record<string, number>>;
  /** Absolute; a canary not confirmed by then fails. */
  confirmDeadline: number;
  /** How long canaries had to confirm, for the reason. */
  confirmWithinMs: number;
  soakMs: number;
  /** When this driver began watching: a heartbeat received before describes a past (e.g. before a restart). */
  watchingSince: number;
  heartbeatTimeoutMs: number;
}

export type SoakStep = { confirmedAt: Record<string, number>; why: string } & (
  | { kind: 'wait'; until: number }
  /** Judge the five criteria now (soak over, or a canary gave up). */
  | { kind: 'judge'; soakEnd: number | null }
  /** Fail without judging: these canaries did not confirm the release in time. */
  | { kind: 'unconfirmed'; nodes: string[] }
);

const secs = (ms: number) => `${Math.round(ms / 1000)} s`;

/**
 * The soak of a canary starts when it confirms the release, not when it was picked, so a
 * slow apply does not eat the soak (and is not mistaken for a failing health probe); a
 * canary that does not confirm by the confirm deadline fails for that reason. No verdict is
 * reached on heartbeats received before this driver started (an authority restarted after
 * the deadline would judge on what the nodes said before it went down): it waits until every
 * canary has been heard since, or heartbeat_timeout has passed, which a silent one then fails.
 */
export function soakStep(i: SoakInput): SoakStep {
  const confirmedAt = { ...i.confirmedAt };
  for (const c of i.canaries) if (confirmedAt[c.node] === undefined && c.state === 'confirmed') confirmedAt[c.node] = i.now;
  const stale = i.canaries.filter((c) => c.heardAt === null || c.heardAt < i.watchingSince).map((c) => c.node);
  const freshBy = i.watchingSince + i.heartbeatTimeoutMs;
  const since = new Date(i.watchingSince).toISOString();
  const settled = (step: SoakStep): SoakStep => (stale.length === 0 || i.now >= freshBy ? step : {
    kind: 'wait', until: freshBy, confirmedAt, why: `waiting for a heartbeat from ${stale.join(', ')} heard since ${since}`,
  });

  const gaveUp = i.canaries.filter((c) => c.state === 'rolled_back').map((c) => c.node);
  if (gaveUp.length > 0) {
    return settled({ kind: 'judge', soakEnd: null, confirmedAt, why: `${gaveUp.join(', ')} rolled itself back` });
  }
  const unconfirmed = i.canaries.filter((c) => confirmedAt[c.node] === undefined);
  const nodes = unconfirmed.map((c) => c.node);
  if (nodes.length > 0) {
    if (i.now < i.confirmDeadline) {
      return { kind: 'wait', until: i.confirmDeadline, confirmedAt, why: `waiting for ${nodes.join(', ')} to confirm` };
    }
    const within = secs(i.confirmWithinMs);
    const which = unconfirmed.map((c) => `canary ${c.node} did not confirm the release within ${within} (last heard: ${c.last})`);
    return settled({ kind: 'unconfirmed', nodes, confirmedAt, why: which.join('; ') });
  }
  const soakEnd = Math.max(...i.canaries.map((c) => confirmedAt[c.node] as number)) + i.soakMs;
  if (i.now < soakEnd) return { kind: 'wait', until: soakEnd, confirmedAt, why: 'soaking' };
  return settled({ kind: 'judge', soakEnd, confirmedAt, why: `soaked ${secs(i.soakMs)} since the last canary confirmed` });
}
