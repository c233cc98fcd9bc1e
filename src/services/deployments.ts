// Deployments as operators and agents control them (issue 12): deploy, list, status,
// promote, pause, resume, fail, rollback. Control actions change only the store; the
// authority's rollout driver (stages/rollout.ts, run by DEPLOY and by the daemon) signs and
// publishes what they lead to. Every control action is audited — who, what, when, and the
// outcome, refusals included — and a bad request changes nothing else.
import type { AuthorityConfig } from '../core/config.js';
import { canarySize, waveSize, type PolicyFlags } from '../core/deploy-policy.js';
import { movedNodes, resumeState } from '../core/decisions/rollout.js';
import { toUpshiftError, UpshiftError } from '../core/errors.js';
import type { Deployment, DeploymentEvent } from '../core/deployment-records.js';
import { createDeployment, policyFor } from '../stages/deployment-plan.js';
import type { StateStore as Store } from '../core/store-ports.js';
import { auditReason, type Outcome, type ServiceContext } from './context.js';
import { silentAfterHeld } from '../node/agent/held-settings.js';

export { createDeployment, deploymentKeys, keyForTrack, policyFor, stableRelease } from '../stages/deployment-plan.js';

function requireAuthority(ctx: Pick<ServiceContext, 'config'>): AuthorityConfig {
  const a = ctx.config.authority;
  if (!a) throw new UpshiftError('E_CONFIG', 'this config has no `authority:` section: deployments are run by the authority');
  return a;
}

/** Live nodes that run a track (heard within the canary heartbeat timeout), the authority's own node left out. */
export async function liveNodes(ctx: Pick<ServiceContext, 'config' | 'store' | 'clock'>, track: string): Promise<Array<{ id: string; version: string | null }>> {
  const now = ctx.clock.now();
  // nodes told a longer heartbeat interval (signed fleet settings) are live between two of them
  const timeout = await silentAfterHeld(ctx.config, ctx.store, ctx.config.authority?.canary.heartbeat_timeout ?? 30_000);
  return (await ctx.store.fleet.nodes()).filter((r) => r.tracks[track] !== undefined && r.node !== ctx.config.node.id && now - r.heardAt <= timeout)
    .map((r) => ({ id: r.node, version: r.tracks[track]?.version ?? null }));
}

/** Run `fn` and write the control action to the audit trail, accepted or refused. */
async function audited<T>(ctx: ServiceContext, action: string, ref: string, data: Record<string, unknown>, fn: () => Promise<{ deployment: Deployment; out: T }>): Promise<T> {
  const at = ctx.clock.now();
  try {
    const { deployment, out } = await fn();
    await ctx.store.deployments.appendEvent({ deploymentId: deployment.id, at, kind: `control.${action}`, actor: ctx.actor, outcome: 'accepted', data: { ref, ...data } });
    ctx.log.info({ deployment: deployment.id, action, actor: ctx.actor }, `deployment ${action}`);
    return out;
  } catch (err) {
    const e = toUpshiftError(err);
    const known = await findDeployment(ctx.store, ref).catch(() => null);
    await ctx.store.deployments.appendEvent({
      deploymentId: known?.id ?? null, at, kind: `control.${action}`, actor: ctx.actor, outcome: 'refused', data: { ref, ...data, code: e.code, reason: e.message },
    });
    throw e;
  }
}

