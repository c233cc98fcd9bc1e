// The rollout decision, pure (issue 12): from a deployment's policy and stored state and
// what every node last reported, what happens next — wait, start a wave, wait for promote,
// complete, or fail. Nodes move in waves of at most max_parallel and a wave starts only when
// every node of the one before it reports the target confirmed and healthy (each node
// enforces min_healthy in its probation, from the signed manifest) plus `stagger`. So at no
// instant are more than max_parallel nodes switching or in probation. A wave node that rolls
// back, or is not healthy by healthy_deadline after its wave started, fails the deployment;
// so does no progress (a node turning healthy, a wave starting) within progress_deadline.
// healthy_deadline counts from the switch, as on the node (SPEC step 5): fetching and
// installing count against progress_deadline only. A node waiting for its maintenance
// window is neither failed nor counted as stuck.
import { canarySize, countOf, type DeployPolicy } from '../deploy-policy.js';
import { formatDuration } from '../duration.js';

export interface Wave {
  n: number;
  kind: 'canary' | 'wave';
  nodes: string[];
  /** The deployment manifest step and its seq: a node has moved once it confirms this seq or later. */
  step: string;
  seq: number;
  startedAt: number;
  /** When each node was first seen confirmed and healthy on the target. */
  healthyAt: Record<string, number>;
  /** When each node was first seen switching or in probation on this wave's seq: its healthy_deadline counts from there. */
  switchedAt?: Record<string, number>;
  doneAt: number | null;
}

export interface RolloutState {
  waves: Wave[];
  /** Nodes that already ran the target when the deployment began (a CANARY stage's canaries). */
  preMoved: string[];
  lastProgress: number;
  pausedAt: number | null;
  promoted: boolean;
  /** Set once the deployment completed or failed, with the manifest step that said so. */
  completeStep: string | null;
  revertStep: string | null;
}

export function initialState(now: number, preMoved: string[]): RolloutState {
  return { waves: [], preMoved: [...preMoved].sort(), lastProgress: now, pausedAt: null, promoted: false, completeStep: null, revertStep: null };
}

export interface ObservedNode {
  id: string;
  /** Heard within the heartbeat timeout. */
  live: boolean;
  /** What it runs now on the track. */
  version: string | null;
  /** Its newest apply: seq and state (verified … confirmed, rolled_back, failed). */
  seq: number | null;
  state: string;
  health: 'ok' | 'failing' | 'unknown';
  /** It holds a manifest that targets it but waits for its maintenance window. */
  waiting: boolean;
  reason?: string;
}

export interface RolloutInput {
  now: number;
  policy: DeployPolicy;
  state: RolloutState;
  nodes: ObservedNode[];
  targetVersion: string;
  /** How late a node's report of its own outcome may arrive (heartbeat delay); added to healthy_deadline + min_healthy. */
  slackMs?: number;
}

export type RolloutDecision =
  | { kind: 'wait'; why: string; state: RolloutState }
  | { kind: 'wave'; wave: Omit<Wave, 'seq' | 'step'>; why: string; state: RolloutState }
  | { kind: 'await_promote'; why: string; state: RolloutState }
  | { kind: 'complete'; why: string; state: RolloutState }
  | { kind: 'fail'; why: string; state: RolloutState };

/** Every node a wave (or the start) moved to the target. */
export function movedNodes(s: RolloutState): string[] {
  return [...new Set([...s.preMoved, ...s.waves.flatMap((w) => w.nodes)])];
}

/** The nodes of the current wave still switching or in probation (what max_parallel bounds). */
export function inFlight(s: RolloutState): string[] {
  const w = s.waves.at(-1);
  return w && w.doneAt === null ? w.nodes.filter((n) => w.healthyAt[n] === undefined) : [];
}

/**
 * Moved and healthy: confirmed on the target at this wave's seq or later. `checks` (SPEC's
 * default) also wants the app's health checks passing in its latest heartbeat;
 * `agent_states` takes the node's own confirmation (its probation held min_healthy) alone.
 */
const healthyOn = (n: ObservedNode | undefined, version: string, seq: number, by: DeployPolicy['health_check']): boolean =>
  n !== undefined && n.live && n.version === version && n.state === 'confirmed' && (by === 'agent_states' || n.health === 'ok') && (n.seq ?? 0) >= seq;

