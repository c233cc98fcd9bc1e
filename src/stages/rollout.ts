// Driving one deployment (issue 12): observe the fleet, take the pure decision
// (core/decisions/rollout.ts), record it by compare-and-set (so the pipeline's DEPLOY, the
// daemon's driver and an operator's pause never act on the same state twice), then sign and
// publish the manifest the step needs. Who may move is decided here, on the authority, with
// targeted manifests: wave N's manifest names every node moved so far; the others keep the
// fleet-wide release they run, which is also what a node joining mid-deployment learns.
// `complete` is a fleet-wide manifest; a revert targets the moved nodes with the stable one.
import { isDeepStrictEqual } from 'node:util';
import { MANIFEST_SCHEMA_V2, PAYLOAD_TYPES, decodeManifest, encodeManifest, type ManifestPayload } from '../core/manifest.js';
import { UpshiftError } from '../core/errors.js';
import type { Config } from '../core/config.js';
import type { Clock, FleetPort } from '../core/ports.js';
import { decideRollout, movedNodes, type ObservedNode, type RolloutDecision, type RolloutState } from '../core/decisions/rollout.js';
import type { Deployment, DeploymentManifest, DeploymentStatus, HealthSummary } from '../core/deployment-records.js';
import type { DeploymentReservation, StateStore as Store } from '../core/store-ports.js';
import type { Logger } from '../adapters/logger.js';
import { serializeEnvelope, signEnvelope } from '../trust/envelope.js';
import type { Keyset } from '../trust/keyset.js';
import type { Signer } from '../trust/keyfile.js';
import { verifyManifest } from '../trust/verify-manifest.js';
import { silentAfterHeld } from '../node/agent/held-settings.js';
import { refuseSeqRegression, type PublishedView } from './seq-guard.js';

export interface RolloutDeps {
  config: Config;
  store: Store;
  fleet: FleetPort;
  clock: Pick<Clock, 'now'>;
  keyset: Keyset;
  loadSigners(): Promise<Signer[]>;
  log: Logger;
  /** As PipelineDeps: a replica that is not a fresh leader steps nothing; no seq below a published one. */
  mayAct?: (what: string) => void;
  published?: PublishedView;
}

/**
 * Heard within this long: live. The canary's heartbeat timeout, the one the pipeline already
 * uses, or three of the heartbeat intervals the fleet was told when that is longer.
 */
const heartbeatTimeout = (deps: RolloutDeps) => silentAfterHeld(deps.config, deps.store, deps.config.authority?.canary.heartbeat_timeout ?? 30_000);
const WINDOW_WAIT = /waiting for (its |a )?maintenance window/i;

/** What every node that runs the track last reported, as the decision reads it. */
export async function observe(deps: RolloutDeps, track: string): Promise<ObservedNode[]> {
  const now = deps.clock.now();
  const reports = await deps.fleet.nodes();
  const timeout = await heartbeatTimeout(deps);
  return reports.filter((r) => r.tracks[track] !== undefined && r.node !== deps.config.node.id).map((r) => {
    const t = r.tracks[track];
    return {
      id: r.node, live: now - r.heardAt <= timeout, version: t?.version ?? null, seq: t?.seq ?? null, state: t?.apply ?? 'idle',
      health: r.health, waiting: WINDOW_WAIT.test(t?.reason ?? ''), ...(t?.reason ? { reason: t.reason } : {}),
    };
  });
}

const ACTIVE = new Set<DeploymentStatus>(['running', 'paused', 'waiting_promote']);

/**
 * One step of a deployment. Paused, finished or waiting for promote: nothing moves (the
 * latest manifest is published again, which a restarted authority needs). Returns the
 * deployment as stored after the step and what was decided.
 */