/** A deployment by id, `key#number`, or key (its active one, else its newest). */
export async function findDeployment(store: Store, ref: string): Promise<Deployment> {
  const byId = await store.deployments.get(ref);
  if (byId) return byId;
  const m = /^([a-z0-9][a-z0-9_-]{0,62})(?:#(\d{1,9}))?$/.exec(ref);
  if (m) {
    const key = m[1] as string;
    const d = m[2] !== undefined ? await store.deployments.byNumber(key, Number(m[2]))
      : (await store.deployments.active()).find((x) => x.key === key) ?? (await store.deployments.list({ key, limit: 1 }))[0];
    if (d) return d;
  }
  throw new UpshiftError('E_DEPLOY_NOT_FOUND', `no deployment "${ref}" (expected an id, KEY#NUMBER or a key)`, { details: { ref } });
}

export interface DeployInput { key: string; version?: string; runId?: string; flags?: PolicyFlags; urgent?: boolean; reason?: string }

/** Deploy a version that a run built and signed, with the key's policy and this deploy's flags. */
export async function deploy(ctx: ServiceContext, input: DeployInput): Promise<Outcome<{ deployment: Deployment }>> {
  const a = requireAuthority(ctx);
  const out = await audited(ctx, 'deploy', input.key, { version: input.version ?? null, run: input.runId ?? null, flags: input.flags ?? {}, urgent: input.urgent ?? false }, async () => {
    if ((input.version === undefined) === (input.runId === undefined)) throw new UpshiftError('E_DEPLOY_POLICY', 'give exactly one of --version and --run');
    const { track, policy } = policyFor(a, input.key, input.flags);
    const run = input.runId !== undefined ? await ctx.store.getRun(input.runId) : await ctx.store.findRun(track, input.version as string);
    if (!run || run.track !== track) throw new UpshiftError('E_DEPLOY_NOT_FOUND', `no run of ${input.runId ?? input.version} on track ${track}`);
    const signed = await ctx.store.manifests.forRun(run.id, 'release');
    const hash = (await ctx.store.runFacts(run.id)).codeHash;
    if (!signed?.envelope || !hash) throw new UpshiftError('E_DEPLOY_NOT_FOUND', `${run.version} (run ${run.id}) was never signed for release: only a version that passed SIGN can be deployed`);
    const live = await liveNodes(ctx, track);
    waveSize(policy, live.length);
    canarySize(policy, live.length);
    const deployment = await createDeployment(ctx.store, ctx.clock.now(), {
      key: input.key, track, policy, runId: null, kind: 'release', urgent: input.urgent ?? false, rollbackOf: null, live,
      target: { version: run.version, commit: run.commit, code_hash: hash, run: run.id, number: null },
    });
    return { deployment, out: deployment };
  });
  return { reason: `deployment ${out.key}#${out.number} (${out.id}) of ${out.target.version} started: ${out.strategy}, max_parallel ${out.policy.max_parallel}`, evidence: { deployment: out } };
}

export async function listDeployments(ctx: Pick<ServiceContext, 'store'>, opts: { key?: string; limit?: number } = {}): Promise<Outcome<{ deployments: Deployment[] }>> {
  const deployments = await ctx.store.deployments.list(opts);
  return { reason: deployments.length ? `${deployments.length} deployment(s)` : 'no deployments yet', evidence: { deployments } };
}

export async function deploymentStatus(ctx: Pick<ServiceContext, 'store'>, ref: string): Promise<Outcome<{ deployment: Deployment; events: DeploymentEvent[]; manifests: Array<{ step: string; seq: number; targets: 'all' | string[]; signed: boolean }> }>> {
  const deployment = await findDeployment(ctx.store, ref);
  const events = await ctx.store.deployments.events(deployment.id);
  const manifests = (await ctx.store.deployments.manifests(deployment.id)).map((m) => ({ step: m.step, seq: m.seq, targets: m.targets, signed: m.envelope !== null }));
  return { reason: `${deployment.key}#${deployment.number} ${deployment.status}${deployment.reason ? `: ${deployment.reason}` : ''}`, evidence: { deployment, events, manifests } };
}

type Control = 'promote' | 'pause' | 'resume' | 'fail';

/** promote / pause / resume / fail: one state change, compare-and-set against the rollout driver. */
async function control(ctx: ServiceContext, action: Control, ref: string, reason: string): Promise<Outcome<{ deployment: Deployment }>> {
  const out = await audited(ctx, action, ref, { reason }, async () => {
    for (let attempt = 0; attempt < 5; attempt++) {
      const d = await findDeployment(ctx.store, ref);
      const now = ctx.clock.now();
      const patch = transition(d, action, now, reason);
      if (await ctx.store.deployments.update(d.id, d.rev, patch, now)) return { deployment: d, out: (await ctx.store.deployments.get(d.id)) as Deployment };
    }
    throw new UpshiftError('E_STATE_BUSY', `deployment ${ref} kept changing; try again`);
  });
  return { reason: `${out.key}#${out.number} ${out.status}${out.reason ? `: ${out.reason}` : ''}`, evidence: { deployment: out } };
}

function transition(d: Deployment, action: Control, now: number, reason: string): Parameters<Store['deployments']['update']>[2] {
  const refuse = (why: string) => new UpshiftError('E_DEPLOY_STATE', `${d.key}#${d.number} is ${d.status}: ${why}`, { details: { status: d.status, action } });
  switch (action) {
    case 'promote':
      if (d.status !== 'waiting_promote') throw refuse('nothing is waiting for promote');
      return { status: 'running', state: { ...d.state, promoted: true }, reason: `promoted: ${reason}` };
    case 'pause':
      if (d.status !== 'running' && d.status !== 'waiting_promote') throw refuse('only a running deployment can be paused');
      return { status: 'paused', state: { ...d.state, pausedAt: now }, reason: `paused: ${reason}` };
    case 'resume':
      if (d.status !== 'paused') throw refuse('only a paused deployment can be resumed');
      return { status: 'running', state: resumeState(d.state, now), reason: `resumed: ${reason}` };
    case 'fail': {
      if (d.status !== 'running' && d.status !== 'paused' && d.status !== 'waiting_promote') throw refuse('it has already finished');
      const moved = movedNodes(d.state);
      // the revert manifest is reserved by the driver's next step (it signs); mark it wanted here
      const revert = d.policy.auto_revert && d.rollbackTarget !== null && moved.length > 0;
      return { status: revert ? 'reverted' : 'failed', state: { ...d.state, revertStep: revert ? 'revert' : null }, reason: `failed by operator: ${reason}${revert ? `; auto_revert: ${moved.join(', ')} back to ${d.rollbackTarget?.version}` : ''}` };
    }
  }
}

export const promoteDeployment = (ctx: ServiceContext, ref: string, reason = 'promoted') => control(ctx, 'promote', ref, auditReason(reason));
export const pauseDeployment = (ctx: ServiceContext, ref: string, reason = 'paused') => control(ctx, 'pause', ref, auditReason(reason));
export const resumeDeployment = (ctx: ServiceContext, ref: string, reason = 'resumed') => control(ctx, 'resume', ref, auditReason(reason));
export const failDeployment = (ctx: ServiceContext, ref: string, reason: string) => control(ctx, 'fail', ref, auditReason(reason));

/** A new version of the key that brings back version N, which must have been healthy. History is not touched. */
export async function rollbackDeployment(ctx: ServiceContext, input: { key: string; number: number; reason: string; flags?: PolicyFlags }): Promise<Outcome<{ deployment: Deployment }>> {
  const a = requireAuthority(ctx);
  const reason = auditReason(input.reason);
  const out = await audited(ctx, 'rollback', `${input.key}#${input.number}`, { reason, flags: input.flags ?? {} }, async () => {
    const { track, policy } = policyFor(a, input.key, input.flags);
    const from = await ctx.store.deployments.byNumber(input.key, input.number);
    if (!from) throw new UpshiftError('E_DEPLOY_NOT_FOUND', `no deployment ${input.key}#${input.number}`);
    if (from.status !== 'succeeded') {
      throw new UpshiftError('E_DEPLOY_UNHEALTHY', `${input.key}#${input.number} (${from.target.version}) never became healthy (it ${from.status}): only a healthy version can be rolled back to`, { details: { status: from.status } });
    }
    const live = await liveNodes(ctx, track);
    const deployment = await createDeployment(ctx.store, ctx.clock.now(), {
      key: input.key, track, policy, runId: null, kind: 'rollback', urgent: false, rollbackOf: from.number, live, target: { ...from.target, number: from.number },
    });
    return { deployment, out: deployment };
  });
  return { reason: `deployment ${out.key}#${out.number} (${out.id}) rolls back to ${out.target.version} (version ${input.number}): ${reason}`, evidence: { deployment: out } };
}