export function decideRollout(input: RolloutInput): RolloutDecision {
  const { now, policy } = input;
  const state: RolloutState = structuredClone(input.state);
  const byId = new Map(input.nodes.map((n) => [n.id, n]));
  const current = state.waves.at(-1);

  if (current && current.doneAt === null) {
    let waiting = false;
    for (const id of current.nodes) {
      const n = byId.get(id);
      if (current.healthyAt[id] === undefined && healthyOn(n, input.targetVersion, current.seq, policy.health_check)) {
        current.healthyAt[id] = now;
        state.lastProgress = now;
      }
      if (n && (n.seq ?? 0) >= current.seq && (n.state === 'rolled_back' || n.state === 'failed')) {
        return { kind: 'fail', why: `${id} ${n.state.replace('_', ' ')} ${input.targetVersion}${n.reason ? `: ${n.reason}` : ''}`, state };
      }
      if (n?.waiting && current.healthyAt[id] === undefined) waiting = true;
      if (n && (n.seq ?? 0) >= current.seq && (n.state === 'switching' || n.state === 'probation')) {
        current.switchedAt ??= {};
        current.switchedAt[id] ??= now;
      }
    }
    const pending = current.nodes.filter((id) => current.healthyAt[id] === undefined);
    if (pending.length === 0) {
      current.doneAt = now;
    } else {
      // a node waiting for its window is not late: its deadline counts from when it may move
      if (waiting) {
        state.lastProgress = now;
        const who = pending.filter((id) => byId.get(id)?.waiting);
        return { kind: 'wait', why: `waiting for maintenance window: ${who.join(', ')}`, state };
      }
      // the node rolls itself back at healthy_deadline (or min_healthy later); this is the backstop
      // for one that goes quiet in probation. One that never switches is caught by progress_deadline.
      const limit = policy.healthy_deadline + policy.min_healthy + (input.slackMs ?? 0);
      const late = pending.filter((id) => current.switchedAt?.[id] !== undefined && now > (current.switchedAt[id] as number) + limit);
      if (late.length > 0) {
        return { kind: 'fail', why: `${late.join(', ')} not healthy by the healthy_deadline (${formatDuration(policy.healthy_deadline)} after it switched, wave ${current.n})`, state };
      }
      if (now - state.lastProgress > policy.progress_deadline) {
        return { kind: 'fail', why: `no progress for ${formatDuration(now - state.lastProgress)} (progress_deadline ${formatDuration(policy.progress_deadline)}); waiting on ${pending.join(', ')}`, state };
      }
      return { kind: 'wait', why: `wave ${current.n}: waiting for ${pending.join(', ')} to confirm ${input.targetVersion} healthy`, state };
    }
  }

  const last = state.waves.at(-1);
  if (last?.kind === 'canary' && !state.promoted) {
    if (!policy.auto_promote) return { kind: 'await_promote', why: `canary wave healthy on ${last.nodes.join(', ')}; waiting for promote`, state };
    state.promoted = true;
  }
  if (last && last.doneAt !== null && now < last.doneAt + policy.stagger) {
    return { kind: 'wait', why: `stagger: the next wave starts at ${new Date(last.doneAt + policy.stagger).toISOString()}`, state };
  }

  const live = input.nodes.filter((n) => n.live);
  const moved = new Set(movedNodes(state));
  const candidates = live.filter((n) => !moved.has(n.id)).map((n) => n.id).sort();
  const size = live.length;
  const n = state.waves.length + 1;
  if (state.waves.length === 0 && policy.strategy === 'canary' && size > 0) {
    // the canary wave: nodes already on the target count first (a CANARY stage's canaries)
    const want = canarySize(policy, size);
    const nodes = [...state.preMoved.filter((id) => byId.get(id)?.live), ...candidates].slice(0, want);
    state.lastProgress = now;
    return { kind: 'wave', wave: { n, kind: 'canary', nodes, startedAt: now, healthyAt: {}, doneAt: null }, why: `canary wave: ${nodes.join(', ')}`, state };
  }
  if (candidates.length === 0) {
    const why = size === 0 ? 'no live node runs the track: the release is held for gossip' : `every live node (${size}) runs ${input.targetVersion}`;
    return { kind: 'complete', why, state };
  }
  const per = Math.max(1, Math.min(countOf(policy.max_parallel, size), candidates.length));
  const nodes = candidates.slice(0, per);
  state.lastProgress = now;
  return { kind: 'wave', wave: { n, kind: 'wave', nodes, startedAt: now, healthyAt: {}, doneAt: null }, why: `wave ${n}: ${nodes.join(', ')}`, state };
}

/** Resume after a pause: the deadlines of the wave in flight and of progress move by the paused time. */
export function resumeState(s: RolloutState, now: number): RolloutState {
  const out = structuredClone(s);
  const paused = out.pausedAt === null ? 0 : Math.max(0, now - out.pausedAt);
  const w = out.waves.at(-1);
  if (w && w.doneAt === null) w.startedAt += paused;
  out.lastProgress = Math.max(out.lastProgress + paused, out.lastProgress);
  out.pausedAt = null;
  return out;
}
