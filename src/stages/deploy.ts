// DEPLOY: publish the signed release to every node and track which nodes took it.
import { UpshiftError } from '../core/errors.js';
import type { StageContext, StageReport } from './context.js';

export async function deploy(ctx: StageContext): Promise<StageReport> {
  const release = ctx.store.manifests.forRun(ctx.run.id, 'release');
  if (!release?.envelope) throw new UpshiftError('E_INTERNAL', `run ${ctx.run.id} reached deploy without a signed release manifest`);
  const deliveries = await ctx.fleet.publish(release.envelope, ctx.run.track);
  ctx.failpoint('deploy:published');
  const nodes = await ctx.fleet.convergence(ctx.run.track);
  const onIt = nodes.filter((n) => n.seq !== null && n.seq >= release.seq).map((n) => n.node);
  const behind = nodes.filter((n) => !onIt.includes(n.node)).map((n) => ({ node: n.node, seq: n.seq, state: n.state, why: deliveries.find((d) => d.node === n.node)?.reason ?? 'no delivery yet' }));
  const evidence = { seq: release.seq, deliveries, nodes, converged: onIt, behind };
  if (behind.length > 0) {
    return { outcome: 'failed', reason: `release ${ctx.run.track}#${release.seq} refused by ${behind.map((b) => `${b.node} (${b.why})`).join(', ')}`, code: 'E_GATE', evidence };
  }
  const notes = nodes.map((n) => n.note).filter((n): n is string => Boolean(n));
  return {
    outcome: 'passed',
    reason: `released ${ctx.run.track}#${release.seq} to ${onIt.length} node(s) (${onIt.join(', ')}); each verified and accepted it${notes.length ? `; ${[...new Set(notes)].join('; ')}` : ''}`,
    evidence,
  };
}