export async function stepDeployment(deps: RolloutDeps, id: string): Promise<{ deployment: Deployment; decision: RolloutDecision | null }> {
  const { store } = deps;
  deps.mayAct?.(`deployment ${id}`);
  for (let attempt = 0; attempt < 5; attempt++) {
    const d = await store.deployments.get(id);
    if (!d) throw new UpshiftError('E_DEPLOY_NOT_FOUND', `no deployment with id "${id}"`);
    // a step may reserve the track's next seq: never one at or below a seq already published
    await refuseSeqRegression(store, d.track, deps.published);
    if (d.status !== 'running') {
      // an operator's `fail` asked for a revert: the driver reserves it (it signs)
      if (d.state.revertStep && d.rollbackTarget && !(await store.deployments.manifest(d.id, d.state.revertStep))) {
        const now = deps.clock.now();
        const ev = await evidenceOf(deps, d);
        const moved = movedNodes(d.state).sort();
        await store.deployments.reserveManifest(reservation(deps, d, ev, 'revert', moved, 'revert', d.state.waves.length, d.state, now));
      }
      await publishLatest(deps, d);
      return { deployment: d, decision: null };
    }
    const nodes = await observe(deps, d.track);
    const now = deps.clock.now();
    const decision = decideRollout({ now, policy: d.policy, state: d.state, nodes, targetVersion: d.target.version, slackMs: await heartbeatTimeout(deps) });
    const health = summary(d, decision.state, nodes);
    // a wait that changes nothing is not written: every driver steps every `check_every`, and
    // writes that carry no news would only make the others' compare-and-set fail
    if (decision.kind === 'wait' && isDeepStrictEqual(decision.state, d.state) && isDeepStrictEqual(health, d.health)) {
      await publishLatest(deps, d);
      return { deployment: d, decision };
    }
    const applied = await record(deps, d, decision, health, now);
    if (!applied) continue; // someone else changed it since we read it: look again
    const after = await store.deployments.get(id) as Deployment;
    await publishLatest(deps, after);
    if (decision.kind !== 'wait') deps.log.info({ deployment: d.id, key: d.key, number: d.number, decision: decision.kind }, decision.why);
    return { deployment: after, decision };
  }
  throw new UpshiftError('E_STATE_BUSY', `deployment ${id} kept changing under this driver; try again`);
}

async function record(deps: RolloutDeps, d: Deployment, decision: RolloutDecision, health: HealthSummary, now: number): Promise<boolean> {
  const { store } = deps;
  // what the step reads besides the deployment, read before its transaction (which must not wait)
  const ev = await evidenceOf(deps, d);
  const reuse = decision.kind === 'complete' && await reusableRelease(deps, d, decision.state);
  return store.deployments.advance(d.id, d.rev, now, (reserveNow) => {
    const reserve = (step: string, targets: 'all' | string[], phase: Phase, wave: number, state: RolloutState, at: number): DeploymentManifest =>
      reserveNow(reservation(deps, d, ev, step, targets, phase, wave, state, at));
    const state: RolloutState = decision.state;
    let status: DeploymentStatus = 'running';
    let reason: string | null = d.reason;
    if (decision.kind === 'wave') {
      const step = `wave-${decision.wave.n}`;
      const targets = [...new Set([...movedNodes(state), ...decision.wave.nodes])].sort();
      const m = reserve(step, targets, decision.wave.kind === 'canary' ? 'canary' : 'wave', decision.wave.n, state, now);
      state.waves.push({ ...decision.wave, step, seq: m.seq });
      reason = decision.why;
    } else if (decision.kind === 'await_promote') {
      status = 'waiting_promote';
      reason = decision.why;
    } else if (decision.kind === 'complete') {
      if (reuse) {
        state.completeStep = 'release'; // nothing moved by wave: the run's own signed release goes out, as before deployments
      } else {
        state.completeStep = 'complete';
        reserve('complete', 'all', 'complete', state.waves.length, state, now);
      }
      status = 'succeeded';
      reason = decision.why;
    } else if (decision.kind === 'fail') {
      const moved = movedNodes(state);
      if (d.policy.auto_revert && d.rollbackTarget && moved.length > 0) {
        state.revertStep = 'revert';
        reserve('revert', moved.sort(), 'revert', state.waves.length, state, now);
        status = 'reverted';
        reason = `${decision.why}; auto_revert: ${moved.join(', ')} back to ${d.rollbackTarget.version}`;
      } else {
        status = 'failed';
        reason = d.policy.auto_revert && moved.length > 0 ? `${decision.why}; nothing stable to revert to` : decision.why;
      }
    }
    const event = decision.kind === 'wait' ? null : {
      kind: decision.kind === 'fail' ? status : decision.kind, actor: 'rollout', outcome: 'accepted',
      data: { why: reason, ...(decision.kind === 'wave' ? { wave: decision.wave.n, nodes: decision.wave.nodes } : {}) },
    };
    return { patch: { status, state, health, reason }, event };
  });
}

type Phase = NonNullable<ManifestPayload['rollout']>['phase'];

/** The signed evidence of the target's run and of the rollback target's, read before a step's transaction. */
interface StepEvidence { target: ManifestPayload['evidence'] | null; rollback: ManifestPayload['evidence'] | null }

async function evidenceOf(deps: RolloutDeps, d: Deployment): Promise<StepEvidence> {
  const of = async (run: string | undefined) => {
    const signed = run ? await deps.store.manifests.forRun(run, 'release') : null;
    return signed ? decodeManifest(signed.payload).evidence : null;
  };
  return { target: await of(d.target.run), rollback: await of(d.rollbackTarget?.run) };
}

