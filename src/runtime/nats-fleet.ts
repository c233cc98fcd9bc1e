// The NATS fleet channel wired into a daemon (README "NATS fleet channel"). NATS delivers; it
// is never trusted for content and never the source of truth: what arrives goes through the
// same checks as gossip (manifests and revocation lists to the node's verify-once source,
// heartbeat frames to node/agent/heartbeat-frame.ts), and the store decides. Gossip keeps
// running underneath, so a server that is down at start or mid-run only slows nothing down.
//
// A node publishes its signed heartbeat frame every report_every (the gossip report is sent
// only when NATS did not acknowledge it) and follows manifests and the revocation list. The
// authority creates the streams, publishes every manifest and revocation list its gossip
// source holds (each (track, seq) once; all again after the server was away, deduplicated
// by the stream), and reads heartbeat frames into the agent, beside gossip.
import { readFileSync } from 'node:fs';
import type { Config, NatsChannelConfig } from '../core/config.js';
import { toUpshiftError, UpshiftError } from '../core/errors.js';
import type { Logger } from '../adapters/logger.js';
import { NatsChannel, type ChannelOptions, type ChannelView, type Frame, type FrameKind } from '../adapters/nats/channel.js';
import type { NodeAgent } from '../node/agent/agent.js';
import { heartbeatFrame, HeartbeatFrames } from '../node/agent/heartbeat-frame.js';
import { REVOCATIONS_KEY } from '../trust/revocation-list.js';
import type { Envelope } from '../trust/envelope.js';
import type { Signer } from '../trust/keyfile.js';
import type { Keyset } from '../trust/keyset.js';
import { verifyManifest } from '../trust/verify-manifest.js';

export interface NatsFleetDeps {
  config: Config;
  agent: NodeAgent;
  identity: { nodeId: string; signer: Signer; envelope: Envelope };
  keyset: Keyset;
  clock: { now(): number };
  log: Pick<Logger, 'info' | 'warn'>;
}

/** The client options from the config (credentials read now: a missing file fails the start). */
export function channelOptions(c: NatsChannelConfig, fleet: string, name: string): ChannelOptions {
  const read = (path: string, what: string): Buffer => {
    try {
      return readFileSync(path);
    } catch (err) {
      throw new UpshiftError('E_CONFIG', `channel.${what}: cannot read ${path}: ${(err as Error).message}`);
    }
  };
  const tls = c.tls && {
    ...(c.tls.ca_file ? { caFile: c.tls.ca_file } : {}),
    ...(c.tls.cert_file ? { certFile: c.tls.cert_file } : {}),
    ...(c.tls.key_file ? { keyFile: c.tls.key_file } : {}),
  };
  return {
    servers: c.servers, fleet, name, maxFrameBytes: c.max_frame_bytes,
    ...(c.creds_file ? { creds: new Uint8Array(read(c.creds_file, 'creds_file')) } : {}),
    ...(c.user && c.password_file ? { user: c.user, pass: read(c.password_file, 'password_file').toString('utf8').trim() } : {}),
    ...(tls ? { tls } : {}),
  };
}

export class NatsFleet {
  readonly channel: NatsChannel;
  private readonly view: ChannelView = { connected: false, received: {}, refused: {}, heartbeats: { nats: 0, gossip: 0 }, published: 0 };
  private timer: NodeJS.Timeout | null = null;
  private publishing: Promise<void> | null = null;
  /** Hashes of the envelopes published since the server was last seen connected. */
  private readonly published = new Set<string>();
  /** The channel's connection count when the streams were last made sure of. */
  private streamsFor = -1;
  private readonly lastError = new Map<string, string>();
  /** The newest verified manifest read from the stream per track (lastPublished). */
  private readonly lastRead = new Map<string, { seq: number; envelope: string }>();

  /** Null with `channel: { kind: gossip }`. */
  static create(deps: NatsFleetDeps): NatsFleet | null {
    const c = deps.config.channel;
    return c.kind === 'nats' ? new NatsFleet(deps, new NatsChannel(channelOptions(c, deps.config.fleet, deps.config.node.id))) : null;
  }

  constructor(private readonly deps: NatsFleetDeps, channel: NatsChannel) {
    this.channel = channel;
  }

  /** The authority's part with an `authority:` section, a node's otherwise (a test may pick). */
  start(role: 'authority' | 'node' = this.deps.config.authority ? 'authority' : 'node'): void {
    if (role === 'authority') this.startAuthority();
    else this.startNode();
  }

  private startNode(): void {
    const { agent, identity, clock } = this.deps;
    agent.attachChannel(async (hb) => {
      // the agent's own message auth, sealing under the frame's payload type
      const acked = await this.channel.publishHeartbeat(identity.nodeId, heartbeatFrame(agent.auth, hb, clock.now()));
      this.view.heartbeats[acked ? 'nats' : 'gossip']++;
      return acked;
    });
    // the same verify-once path gossip hands what it pulls to
    const offer = async (f: Frame) => {
      try {
        await agent.source.accept(new TextDecoder('utf-8', { fatal: true }).decode(f.data));
        this.count('received', f.kind);
      } catch (err) {
        const e = toUpshiftError(err, 'E_MANIFEST_PARSE');
        this.count('refused', e.code);
        this.deps.log.warn({ module: 'nats', kind: f.kind, key: f.key, code: e.code }, `${f.kind} from NATS refused: ${e.message}`);
      }
    };
    this.follow('manifest', offer);
    this.follow('revocations', offer);
  }

