// CANARY: send the release to a canary set of verified healthy peers, soak, and judge them
// on the five criteria against the non-canary control group. The selection, the confirm
// deadline and each canary's confirmation time (where its soak starts) are stored as they
// happen, so a restarted authority continues the same soak with the same canaries instead of
// starting over. With no peers it says so. With canary.promotion: manual a passing soak
// waits for promotion (canary-promotion.ts), judging the canaries again at every check.
import {
  judgeCanary, observeCanary, selectCanaries, soakStep, type SoakCanary, type SoakInput,
} from '../core/decisions/canary.js';
import type { NodeState } from '../core/node-state.js';
import { recordedCodeHash } from './build.js';
import type { StageContext, StageReport } from './context.js';
import { reserveAndSign } from './release-manifest.js';
import { releaseEvidence } from './sign.js';
import { publishRollback } from './rollback.js';
import type { CanaryPlan } from '../core/records.js';
import { markAwaiting, promotionState } from './canary-promotion.js';

/** The stored plan (StateStore.plans); confirmBy is deploy.progress_deadline after selection. */
type SoakPlan = CanaryPlan;

export async function canary(ctx: StageContext): Promise<StageReport> {
  const { run, authority } = ctx;
  // Heartbeats received before this moment may predate a restart of this authority, or a
  // takeover by it: a new leader judges only on what it heard itself.
  const watchingSince = Math.max(ctx.clock.now(), ctx.fleet.hearingSince ?? -Infinity);
  const plan = await soakPlan(ctx);
  if (!plan) {
    return {
      outcome: 'skipped',
      reason: 'no canary candidates: no verified healthy peers are known, so nothing was soaked',
      evidence: { candidates: 0, fraction: authority.canary.fraction, note: 'no canary candidates' },
    };
  }
  const { record, envelope } = await reserveAndSign(ctx, {
    purpose: 'canary', kind: 'release', version: run.version, commit: run.commit, codeHash: await recordedCodeHash(ctx, run.id),
    targets: plan.canaries, evidence: await releaseEvidence(ctx),
  });
  const published = await ctx.fleet.publish(envelope, run.track);
  ctx.failpoint('canary:published');

  // Each canary soaks from its confirmation; stop early when one already rolled itself back.
  let confirmedAt = await ctx.store.plans.canaryConfirms(run.id);
  let reports = await ctx.fleet.nodes();
  let step = soakStep(soakInput(ctx, plan, record.seq, reports, confirmedAt, watchingSince));
  for (;;) {
    if (Object.keys(step.confirmedAt).length !== Object.keys(confirmedAt).length) {
      confirmedAt = step.confirmedAt;
      await ctx.store.plans.recordCanaryConfirms(run.id, confirmedAt);
    }
    if (step.kind !== 'wait') break;
    await ctx.clock.sleep(Math.min(authority.canary.check_every, step.until - ctx.clock.now()), ctx.signal);
    reports = await ctx.fleet.nodes();
    step = soakStep(soakInput(ctx, plan, record.seq, reports, confirmedAt, watchingSince));
  }

  let { observations, control, verdict } = await judgeNow(ctx, plan.canaries, reports);
  if (step.kind === 'judge' && verdict.pass && authority.canary.promotion === 'manual') {
    // the soak passed: hold here until promoted, judging again at every check
    await markAwaiting(ctx.store, run.id, ctx.clock.now(), { canaries: plan.canaries, verdict: verdict.reason });
    while (verdict.pass && (await promotionState(ctx.store, run.id)) !== 'promoted') {
      await ctx.clock.sleep(authority.canary.check_every, ctx.signal);
      ({ observations, control, verdict } = await judgeNow(ctx, plan.canaries, await ctx.fleet.nodes()));
    }
  }
  const iso = (ms: number) => new Date(ms).toISOString();
  const evidence: Record<string, unknown> = {
    canaries: plan.canaries, selection: plan.selection, seq: record.seq, published: published.held,
    confirm_deadline: iso(plan.confirmBy),
    confirmed_at: Object.fromEntries(Object.entries(confirmedAt).map(([n, at]) => [n, iso(at)])),
    soak_until: step.kind === 'judge' && step.soakEnd !== null ? iso(step.soakEnd) : null, ended: step.why,
    observations, control_size: control.length, criteria: verdict.criteria,
    promotion: authority.canary.promotion === 'manual' ? await promotionState(ctx.store, run.id) : 'auto',
  };
  // A canary that never confirmed fails for that reason, not for what its half-done apply looked like.
  const failure = step.kind === 'unconfirmed' ? step.why : verdict.pass ? null : verdict.reason;
  if (failure === null) return { outcome: 'passed', reason: `${plan.canaries.length} canary node(s) soaked: ${verdict.reason}`, evidence };

  evidence.rollback = await publishRollback(ctx, plan.canaries, `canary failed: ${failure}`);
  return { outcome: 'rolled_back', reason: `canary failed on ${plan.canaries.join(', ')}: ${failure}`, code: 'E_GATE', evidence };
}

/** The five criteria over the canaries against the non-canary control group, now. */
export async function judgeNow(ctx: StageContext, canaries: string[], reports: NodeState[]) {
  const { authority, run } = ctx;
  const observations = canaries.map((id) => observeCanary(id, reports.find((r) => r.node === id), run.track));
  const control = reports.filter((r) => !canaries.includes(r.node) && r.node !== ctx.config.node.id).map((r) => ({ errorRate: r.errorRate }));
  const verdict = judgeCanary(observations, control, {
    now: ctx.clock.now(), heartbeatTimeoutMs: authority.canary.heartbeat_timeout, expectedCodeHash: await recordedCodeHash(ctx, run.id),
    maxErrorIncrease: authority.canary.max_error_increase,
  });
  return { observations, control, verdict };
}

async function soakPlan(ctx: StageContext): Promise<SoakPlan | null> {
  const saved = await ctx.store.plans.canaryPlan(ctx.run.id);
  if (saved !== undefined) return saved;
  const candidates = await ctx.fleet.canaryCandidates(ctx.run.track);
  const sel = selectCanaries(candidates, { fraction: ctx.authority.canary.fraction, labels: ctx.authority.canary.labels, seed: ctx.run.id });
  const now = ctx.clock.now();
  const plan = sel.canaries.length === 0 ? null : {
    canaries: sel.canaries, selection: sel.reason, selectedAt: now, confirmBy: now + ctx.authority.deploy.progress_deadline,
  };
  return await ctx.store.plans.fixCanaryPlan(ctx.run.id, plan, now);
}

function soakInput(
  ctx: StageContext, plan: SoakPlan, seq: number, reports: NodeState[], confirmedAt: Record<string, number>, watchingSince: number,
): SoakInput {
  const canaries = plan.canaries.map((node): SoakCanary => {
    const r = reports.find((x) => x.node === node);
    const t = r?.tracks[ctx.run.track];
    const last = t ? `${t.apply} #${t.seq ?? '-'}` : 'nothing';
    return { node, heardAt: r?.heardAt ?? null, state: t?.seq === seq ? t.apply : null, last };
  });
  const { soak, heartbeat_timeout } = ctx.authority.canary;
  return {
    now: ctx.clock.now(), canaries, confirmedAt, confirmDeadline: plan.confirmBy, confirmWithinMs: plan.confirmBy - plan.selectedAt,
    soakMs: soak, watchingSince, heartbeatTimeoutMs: heartbeat_timeout,
  };
}
