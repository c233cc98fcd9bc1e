// What the gossip protocol needs from the outside world. The daemon plugs in HTTP, Ed25519
// node keys with authority-signed certificates, and the node's verified manifest store; the
// simulator plugs in a virtual network and cheap stand-ins. The protocol code is the same.
import type { GossipConfig } from '../core/config.js';
import type { Clock } from '../core/ports.js';
import type { Rng } from './rng.js';
import type { Digest, GossipMessage, Heartbeat } from './types.js';

/** How to reach a peer. `id` is null for a seed URL we have not heard from yet. */
export interface PeerAddress {
  id: string | null;
  url: string;
}

/**
 * The default wire form for HTTP: `payload` is the exact JSON bytes of a GossipMessage, `sig`
 * the sender's Ed25519 signature over them (DSSE PAE with a gossip payload type, so a gossip
 * message can never pass as a manifest), `cert` the sender's node certificate.
 */
export interface SignedMessage {
  payload: string;
  sig: string;
  cert: string;
}

export interface Transport<W = SignedMessage> {
  /**
   * Request/response. Resolves with the peer's signed answer, or null when the request or the
   * answer was lost, timed out or refused; a rejection is treated the same as null. The
   * adapter caps body sizes (gossip.max_body_bytes) before it parses anything.
   */
  send(to: PeerAddress, wire: W): Promise<W | null>;
  /**
   * Throws E_PEER_URL for an address this transport must not call (the HTTP one: scheme,
   * userinfo, link-local or metadata hosts, gossip.allow). The protocol checks every address
   * it did not get from config or a certificate before keeping it; send() checks again.
   */
  checkUrl?(url: string): void;
}

export interface MessageAuth<W = SignedMessage> {
  sign(message: GossipMessage): W;
  /**
   * Checks the signature over the exact bytes and the sender's certificate, and returns the
   * authenticated sender and the content, whose shape is not checked yet, and the address its
   * certificate names when it names one. Throws E_SIG_INVALID, E_NOT_CERTIFIED or E_REVOKED.
   */
  verify(wire: W): { from: string; content: unknown; url?: string };
}

export type OfferResult = 'accepted' | 'same' | 'refused';

/** The node's verified manifests: per track the newest, and maybe others (gossip/held.ts). */
export interface ManifestSource {
  /** `{ track: { seq, hash, also? } }` of what this node has accepted; treated as immutable. */
  digest(): Digest;
  /** The accepted envelope with that digest hash (default: the track's newest), as served to peers that pull it. */
  get(track: string, hash?: string): string | null;
  /**
   * Whether an advertised (track, seq, hash) is worth pulling. Default: it is newer than the
   * track's newest in our digest (and only the newest of a peer's entry is considered).
   */
  wants?(track: string, seq: number, hash: string): boolean;
  /** The digest hash of an envelope (sha256 hex of its bytes in the daemon). */
  hash(envelope: string): string;
  /**
   * Verify (signature, keyset, floor, fleet, track, expiry) and store. 'refused' is final for
   * these bytes; a transient failure (store busy) should reject instead, so a later
   * advertisement can try again.
   */
  offer(envelope: string): Promise<OfferResult>;
}

export type HeartbeatSource = () => Heartbeat;

/** Things a daemon logs or counts; the protocol never logs by itself. */
export type GossipEvent =
  | { type: 'accepted'; track: string; seq: number; from: string }
  | { type: 'refused'; track: string; hash: string; from: string }
  | { type: 'pull-failed'; track: string; hash: string; from: string; reason: string }
  | { type: 'rejected'; from: string | null; code: string; reason: string };

export type GossipTimings = Pick<GossipConfig, 'fanout' | 'suspect_after' | 'dead_after' | 'replay_window' | 'rate_limit_per_sec'>
  & Partial<Pick<GossipConfig, 'remove_after'>>;

export interface GossipNodeOptions<W> {
  id: string;
  /** How peers reach this node (config gossip.advertise). */
  url: string;
  gossip: GossipTimings;
  clock: Pick<Clock, 'now'>;
  rng: Rng;
  transport: Transport<W>;
  auth: MessageAuth<W>;
  source: ManifestSource;
  heartbeat: HeartbeatSource;
  seeds?: readonly string[];
  /** Peers known at start (e.g. from the store), treated as just heard from. */
  peers?: ReadonlyArray<PeerAddress & { id: string }>;
  /**
   * When this node started (default: the clock at construction). Messages stamped before it
   * are refused: the replay table of the previous run is gone, so they might be replays.
   */
  startedAt?: number;
  /** Per sender, the newest `at` the previous run accepted (replayFloors() at shutdown); older is refused. */
  replayFloors?: Readonly<Record<string, number>>;
  maxMembers?: number;
  /** Member samples carried by a push (default 4) and by a sync (default 16). */
  pushSample?: number;
  syncSample?: number;
  /** Unique nonces; the daemon should pass crypto.randomUUID (see rng.ts). */
  nonce?: () => string;
  onEvent?: (event: GossipEvent) => void;
  /**
   * Every authenticated heartbeat (from pushes and syncs), for the daemon to keep (fleet ls
   * reads them from the store); the protocol keeps none itself.
   */
  onHeartbeat?: (heartbeat: Heartbeat, at: number) => void;
}

export interface GossipStats {
  pushes: number;
  syncs: number;
  pulls: number;
  pullFailures: number;
  /** Pull answers that carried an envelope: the manifest transfers this node served. */
  manifestsServed: number;
  offers: number;
  accepted: number;
  refused: number;
  /** Incoming requests refused (auth, shape, replay, rate limit). */
  rejected: number;
}