  private startAuthority(): void {
    const { agent, config, clock } = this.deps;
    const frames = new HeartbeatFrames({
      // the agent's certificate cache and cached keys: a frame is checked as a gossip message is
      auth: agent.auth,
      clock, windowMs: config.gossip.replay_window, maxBytes: this.channel.maxFrameBytes,
    });
    this.follow('heartbeat', (f) => {
      try {
        const { heartbeat, at } = frames.check(f.key, f.data);
        agent.hear(heartbeat, at, 'nats');
        this.count('received', 'heartbeat');
      } catch (err) {
        const e = toUpshiftError(err, 'E_MALFORMED');
        this.count('refused', e.code);
        this.deps.log.warn({ module: 'nats', node: f.key, code: e.code }, `heartbeat frame refused: ${e.message}`);
      }
    });
    const every = Math.min(1000, config.gossip.interval);
    this.timer = setInterval(() => {
      this.publishing ??= this.publishHeld().finally(() => { this.publishing = null; });
    }, every);
    this.timer.unref();
  }

  /**
   * Every manifest and the revocation list the authority's source holds, oldest seq first (the
   * stream then keeps a track's newest last), each once while the server stays up. At start
   * that re-publishes the latest per track; after an outage everything again (the server may
   * have lost it; the stream's dedup window drops what it has).
   */
  private async publishHeld(): Promise<void> {
    if (!this.channel.connected) return;
    try {
      const connection = this.channel.connections;
      if (this.streamsFor !== connection) {
        // first connect, or a reconnect: the server may have lost the streams and what was in them
        this.published.clear();
        await this.channel.ensureStreams();
        this.streamsFor = connection;
      }
      const source = this.deps.agent.source;
      for (const [track, d] of Object.entries(source.digest())) {
        const entries = [{ seq: d.seq, hash: d.hash }, ...(d.also ?? [])].sort((a, b) => a.seq - b.seq);
        for (const { seq, hash } of entries) {
          if (this.published.has(hash)) continue;
          const envelope = source.get(track, hash);
          if (envelope === null) continue;
          const bytes = new TextEncoder().encode(envelope);
          if (track === REVOCATIONS_KEY) await this.channel.publishRevocations(seq, bytes);
          else await this.channel.publishManifest(track, seq, bytes);
          this.published.add(hash);
          this.view.published++;
        }
      }
    } catch (err) {
      this.once('publish', `publishing to NATS failed (gossip carries it; retried): ${(err as Error).message}`);
    }
  }

  /**
   * The newest manifest the channel carries for `track` (its stream's last message), verified
   * as gossip would (keyset, then this fleet and track): for the seq guard, which refuses to
   * reserve at or below a published seq the store lacks (stages/seq-guard.ts). What does not
   * verify is counted and ignored. When the server cannot be read, the last answer read for
   * that track stands (and null before any): gossip and the node's own view still guard.
   */
  async lastPublished(track: string): Promise<{ seq: number; envelope: string } | null> {
    let data: Uint8Array | null;
    try {
      data = await this.channel.lastManifest(track);
    } catch (err) {
      const why = (err as Error).message;
      this.once(`last-${track}`, `cannot read the newest manifest of ${track} from NATS (the node's own view guards): ${why}`);
      return this.lastRead.get(track) ?? null;
    }
    if (data === null) return this.lastRead.get(track) ?? null;
    try {
      const envelope = new TextDecoder('utf-8', { fatal: true }).decode(data);
      const { payload } = verifyManifest(envelope, this.deps.keyset);
      if (payload.fleet !== this.deps.config.fleet || payload.track !== track) {
        throw new UpshiftError('E_WRONG_TRACK', `manifest for ${payload.fleet}/${payload.track} on the ${track} subject`);
      }
      const seen = { seq: payload.seq, envelope };
      const before = this.lastRead.get(track);
      if (!before || before.seq <= seen.seq) this.lastRead.set(track, seen);
      return this.lastRead.get(track) ?? seen;
    } catch (err) {
      const e = toUpshiftError(err, 'E_MANIFEST_PARSE');
      this.count('refused', e.code);
      this.deps.log.warn({ module: 'nats', track, code: e.code }, `the newest manifest of ${track} on NATS is refused: ${e.message}`);
      return this.lastRead.get(track) ?? null;
    }
  }

  private follow(kind: FrameKind, frame: (f: Frame) => void | Promise<void>): void {
    this.channel.follow(kind, {
      frame,
      refused: (reason, subject) => {
        const code = reason === 'oversize' ? 'E_FRAME_TOO_LARGE' : 'E_CHANNEL_SUBJECT';
        this.count('refused', code);
        this.deps.log.warn({ module: 'nats', subject, code }, `${kind} frame refused`);
      },
      error: (err) => this.once(`follow-${kind}`, `cannot read the ${kind} stream yet (gossip carries it; retried): ${(err as Error).message}`),
    });
  }

  /** A repeated failure is logged when its message changes, not every second. */
  private once(what: string, message: string): void {
    if (this.lastError.get(what) === message) return;
    this.lastError.set(what, message);
    this.deps.log.warn({ module: 'nats' }, message);
  }

  private count(kind: 'received' | 'refused', key: string): void {
    this.view[kind][key] = (this.view[kind][key] ?? 0) + 1;
  }

  counts(): ChannelView {
    return { ...this.view, connected: this.channel.connected, received: { ...this.view.received }, refused: { ...this.view.refused }, heartbeats: { ...this.view.heartbeats } };
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.publishing;
    await this.channel.close();
  }
}
