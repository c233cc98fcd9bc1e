// The fleet as the authority's pipeline sees it through gossip: every node's current state
// (the fleet read model the node agent keeps from heartbeats), canary candidates among
// certified peers that are healthy and heard from recently, and publishing as handing the
// signed manifest to this node's gossip source, from where digests carry it to every node.
import type { CanaryCandidate } from '../core/decisions/canary.js';
import { follows, isLive, type NodeState } from '../core/node-state.js';
import { silentAfterMs } from '../core/decisions/heartbeat-interval.js';
import type { FleetPort, FleetStateStore, Publication } from '../core/ports.js';
import type { Config } from '../core/config.js';
import type { StateStore } from '../core/ports.js';
import type { StoreManifestSource } from '../node/agent/manifest-source.js';

interface CertView { labels: Record<string, string>; revokedAt: number | null; expiresAt: number }

export interface GossipFleetDeps {
  fleet: FleetStateStore;
  /** The latest certificate this authority issued the node, or null. */
  cert: (node: string) => Promise<CertView | null>;
  /** The authority's own node id: never a canary, and no member of the control group. */
  selfId: string;
  clock: { now(): number };
  /** A node whose last heartbeat is older than this is silent: not live, not a candidate. */
  heartbeatTimeoutMs: number;
  /** When this process began hearing heartbeats (FleetPort.hearingSince): judging waits for newer ones. */
  hearingSince?: number;
  /** The heartbeat interval the fleet was told (signed fleet settings), or null: silence stretches with it. */
  intervalMs?: () => number | null;
  /** Put a verified manifest into gossip (throws its refusal code). */
  publish: (envelope: string) => Promise<Publication>;
}

export class GossipFleet implements FleetPort {
  readonly hearingSince?: number;

  constructor(private readonly deps: GossipFleetDeps) {
    if (deps.hearingSince !== undefined) this.hearingSince = deps.hearingSince;
  }

  /** Nodes whose certificate is not revoked (the authority's own state included). */
  async nodes(): Promise<NodeState[]> {
    const all = await this.deps.fleet.nodes();
    const certs = await Promise.all(all.map((n) => this.deps.cert(n.node)));
    return all.filter((_, i) => !revoked(certs[i] ?? null));
  }

  /**
   * Labels decide canary placement, so they come from the certificate this authority signed
   * (SPEC "Security"), never from the node's own heartbeat; a node without one has none.
   */
  async canaryCandidates(track: string): Promise<CanaryCandidate[]> {
    const now = this.deps.clock.now();
    const peers = (await this.nodes()).filter((n) => n.node !== this.deps.selfId && follows(n, track));
    const certs = await Promise.all(peers.map((n) => this.deps.cert(n.node)));
    return peers.map((n, i) => {
      const cert = certs[i] ?? null;
      return {
        id: n.node,
        labels: cert?.labels ?? {},
        // this authority issued it a certificate that is neither revoked nor expired
        verified: cert !== null && cert.revokedAt === null && cert.expiresAt > now,
        healthy: n.health === 'ok' && isLive(n, now, silentAfterMs(this.deps.heartbeatTimeoutMs, this.deps.intervalMs?.() ?? null)),
      };
    });
  }

  publish(envelope: string): Promise<Publication> {
    return this.deps.publish(envelope);
  }
}

function revoked(cert: CertView | null): boolean {
  return cert !== null && cert.revokedAt !== null;
}

/**
 * The pipeline's fleet on the authority. `source` is the gossip source of the authority's
 * own node: the daemon's (which `pushNow` then pushes at once), or, for a pipeline driven
 * from the CLI, one over the same store, from which a running daemon takes the manifest up
 * on its next round.
 */
export function gossipFleet(
  config: Config, store: StateStore, clock: { now(): number },
  source: Pick<StoreManifestSource, 'accept'> & Partial<Pick<StoreManifestSource, 'settings'>>, pushNow?: () => void,
  hearingSince?: number,
): GossipFleet {
  return new GossipFleet({
    fleet: store.fleet,
    cert: async (node) => store.identity.latestCert(node),
    selfId: config.node.id,
    clock,
    heartbeatTimeoutMs: config.authority?.canary.heartbeat_timeout ?? 30_000,
    intervalMs: () => source.settings?.()?.heartbeat.interval_ms ?? null,
    ...(hearingSince === undefined ? {} : { hearingSince }),
    publish: async (envelope) => {
      const held = await source.accept(envelope);
      pushNow?.();
      return { held };
    },
  });
}
