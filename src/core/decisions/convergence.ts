// DEPLOY's convergence decision, pure: which live nodes run the release (confirmed at its
// seq or later), which are behind and why, and which are silent. SPEC: "every live node
// reports the version": a silent node is listed, not waited for; but with every node silent
// nothing could confirm the release, so then they are waited for like any node behind.
import { follows, isLive, type NodeState } from '../node-state.js';

/** One node that runs the track, as judged: its apply state, or `silent` when not heard for too long. */
export interface ConvergenceNode {
  node: string;
  seq: number | null;
  version: string | null;
  state: string;
  note?: string;
}

export interface Convergence {
  /** The nodes judged: the live ones, or all of them when none is live. */
  nodes: ConvergenceNode[];
  converged: string[];
  behind: Array<{ node: string; seq: number | null; state: string; why: string }>;
  silent: Array<{ node: string; why: string }>;
}

/**
 * `seq`: the fleet-wide manifest's. A node counts when it follows `track`; it is silent
 * when its last heartbeat is older than `silentAfterMs` at `now`. A node behind says why
 * with its apply reason where it gave one (a refusal, a rollback).
 */
export function judgeConvergence(
  states: readonly NodeState[], track: string, seq: number, opts: { now: number; silentAfterMs: number },
): Convergence {
  const all = trackNodes(states, track, opts);
  const live = all.filter((n) => n.state !== 'silent');
  const nodes = live.length > 0 ? live : all;
  const silent = all.filter((n) => !nodes.includes(n)).map((n) => ({ node: n.node, why: n.note ?? 'silent' }));
  const runsIt = (n: ConvergenceNode) => n.seq !== null && n.seq >= seq && n.state === 'confirmed';
  const converged = nodes.filter(runsIt).map((n) => n.node);
  // what the node last said about the track, used when its state carries no note
  const reason = (node: string) => states.find((s) => s.node === node)?.tracks[track]?.reason ?? null;
  const behind = nodes.filter((n) => !runsIt(n)).map((n) => ({
    node: n.node, seq: n.seq, state: n.state, why: n.note ?? reason(n.node) ?? `at seq ${n.seq ?? '-'} (${n.state})`,
  }));
  return { nodes, converged, behind, silent };
}

/** Every node that follows `track`, live or silent, with its state on it. */
export function trackNodes(states: readonly NodeState[], track: string, opts: { now: number; silentAfterMs: number }): ConvergenceNode[] {
  return states.filter((s) => follows(s, track)).map((s) => judged(s, track, opts));
}

function judged(s: NodeState, track: string, opts: { now: number; silentAfterMs: number }): ConvergenceNode {
  const t = s.tracks[track];
  const base = { node: s.node, seq: t?.seq ?? null, version: t?.version ?? null };
  if (!isLive(s, opts.now, opts.silentAfterMs)) {
    const note = `no heartbeat for ${Math.round((opts.now - s.heardAt) / 1000)} s (last state ${t?.apply ?? 'idle'})`;
    return { ...base, state: 'silent', note };
  }
  const state = t?.apply ?? 'idle';
  // a confirmed node carries no note: an old reason (say, of a retry) is not news
  return t?.reason && state !== 'confirmed' ? { ...base, state, note: t.reason } : { ...base, state };
}
