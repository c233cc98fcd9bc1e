// What a node last said about itself (its heartbeat) as the receiver keeps it: the one
// node-state type that the fleet read model stores (ports.ts FleetStateStore) and that
// canary, deploy, `fleet ls|health`, status and metrics read. The wire form is the signed
// heartbeat (gossip/types.ts); node/agent/reports.ts turns one into the other.

export type AppHealth = 'ok' | 'failing' | 'unknown';

/** The apply state before a node ever applied a manifest of the track. */
export const IDLE = 'idle';

/** One track on one node. */
export interface TrackState {
  /** The version running now (the newest confirmed release), or null before any. */
  version: string | null;
  /** The seq of the newest apply on the track, whatever came of it; null before any. */
  seq: number | null;
  /** What came of that apply: `accepted`, `fetching`, …, `probation`, `confirmed`, `rolled_back`, `failed`; `idle` before any. */
  apply: string;
  /** Why the apply ended as it did (a refusal, a rollback); null when it has nothing to say. */
  reason: string | null;
  /** The code hash of the running release as the node last attested it from disk. */
  codeHash: string | null;
  /** `canary` while the manifest the node runs names it a canary of a deployment. */
  role?: 'canary';
}

/** The smoke benchmark of the release the node runs now. */
export interface SmokeVerdict {
  regressed: boolean;
  detail: string;
}

export interface NodeState {
  node: string;
  /** When its latest heartbeat was received, by the receiver's clock (ms). */
  heardAt: number;
  /** As the node sent them; canary placement takes the certified ones instead. */
  labels: Record<string, string>;
  /** The app's health and error rate: one app per node, so one of each for all its tracks. */
  health: AppHealth;
  /** Errors per request over the node's recent window, or null when the app reports none. */
  errorRate: number | null;
  /** Null when the node runs no smoke benchmark. */
  smoke: SmokeVerdict | null;
  /** A slot per track the node follows; none for a node without an app. */
  tracks: Record<string, TrackState>;
  /** How the receiver last heard it (absent in rows written before it was recorded). */
  channel?: HeardOn;
}

/**
 * `nats`: its heartbeat frames arrive over the NATS channel (gossip heartbeats heard between
 * them do not change that); `gossip`: only gossip carries them; `local`: the receiver itself.
 */
export type HeardOn = 'gossip' | 'nats' | 'local';

/** A node runs a track when its heartbeat has a slot for it (a node without an app has none). */
export function follows(n: NodeState, track: string): boolean {
  return n.tracks[track] !== undefined;
}

/** Heard within `silentAfterMs` of `now` (the bound included). */
export function isLive(n: NodeState, now: number, silentAfterMs: number): boolean {
  return now - n.heardAt <= silentAfterMs;
}
