// The fleet as the authority's pipeline sees it through gossip: every node's latest
// heartbeat (kept in the store by the node agent), canary candidates among certified
// peers that are healthy and heard from recently, and publishing as handing the signed
// manifest to this node's gossip source, from where digests carry it to every node.
import type { FleetNode, FleetPort, NodeReport, NodeTrackState, Publication } from '../core/ports.js';
import type { Config } from '../core/config.js';
import type { StateStore } from '../core/ports.js';
import type { StoreManifestSource } from '../node/agent/manifest-source.js';
import { reports } from '../node/agent/reports.js';

export interface GossipFleetDeps {
  store: StateStore;
  /** The authority's own node id: never a canary, and no member of the control group. */
  selfId: string;
  clock: { now(): number };
  /** A node whose last heartbeat is older than this is silent: not live, not a candidate. */
  heartbeatTimeoutMs: number;
  /** Put a verified manifest into gossip (throws its refusal code). */
  publish: (envelope: string) => Promise<Publication>;
}

export class GossipFleet implements FleetPort {
  constructor(private readonly deps: GossipFleetDeps) {}

  /** Reports of nodes whose certificate is not revoked (the authority's own heartbeat included). */
  async reports(): Promise<NodeReport[]> {
    const all = await reports(this.deps.store);
    const revoked = await Promise.all(all.map((r) => this.revoked(r.node)));
    return all.filter((_, i) => !revoked[i]);
  }

  /**
   * Labels decide canary placement, so they come from the certificate this authority signed
   * (SPEC "Security"), never from the node's own heartbeat; a node without one has none.
   */
  async canaryCandidates(track: string): Promise<FleetNode[]> {
    const now = this.deps.clock.now();
    return Promise.all((await this.reports())
      .filter((r) => r.node !== this.deps.selfId && follows(r, track))
      .map(async (r) => ({
        id: r.node,
        labels: (await this.deps.store.identity.latestCert(r.node))?.labels ?? {},
        verified: await this.certified(r.node, now),
        healthy: r.health === 'ok' && now - r.at <= this.deps.heartbeatTimeoutMs,
      })));
  }

  publish(envelope: string): Promise<Publication> {
    return this.deps.publish(envelope);
  }

  /** Every node that runs the track: what it runs, and for a silent one since when. */
  async convergence(track: string): Promise<NodeTrackState[]> {
    const now = this.deps.clock.now();
    return (await this.reports()).filter((r) => follows(r, track)).map((r) => {
      const t = r.tracks[track];
      const silent = now - r.at > this.deps.heartbeatTimeoutMs;
      return {
        node: r.node,
        seq: t?.seq ?? null,
        version: t?.version ?? null,
        state: silent ? 'silent' : (t?.state ?? 'idle'),
        ...(silent ? { note: `no heartbeat for ${Math.round((now - r.at) / 1000)} s (last state ${t?.state ?? 'idle'})` } : t?.reason && t.state !== 'confirmed' ? { note: t.reason } : {}),
      };
    });
  }

  /** This authority issued the node a certificate that is neither revoked nor expired. */
  private async certified(node: string, now: number): Promise<boolean> {
    const cert = await this.deps.store.identity.latestCert(node);
    return cert !== null && cert.revokedAt === null && cert.expiresAt > now;
  }

  private async revoked(node: string): Promise<boolean> {
    const cert = await this.deps.store.identity.latestCert(node);
    return cert !== null && cert.revokedAt !== null;
  }
}

/** A node runs a track when its heartbeat has a slot for it (a node without an app has none). */
function follows(r: NodeReport, track: string): boolean {
  return r.tracks[track] !== undefined;
}

/**
 * The pipeline's fleet on the authority. `source` is the gossip source of the authority's
 * own node: the daemon's (which `pushNow` then pushes at once), or, for a pipeline driven
 * from the CLI, one over the same store, from which a running daemon takes the manifest up
 * on its next round.
 */
export function gossipFleet(config: Config, store: StateStore, clock: { now(): number }, source: Pick<StoreManifestSource, 'accept'>, pushNow?: () => void): GossipFleet {
  return new GossipFleet({
    store,
    selfId: config.node.id,
    clock,
    heartbeatTimeoutMs: config.authority?.canary.heartbeat_timeout ?? 30_000,
    publish: async (envelope) => {
      const held = await source.accept(envelope);
      pushNow?.();
      return { held };
    },
  });
}
