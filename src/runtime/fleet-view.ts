// What `upshift fleet ls|health` and the agent tools show: every node this node has heard
// a heartbeat from (the authority hears every node), per track what it runs and what its
// last apply did, its app's health and error rate, and how long ago it was heard.
import type { Config } from '../core/config.js';
import { isLive, type AppHealth } from '../core/node-state.js';
import type { StateStore } from '../core/ports.js';
import { newestFor, type HeldRef } from '../gossip/held.js';
import { storedManifests, type HeldManifests } from './status.js';
import { silentAfterHeld } from '../node/agent/held-interval.js';

/** A node's state as `fleet ls --json` prints it (a stable output shape), with what this node judges of it. */
export interface FleetNodeView {
  node: string;
  labels: Record<string, string>;
  /** alive | suspect | dead as this node's membership last saw it; null when never saved. */
  member: string | null;
  health: AppHealth;
  error_rate: number | null;
  last_heartbeat: string;
  age_ms: number;
  silent: boolean;
  revoked: boolean;
  /** How this node last heard it: nats, gossip, local (itself); null when not recorded. */
  channel: string | null;
  tracks: Record<string, {
    version: string | null; seq: number | null; state: string; reason: string | null;
    /** `canary` while the node runs a deployment's canary manifest; null otherwise. */
    role: 'canary' | null;
    /** The newest held manifest that targets this node (fleet-wide or naming it): what it should run. */
    due: number | null;
    behind: boolean;
  }>;
}

export interface FleetView {
  now: string;
  /** Heartbeats older than this count as silent. */
  silent_after_ms: number;
  /** The newest manifest seq this node holds per track (it may target only some nodes). */
  held: Record<string, number | null>;
  nodes: FleetNodeView[];
}

export async function fleetView(config: Config, store: StateStore, now: number, held?: HeldManifests): Promise<FleetView> {
  const heldView = held ?? await storedManifests(config, store);
  // nodes told a longer heartbeat interval (signed fleet settings) are not silent between two of them
  const silentAfter = await silentAfterHeld(config, store, config.authority?.canary.heartbeat_timeout ?? config.gossip.dead_after);
  const heldSeq = Object.fromEntries(config.node.tracks.map((t) => [t, heldView.payloads(t)[0]?.seq ?? null]));
  const sets = Object.fromEntries(config.node.tracks.map((t) => [t, heldView.payloads(t).map((p): HeldRef => ({ seq: p.seq, hash: '', targets: p.targets }))]));
  const members = new Map((await store.identity.peers()).map((p) => [p.nodeId, p.state]));
  const nodes = await Promise.all((await store.fleet.nodes()).map(async (r): Promise<FleetNodeView> => {
    const cert = await store.identity.latestCert(r.node);
    const tracks: FleetNodeView['tracks'] = {};
    for (const [track, t] of Object.entries(r.tracks)) {
      // Behind what targets this node, not behind the newest manifest: after a stopped canary that one
      // is a rollback addressed to the canaries only.
      const due = newestFor(sets[track] ?? [], r.node)?.seq ?? null;
      const behind = due !== null && (t.seq === null || t.seq < due || t.apply !== 'confirmed');
      tracks[track] = { version: t.version, seq: t.seq, state: t.apply, reason: t.reason, role: t.role ?? null, due, behind };
    }
    return {
      // the certified labels where this node holds the certificate (the authority): those place canaries
      node: r.node, labels: cert?.labels ?? r.labels, member: r.node === config.node.id ? 'self' : (members.get(r.node) ?? null),
      health: r.health, error_rate: r.errorRate, last_heartbeat: new Date(r.heardAt).toISOString(), age_ms: now - r.heardAt,
      silent: !isLive(r, now, silentAfter), revoked: cert !== null && cert.revokedAt !== null, channel: r.channel ?? null, tracks,
    };
  }));
  return { now: new Date(now).toISOString(), silent_after_ms: silentAfter, held: heldSeq, nodes };
}

/** What `fleet health` judges: nodes that are not fine, and why. Nodes without an app are only judged on silence. */
export function fleetProblems(view: FleetView): Array<{ node: string; problem: string }> {
  const out: Array<{ node: string; problem: string }> = [];
  for (const n of view.nodes) {
    const runsApp = Object.keys(n.tracks).length > 0;
    if (n.revoked) continue;
    if (n.silent) out.push({ node: n.node, problem: `silent for ${Math.round(n.age_ms / 1000)} s` });
    else if (runsApp && n.health !== 'ok') out.push({ node: n.node, problem: `app health ${n.health}` });
    for (const [track, t] of Object.entries(n.tracks)) {
      if (!t.behind) continue;
      const why = `${t.state}${t.reason ? `: ${t.reason}` : ''}`;
      out.push({ node: n.node, problem: `${track} behind: at #${t.seq ?? '-'} (${why}), due #${t.due}` });
    }
  }
  return out;
}
