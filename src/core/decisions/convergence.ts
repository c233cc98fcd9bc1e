// DEPLOY's convergence decision, pure: which live nodes run the release (confirmed at its
// seq or later), which are behind and why, and which are silent. SPEC: "every live node
// reports the version": a silent node is listed, not waited for; but with every node silent
// nothing could confirm the release, so then they are waited for like any node behind.
import type { NodeTrackState } from '../ports.js';

export interface Convergence {
  /** The nodes judged: the live ones, or all of them when none is live. */
  nodes: NodeTrackState[];
  converged: string[];
  behind: Array<{ node: string; seq: number | null; state: string; why: string }>;
  silent: Array<{ node: string; why: string }>;
}

/**
 * `seq`: the fleet-wide manifest's. `lastReason(node)`: what the node last said about the
 * track (its apply reason), used when the state itself carries no note.
 */
export function judgeConvergence(all: readonly NodeTrackState[], seq: number, lastReason: (node: string) => string | undefined = () => undefined): Convergence {
  const live = all.filter((n) => n.state !== 'silent');
  const nodes = live.length > 0 ? live : [...all];
  const silent = all.filter((n) => !nodes.includes(n)).map((n) => ({ node: n.node, why: n.note ?? 'silent' }));
  const runsIt = (n: NodeTrackState) => n.seq !== null && n.seq >= seq && n.state === 'confirmed';
  const converged = nodes.filter(runsIt).map((n) => n.node);
  const behind = nodes.filter((n) => !runsIt(n)).map((n) => ({
    node: n.node, seq: n.seq, state: n.state, why: n.note ?? lastReason(n.node) ?? `at seq ${n.seq ?? '-'} (${n.state})`,
  }));
  return { nodes, converged, behind, silent };
}
