// CANARY: send the release to a canary set of verified healthy peers, soak, and judge them
// on the five criteria against the non-canary control group. The selection and the soak
// deadline are stored the first time, so a restarted authority continues the same soak
// with the same canaries instead of starting over. With no peers it says so.
import { judgeCanary, selectCanaries, type CanaryObservation } from '../core/decisions/canary.js';
import type { NodeReport } from '../core/ports.js';
import { recordedCodeHash } from './build.js';
import type { StageContext, StageReport } from './context.js';
import { reserveAndSign } from './release-manifest.js';
import { releaseEvidence } from './sign.js';
import { publishRollback } from './rollback.js';

interface SoakPlan {
  canaries: string[];
  selection: string;
  deadline: number;
}

export async function canary(ctx: StageContext): Promise<StageReport> {
  const { run, authority } = ctx;
  const plan = await soakPlan(ctx);
  if (!plan) {
    return {
      outcome: 'skipped',
      reason: 'no canary candidates: no verified healthy peers are known, so nothing was soaked',
      evidence: { candidates: 0, fraction: authority.canary.fraction, note: 'no canary candidates' },
    };
  }
  const { record, envelope } = await reserveAndSign(ctx, {
    purpose: 'canary', kind: 'release', version: run.version, commit: run.commit, codeHash: recordedCodeHash(ctx, run.id),
    targets: plan.canaries, evidence: releaseEvidence(ctx),
  });
  const deliveries = await ctx.fleet.publish(envelope, run.track);
  ctx.failpoint('canary:published');

  // Soak until the stored deadline; stop early when a canary already rolled itself back.
  let reports = await ctx.fleet.reports();
  while (ctx.clock.now() < plan.deadline) {
    const gaveUp = reports.find((r) => plan.canaries.includes(r.node) && r.tracks[run.track]?.state === 'rolled_back' && r.tracks[run.track]?.seq === record.seq);
    if (gaveUp) break;
    await ctx.clock.sleep(Math.min(authority.canary.check_every, plan.deadline - ctx.clock.now()), ctx.signal);
    reports = await ctx.fleet.reports();
  }

  const observations = plan.canaries.map((id) => observe(id, reports.find((r) => r.node === id), run.track));
  const control = reports.filter((r) => !plan.canaries.includes(r.node) && r.node !== ctx.config.node.id).map((r) => ({ errorRate: r.errorRate }));
  const verdict = judgeCanary(observations, control, {
    now: ctx.clock.now(), heartbeatTimeoutMs: authority.canary.heartbeat_timeout, expectedCodeHash: recordedCodeHash(ctx, run.id), maxErrorIncrease: authority.canary.max_error_increase,
  });
  const evidence: Record<string, unknown> = { canaries: plan.canaries, selection: plan.selection, seq: record.seq, deliveries, deadline: new Date(plan.deadline).toISOString(), observations, control_size: control.length, criteria: verdict.criteria };
  if (verdict.pass) return { outcome: 'passed', reason: `${plan.canaries.length} canary node(s) soaked: ${verdict.reason}`, evidence };

  evidence.rollback = await publishRollback(ctx, plan.canaries, `canary failed: ${verdict.reason}`);
  return { outcome: 'rolled_back', reason: `canary failed on ${plan.canaries.join(', ')}: ${verdict.reason}`, code: 'E_GATE', evidence };
}

async function soakPlan(ctx: StageContext): Promise<SoakPlan | null> {
  const key = `run:${ctx.run.id}:canary`;
  const saved = ctx.store.kv.get(key);
  if (saved) return JSON.parse(saved) as SoakPlan | null;
  const candidates = await ctx.fleet.canaryCandidates(ctx.run.track);
  const sel = selectCanaries(candidates, { fraction: ctx.authority.canary.fraction, labels: ctx.authority.canary.labels, seed: ctx.run.id });
  const plan = sel.canaries.length === 0 ? null : { canaries: sel.canaries, selection: sel.reason, deadline: ctx.clock.now() + ctx.authority.canary.soak };
  ctx.store.kv.set(key, JSON.stringify(plan));
  return plan;
}

function observe(node: string, r: NodeReport | undefined, track: string): CanaryObservation {
  const t = r?.tracks[track];
  return {
    node,
    lastHeartbeat: r?.at ?? null,
    healthOk: r?.health === 'ok' && t?.state === 'confirmed',
    errorRate: r?.errorRate ?? null,
    codeHash: t?.codeHash ?? null,
    smokeRegressed: r?.smokeRegressed ?? null,
  };
}
