// CANARY: hand the release to a canary set of verified healthy peers and watch them.
// With no peers known it says so; it never claims a fleet result it did not see.
import { UpshiftError } from '../core/errors.js';
import type { StageContext, StageReport } from './context.js';

export async function canary(ctx: StageContext): Promise<StageReport> {
  const candidates = await ctx.fleet.canaryCandidates(ctx.run.track);
  if (candidates.length === 0) {
    return {
      outcome: 'skipped',
      reason: 'no canary candidates: no verified healthy peers are known, so nothing was soaked',
      evidence: { candidates: 0, fraction: ctx.authority.canary.fraction, note: 'no canary candidates' },
    };
  }
  throw new UpshiftError('E_NOT_IMPLEMENTED', `canary rollout to ${candidates.length} peer(s) is not implemented yet`);
}
