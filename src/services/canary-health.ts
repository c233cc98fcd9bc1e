// check_canary_health: each canary node of a run against each of the five criteria, with
// its numbers, the control group's numbers, and the time left in the soak. The same pure
// judgement CANARY makes (judgeCanary), applied node by node to what the fleet reports now.
import { judgeCanary, observeCanary, type CriterionResult } from '../core/decisions/canary.js';
import { UpshiftError } from '../core/errors.js';
import type { Run } from '../core/run.js';
import type { PipelineService } from '../runtime/pipeline-service.js';
import { promotionState } from '../stages/canary-promotion.js';
import type { Outcome } from './context.js';

export interface CanaryNodeHealth {
  node: string;
  /** Whether it confirmed the canary release: CANARY judges a canary only from then on. */
  confirmed: boolean;
  /** Heard since this authority began hearing (its start, a takeover): only then is it judged. */
  heard_since_start: boolean;
  pass: boolean;
  criteria: CriterionResult[];
  numbers: {
    error_rate: number | null;
    health: string;
    apply_state: string | null;
    last_heartbeat_age_ms: number | null;
    code_hash: string | null;
    smoke_regressed: boolean | null;
    confirmed_at: string | null;
  };
}

export interface CanaryHealth {
  run: Pick<Run, 'id' | 'track' | 'version' | 'status' | 'stage'>;
  nodes: CanaryNodeHealth[];
  failing: Array<{ node: string; criterion: string; detail: string }>;
  control: { nodes: string[]; error_rate: number | null };
  expected_code_hash: string;
  soak: { ends_at: string | null; left_ms: number | null; promotion: string };
}

export async function canaryHealth(p: PipelineService, input: { runId?: string }): Promise<Outcome<CanaryHealth>> {
  const { store, authority, clock } = p.deps;
  const run = input.runId ? await store.requireRun(input.runId) : await canaryRun(p);
  const plan = await store.plans.canaryPlan(run.id);
  if (!plan) throw new UpshiftError('E_USAGE', `run ${run.id} has no canaries (${plan === null ? 'none were eligible' : `it is at ${run.stage}`})`);
  const hash = (await store.runFacts(run.id)).codeHash ?? '';
  const reports = await p.deps.fleet.nodes();
  const now = clock.now();
  const controlReports = reports.filter((r) => !plan.canaries.includes(r.node) && r.node !== p.deps.config.node.id);
  const control = controlReports.map((r) => ({ errorRate: r.errorRate }));
  const rates = controlReports.map((r) => r.errorRate).filter((x): x is number => x !== null);
  const confirmed = await store.plans.canaryConfirms(run.id);
  const opts = { now, heartbeatTimeoutMs: authority.canary.heartbeat_timeout, expectedCodeHash: hash, maxErrorIncrease: authority.canary.max_error_increase };
  const nodes = plan.canaries.map((node): CanaryNodeHealth => {
    const report = reports.find((r) => r.node === node);
    const obs = observeCanary(node, report, run.track);
    const verdict = judgeCanary([obs], control, opts);
    const at = confirmed[node];
    const fresh = report !== undefined && report.heardAt >= (p.deps.fleet.hearingSince ?? -Infinity);
    return {
      node, confirmed: at !== undefined, heard_since_start: fresh, pass: verdict.pass, criteria: verdict.criteria,
      numbers: {
        error_rate: obs.errorRate, health: report?.health ?? 'unknown', apply_state: report?.tracks[run.track]?.apply ?? null,
        last_heartbeat_age_ms: report ? now - report.heardAt : null, code_hash: obs.codeHash, smoke_regressed: obs.smokeRegressed,
        confirmed_at: at === undefined ? null : new Date(at).toISOString(),
      },
    };
  });
  // a canary still applying is not judged yet (nor does CANARY judge it), and neither is one this
  // authority heard only before it started (a new leader): both are listed as pending
  const judged = (n: CanaryNodeHealth) => n.confirmed && n.heard_since_start;
  const failing = nodes.filter(judged)
    .flatMap((n) => n.criteria.filter((c) => !c.ok).map((c) => ({ node: n.node, criterion: c.name, detail: c.detail })));
  const pending = nodes.filter((n) => !judged(n)).map((n) => (n.confirmed
    ? `${n.node} (heard only before this authority started)`
    : `${n.node} (${n.numbers.apply_state ?? 'not heard'})`));
  const allConfirmed = plan.canaries.every((n) => confirmed[n] !== undefined);
  const endsAt = allConfirmed ? Math.max(...plan.canaries.map((n) => confirmed[n] as number)) + authority.canary.soak : null;
  const promotion = authority.canary.promotion === 'manual' ? await promotionState(store, run.id) : 'auto';
  const evidence: CanaryHealth = {
    run: { id: run.id, track: run.track, version: run.version, status: run.status, stage: run.stage },
    nodes, failing,
    control: { nodes: controlReports.map((r) => r.node), error_rate: rates.length ? rates.reduce((a, b) => a + b, 0) / rates.length : null },
    expected_code_hash: hash,
    soak: { ends_at: endsAt === null ? null : new Date(endsAt).toISOString(), left_ms: endsAt === null ? null : Math.max(0, endsAt - now), promotion },
  };
  const left = endsAt === null ? 'soak not started (canaries still confirming)' : `${Math.round(Math.max(0, endsAt - now) / 1000)} s of soak left`;
  const waitingOn = pending.length ? `; not judged yet: ${pending.join(', ')}` : '';
  const judgedCount = nodes.length - pending.length;
  const reason = failing.length
    ? `canary failing on ${[...new Set(failing.map((f) => f.node))].join(', ')}: ${failing.map((f) => `${f.criterion}: ${f.detail}`).join('; ')}; ${left}${waitingOn}`
    : `${judgedCount} confirmed canary node(s) pass all five criteria; ${left}${waitingOn}`;
  return { reason, evidence };
}

/** The run in CANARY, else the newest run that had canaries. */
async function canaryRun(p: PipelineService): Promise<Run> {
  const { store } = p.deps;
  const inCanary = (await store.unfinishedRuns()).find((r) => r.stage === 'canary');
  if (inCanary) return inCanary;
  for (const r of await store.listRuns({ limit: 50 })) if (await store.plans.canaryPlan(r.id)) return r;
  throw new UpshiftError('E_RUN_NOT_FOUND', 'no run has canaries: none is in CANARY and none had any');
}
