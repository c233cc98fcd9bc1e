// DEPLOY: run the track's deployment policy (issue 12). The run's release becomes a
// deployment (once: a restarted authority finds it by run id and continues, paused if it
// was paused), driven step by step (stages/rollout.ts) until it succeeds, fails or is
// reverted. Waves, deadlines, promote and auto_revert are the rollout's; this stage waits
// and reports. Silent nodes are not waited for; they take the release up when they return.
import { UpshiftError } from '../core/errors.js';
import type { Deployment } from '../core/deployment-records.js';
import { createDeployment, keyForTrack, policyFor } from './deployment-plan.js';
import { recordedCodeHash } from './build.js';
import type { StageContext, StageReport } from './context.js';
import { isActive, observe, stepDeployment } from './rollout.js';

export async function deploy(ctx: StageContext): Promise<StageReport> {
  const { run, authority, store } = ctx;
  let d = await store.deployments.forRun(run.id);
  if (!d) {
    const key = keyForTrack(authority, run.track);
    const { track, policy } = policyFor(authority, key);
    const live = (await observe(ctx, track)).filter((n) => n.live).map((n) => ({ id: n.id, version: n.version }));
    d = await createDeployment(store, ctx.clock.now(), {
      key, track, policy, runId: run.id, kind: 'release', urgent: false, rollbackOf: null, live,
      target: { version: run.version, commit: run.commit, code_hash: await recordedCodeHash(ctx, run.id), run: run.id, number: null },
    });
    await store.deployments.appendEvent({ deploymentId: d.id, at: ctx.clock.now(), kind: 'created', actor: 'pipeline', outcome: 'accepted', data: { run: run.id, policy } });
  }
  let first = true;
  for (;;) {
    try {
      d = (await stepDeployment(ctx, d.id)).deployment;
      if (first) ctx.failpoint('deploy:published');
      first = false;
    } catch (err) {
      // the daemon's driver (or a tool) kept stepping it first: it moves on, and so do we
      if (!(err instanceof UpshiftError && err.code === 'E_STATE_BUSY')) throw err;
      ctx.log.warn({ deployment: d.id, code: err.code }, `${err.message}; DEPLOY steps it again in ${authority.canary.check_every} ms`);
      d = await store.deployments.get(d.id) ?? d;
    }
    if (!isActive(d)) break;
    await ctx.clock.sleep(authority.canary.check_every, ctx.signal);
  }
  return report(ctx, d);
}

async function report(ctx: StageContext, d: Deployment): Promise<StageReport> {
  const manifests = await ctx.store.deployments.manifests(d.id);
  const seq = manifests.at(-1)?.seq ?? null;
  const nodes = Object.entries(d.health);
  const converged = nodes.filter(([, h]) => h.version === d.target.version && h.state === 'confirmed').map(([n]) => n);
  const silent = nodes.filter(([, h]) => h.state === 'silent').map(([n]) => n);
  const evidence: Record<string, unknown> = {
    deployment: d.id, key: d.key, number: d.number, status: d.status, strategy: d.strategy, policy: d.policy, seq,
    waves: d.state.waves.map((w) => ({ n: w.n, kind: w.kind, nodes: w.nodes, seq: w.seq })), converged, silent, health: d.health,
    rollback_target: d.rollbackTarget,
  };
  const silentNote = silent.length ? `; silent, not waited for: ${silent.join(', ')}` : '';
  if (d.status === 'succeeded') {
    const reason = converged.length === 0
      ? `no node runs track ${d.track} yet: ${d.track}#${seq} is held for gossip, and nodes take it up when they join`
      : `${d.track}#${seq} confirmed by ${converged.length} node(s) (${converged.join(', ')}) in ${d.state.waves.length} wave(s), deployment ${d.key}#${d.number}${silentNote}`;
    return { outcome: 'passed', reason, evidence };
  }
  if (d.status === 'reverted') return { outcome: 'rolled_back', reason: `deployment ${d.key}#${d.number}: ${d.reason}`, code: 'E_GATE', evidence };
  if (d.status === 'failed') return { outcome: 'failed', reason: `deployment ${d.key}#${d.number}: ${d.reason}`, code: 'E_GATE', evidence };
  throw new UpshiftError('E_INTERNAL', `deployment ${d.id} stopped while ${d.status}`);
}
