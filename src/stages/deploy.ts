// DEPLOY: publish the release to every node and track convergence (which nodes run it,
// which are behind and why) until all live nodes confirm it or the progress deadline,
// stored the first time, passes. On a missed deadline `auto_revert` decides.
import { UpshiftError } from '../core/errors.js';
import { recordedCodeHash } from './build.js';
import type { StageContext, StageReport } from './context.js';
import { reserveAndSign } from './release-manifest.js';
import { publishRollback } from './rollback.js';
import { releaseEvidence } from './sign.js';
import { judgeConvergence, type Convergence } from '../core/decisions/convergence.js';

export async function deploy(ctx: StageContext): Promise<StageReport> {
  const { run, authority } = ctx;
  const envelope = await fleetManifest(ctx);
  const published = await ctx.fleet.publish(envelope.envelope, run.track);
  ctx.failpoint('deploy:published');
  const deadline = ctx.store.plans.fixDeadline(run.id, 'deploy.progress', ctx.clock.now() + authority.deploy.progress_deadline);

  let view = await convergence(ctx, envelope.seq);
  while (view.behind.length > 0 && ctx.clock.now() < deadline) {
    await ctx.clock.sleep(Math.min(authority.canary.check_every, deadline - ctx.clock.now()), ctx.signal);
    view = await convergence(ctx, envelope.seq);
  }
  const notes = [...new Set(view.nodes.map((n) => n.note).filter((n): n is string => Boolean(n)))];
  const evidence: Record<string, unknown> = { seq: envelope.seq, published: published.held, converged: view.converged, behind: view.behind, silent: view.silent, nodes: view.nodes, deadline: new Date(deadline).toISOString() };
  const silent = view.silent.length ? `; silent, not waited for: ${view.silent.map((s) => `${s.node} (${s.why})`).join(', ')}` : '';
  if (view.behind.length === 0 && view.converged.length === 0) {
    return { outcome: 'passed', reason: `no node runs track ${run.track} yet: ${run.track}#${envelope.seq} is held for gossip, and nodes take it up when they join`, evidence };
  }
  if (view.behind.length === 0) {
    return { outcome: 'passed', reason: `${run.track}#${envelope.seq} confirmed by ${view.converged.length} node(s) (${view.converged.join(', ')})${notes.length ? `; ${notes.join('; ')}` : ''}${silent}`, evidence };
  }
  const behind = view.behind.map((b) => `${b.node} (${b.why})`).join(', ');
  const why = 'progress deadline passed';
  if (authority.deploy.auto_revert) {
    evidence.rollback = await publishRollback(ctx, 'all', `${why}: ${behind} behind`);
    return { outcome: 'rolled_back', reason: `${why}; behind: ${behind}; auto_revert published a rollback`, code: 'E_GATE', evidence };
  }
  return { outcome: 'failed', reason: `${why}; behind: ${behind}`, code: 'E_GATE', evidence };
}

/** After a canary the fleet-wide manifest needs a seq above the canary's; without one, SIGN's release goes out as is. */
async function fleetManifest(ctx: StageContext): Promise<{ envelope: string; seq: number }> {
  const release = ctx.store.manifests.forRun(ctx.run.id, 'release');
  if (!release?.envelope) throw new UpshiftError('E_INTERNAL', `run ${ctx.run.id} reached deploy without a signed release manifest`);
  if (!ctx.store.manifests.forRun(ctx.run.id, 'canary')) return { envelope: release.envelope, seq: release.seq };
  const { record, envelope } = await reserveAndSign(ctx, {
    purpose: 'deploy', kind: 'release', version: ctx.run.version, commit: ctx.run.commit, codeHash: recordedCodeHash(ctx, ctx.run.id), targets: 'all', evidence: releaseEvidence(ctx),
  });
  return { envelope, seq: record.seq };
}

/** The fleet read model as it stands, judged (core/decisions/convergence.ts); silent after canary.heartbeat_timeout. */
async function convergence(ctx: StageContext, seq: number): Promise<Convergence> {
  const nodes = await ctx.fleet.nodes();
  return judgeConvergence(nodes, ctx.run.track, seq, { now: ctx.clock.now(), silentAfterMs: ctx.authority.canary.heartbeat_timeout });
}