/** A step's manifest reservation (bytes fixed once); signed and published after the transaction. */
function reservation(
  deps: RolloutDeps, d: Deployment, ev: StepEvidence,
  step: string, targets: 'all' | string[], phase: Phase, wave: number, state: RolloutState, now: number,
): DeploymentReservation {
  const authority = deps.config.authority;
  if (!authority) throw new UpshiftError('E_CONFIG', 'only the authority deploys');
  const revert = phase === 'revert';
  const to = revert ? d.rollbackTarget : d.target;
  if (!to) throw new UpshiftError('E_INTERNAL', `deployment ${d.id} has no release to revert to`);
  const canaries = state.waves.find((w) => w.kind === 'canary')?.nodes ?? (phase === 'canary' && targets !== 'all' ? targets : []);
  return {
    deploymentId: d.id, step, track: d.track, targets, at: now,
    build: (seq) => encodeManifest({
      schema: MANIFEST_SCHEMA_V2, fleet: deps.config.fleet, track: d.track, seq, version: to.version, commit: to.commit, code_hash: to.code_hash,
      created_at: new Date(now).toISOString(), expires_at: new Date(now + authority.manifest_ttl).toISOString(),
      kind: revert || d.kind === 'rollback' ? 'rollback' : 'release', targets, evidence: noted(d, step, to.run, revert ? ev.rollback : ev.target),
      rollout: {
        key: d.key, deployment: d.id, number: d.number, strategy: d.strategy, phase, wave, canaries: phase === 'canary' || phase === 'wave' ? canaries : [],
        healthy_deadline: d.policy.healthy_deadline, min_healthy: d.policy.min_healthy, urgent: d.urgent,
      },
    }),
  };
}

/** The evidence the target's run signed (tests, benchmark), with a note of which deployment step this is. */
function noted(d: Deployment, step: string, run: string, evidence: ManifestPayload['evidence'] | null): ManifestPayload['evidence'] {
  const note = `deployment ${d.key}#${d.number} (${d.id}) ${step}`;
  if (!evidence) return { run_id: run, test: null, benchmark: null, notes: [note] };
  return { ...evidence, notes: [...evidence.notes, note].slice(-20) };
}

/** A pipeline deployment that moved nobody by wave may publish SIGN's manifest, if nothing above it went out since. */
async function reusableRelease(deps: RolloutDeps, d: Deployment, state: RolloutState): Promise<boolean> {
  if (!d.runId || state.waves.length > 0 || (await deps.store.deployments.manifests(d.id)).length > 0) return false;
  const signed = await deps.store.manifests.forRun(d.runId, 'release');
  const newest = (await deps.store.manifests.list(d.track)).at(-1);
  const byDeployments = (await deps.store.deployments.maxSeq(d.track)) ?? 0;
  return Boolean(signed?.envelope) && newest?.seq === signed?.seq && (signed?.seq ?? 0) > byDeployments && signed?.commit === d.target.commit;
}

/** Sign (once: Ed25519 is deterministic, the bytes are fixed) and publish the deployment's newest manifest. */
export async function publishLatest(deps: RolloutDeps, d: Deployment): Promise<void> {
  if (d.state.completeStep === 'release' && d.runId) {
    const signed = await deps.store.manifests.forRun(d.runId, 'release');
    if (signed?.envelope) await deps.fleet.publish(signed.envelope, d.track);
    return;
  }
  const all = await deps.store.deployments.manifests(d.id);
  const latest = all.at(-1);
  if (!latest) return;
  let envelope = latest.envelope;
  if (!envelope) {
    envelope = serializeEnvelope(signEnvelope(PAYLOAD_TYPES.manifest, latest.payload, await deps.loadSigners()));
    verifyManifest(envelope, deps.keyset); // what we signed must verify with the pinned keyset
    await deps.store.deployments.setEnvelope(d.id, latest.step, envelope);
  }
  await deps.fleet.publish(envelope, d.track);
}

function summary(d: Deployment, state: RolloutState, nodes: ObservedNode[]): HealthSummary {
  const canaries = new Set(state.waves.find((w) => w.kind === 'canary')?.nodes ?? []);
  const moved = new Set(movedNodes(state));
  const out: HealthSummary = {};
  for (const n of nodes) {
    const role = n.waiting ? 'waiting' : canaries.has(n.id) ? 'canary' : moved.has(n.id) ? 'wave' : 'unmoved';
    out[n.id] = {
      state: n.live ? n.state : 'silent', version: n.version, health: n.health, role,
      ...(n.waiting ? { note: 'waiting for its maintenance window' } : n.reason && n.state !== 'confirmed' ? { note: n.reason.slice(0, 200) } : {}),
    };
  }
  void d;
  return out;
}

export const isActive = (d: Deployment): boolean => ACTIVE.has(d.status);
