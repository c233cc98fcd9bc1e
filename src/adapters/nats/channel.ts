// The fleet channel over NATS JetStream. NATS delivers; it is never trusted for content and
// never the source of truth: every frame it hands over goes through the same verification
// as gossip (the caller's), and the authority's store decides. Gossip keeps running beside it.
//
//   upshift.<fleet>.hb.<node>         heartbeats, a stream keeping the newest per node
//   upshift.<fleet>.manifest.<track>  signed manifests, a stream with history, dedup by (track, seq)
//   upshift.<fleet>.revocations       the signed revocation list, newest only
import { connect, credsAuthenticator, type NatsConnection } from '@nats-io/transport-node';
import { setTimeout as sleep } from 'node:timers/promises';
import { DeliverPolicy, jetstream, jetstreamManager, type JetStreamClient } from '@nats-io/jetstream';
import { UpshiftError } from '../../core/errors.js';

const NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;

export interface ChannelOptions {
  servers: string[];
  fleet: string;
  /** Shown in the server's connection list: the node id. */
  name: string;
  user?: string;
  pass?: string;
  token?: string;
  /** A NATS creds file's content (JWT and nkey seed). */
  creds?: Uint8Array;
  tls?: { caFile?: string; certFile?: string; keyFile?: string };
  /** Frames above this are refused (as gossip's body cap). */
  maxFrameBytes?: number;
  /** A node not heard for this long leaves the heartbeat stream. */
  heartbeatMaxAgeMs?: number;
}

export type FrameKind = 'heartbeat' | 'manifest' | 'revocations';

export interface Frame {
  kind: FrameKind;
  /** The node (heartbeat) or track (manifest) the subject names; '' for revocations. */
  key: string;
  data: Uint8Array;
}

export type Refusal = 'oversize' | 'bad_subject';

export interface ChannelHandlers {
  frame(frame: Frame): void | Promise<void>;
  refused?(reason: Refusal, subject: string): void;
  /** The stream could not be read (not created yet, the server away); the channel retries each second. */
  error?(err: unknown): void;
}

/** What /metrics shows of the channel (runtime/nats-fleet.ts counts it): in memory, from zero at each start. */
export interface ChannelView {
  connected: boolean;
  /** Frames read and taken, by kind (heartbeat, manifest, revocations). */
  received: Record<string, number>;
  /** Frames refused, by reason (the error code). */
  refused: Record<string, number>;
  /** This node's heartbeats: acknowledged by NATS, or left to the gossip report. */
  heartbeats: { nats: number; gossip: number };
  /** Manifests and revocation lists the authority published (duplicates included). */
  published: number;
}

export const DEFAULT_MAX_FRAME_BYTES = 64 * 1024;

export class NatsChannel {
  private nc: NatsConnection | null = null;
  private js: JetStreamClient | null = null;
  private closed = false;
  /** Between a disconnect and the reconnect that follows it. */
  private away = false;
  private connects = 0;
  private readonly ready: Promise<NatsConnection>;
  private readonly loops: Array<Promise<void>> = [];

  /**
   * Connects in the background: a daemon starts while the server is down and joins it later.
   * Until the first connect it tries every second itself (so close() can stop it: a client
   * waiting on its first connect cannot be told to give up); after that the client
   * reconnects forever on its own.
   */
  constructor(private readonly opts: ChannelOptions) {
    if (!NAME.test(opts.fleet)) throw new UpshiftError('E_CONFIG', `channel: fleet ${JSON.stringify(opts.fleet)} cannot name a NATS subject`);
    this.ready = this.firstConnect().then((nc) => {
      this.nc = nc;
      this.js = jetstream(nc);
      this.connects++;
      void this.watch(nc);
      return nc;
    });
    this.ready.catch(() => undefined);
  }

  private async watch(nc: NatsConnection): Promise<void> {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect' || s.type === 'reconnecting') this.away = true;
      else if (s.type === 'reconnect') {
        this.away = false;
        this.connects++;
      }
    }
  }

  private async firstConnect(): Promise<NatsConnection> {
    const { opts } = this;
    while (!this.closed) {
      try {
        const nc = await connect({
          servers: opts.servers,
          name: `upshift:${opts.name}`,
          reconnect: true,
          maxReconnectAttempts: -1,
          reconnectTimeWait: 1000,
          pingInterval: 5000,
          ...(opts.user === undefined ? {} : { user: opts.user, pass: opts.pass ?? '' }),
          ...(opts.token === undefined ? {} : { token: opts.token }),
          ...(opts.creds === undefined ? {} : { authenticator: credsAuthenticator(opts.creds) }),
          ...(opts.tls === undefined ? {} : { tls: opts.tls }),
        });
        if (this.closed) {
          await nc.close().catch(() => undefined);
          break;
        }
        return nc;
      } catch {
        await sleep(1000); // the server is away (or refuses us): try again, as the client does after a connect
      }
    }
    throw new UpshiftError('E_CHANNEL_CLOSED', 'the NATS channel was closed before it connected');
  }

  subject(kind: FrameKind, key = ''): string {
    const base = `upshift.${this.opts.fleet}`;
    if (kind === 'revocations') return `${base}.revocations`;
    if (!NAME.test(key)) throw new UpshiftError('E_CONFIG', `${JSON.stringify(key)} cannot name a NATS subject`);
    return `${base}.${kind === 'heartbeat' ? 'hb' : 'manifest'}.${key}`;
  }

  get maxFrameBytes(): number {
    return this.opts.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
  }

  /** How many times the client connected (a server that comes back may have lost its streams). */
  get connections(): number {
    return this.connects;
  }

  /** Connected right now (publishing would reach the server). */
  get connected(): boolean {
    return this.nc !== null && !this.nc.isClosed() && !this.away;
  }

  /** The authority creates (or updates) the streams; nodes only publish and read. */
  async ensureStreams(): Promise<void> {
    const nc = await this.ready;
    const jsm = await jetstreamManager(nc);
    const f = this.opts.fleet;
    const maxAge = (this.opts.heartbeatMaxAgeMs ?? 24 * 3600_000) * 1_000_000; // ns
    const streams = [
      { name: `upshift-${f}-hb`, subjects: [`upshift.${f}.hb.*`], max_msgs_per_subject: 1, max_age: maxAge },
      { name: `upshift-${f}-manifests`, subjects: [`upshift.${f}.manifest.*`], max_msgs_per_subject: 256, duplicate_window: 3600 * 1e9 },
      { name: `upshift-${f}-revocations`, subjects: [`upshift.${f}.revocations`], max_msgs_per_subject: 1 },
    ];
    for (const s of streams) {
      const cfg = { ...s, max_msg_size: this.opts.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES };
      await jsm.streams.add(cfg).catch(async (err: unknown) => {
        if (!/already in use|exists/i.test(String((err as Error).message))) throw err;
        await jsm.streams.update(s.name, cfg);
      });
    }
  }

  /**
   * A node's own heartbeat, stored in the heartbeat stream; true once the server acknowledged
   * it, false when not connected or no ack came within `timeoutMs` (gossip carries it then).
   */
  async publishHeartbeat(node: string, data: Uint8Array, timeoutMs = 2000): Promise<boolean> {
    if (!this.connected || !this.js) return false;
    try {
      await this.js.publish(this.subject('heartbeat', node), data, { timeout: timeoutMs });
      return true;
    } catch {
      return false;
    }
  }

  /** A signed manifest, deduplicated by (track, seq): every new leader may publish it again. */
  async publishManifest(track: string, seq: number, data: Uint8Array): Promise<{ duplicate: boolean }> {
    await this.ready;
    const ack = await (this.js as JetStreamClient).publish(this.subject('manifest', track), data, { msgID: `${track}#${seq}` });
    return { duplicate: ack.duplicate };
  }

  async publishRevocations(seq: number, data: Uint8Array): Promise<void> {
    await this.ready;
    await (this.js as JetStreamClient).publish(this.subject('revocations'), data, { msgID: `revocations#${seq}` });
  }

  /**
   * The newest message on a track's manifest subject (what the fleet was last sent for it), or
   * null when there is none. Throws when the server does not answer within `timeoutMs`.
   */
  async lastManifest(track: string, timeoutMs = 2000): Promise<Uint8Array | null> {
    if (!this.connected || !this.nc) throw new UpshiftError('E_CHANNEL_DOWN', 'not connected to NATS');
    const jsm = await jetstreamManager(this.nc, { timeout: timeoutMs });
    try {
      const stream = `upshift-${this.opts.fleet}-manifests`;
      const m = await jsm.streams.getMessage(stream, { last_by_subj: this.subject('manifest', track) });
      return m ? m.data : null;
    } catch (err) {
      // no such message (or no stream yet: nothing was ever published on this channel)
      if (/no message found|stream not found|10037|10059/i.test(String((err as Error).message))) return null;
      throw err;
    }
  }

  /** Read the newest frame per subject, then new ones, until close(). */
  follow(kind: FrameKind, handlers: ChannelHandlers): void {
    const stream = `upshift-${this.opts.fleet}-${kind === 'heartbeat' ? 'hb' : kind === 'manifest' ? 'manifests' : 'revocations'}`;
    const filter = kind === 'revocations' ? this.subject('revocations') : `upshift.${this.opts.fleet}.${kind === 'heartbeat' ? 'hb' : 'manifest'}.*`;
    const max = this.opts.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    const prefix = filter.replace(/\*$/, '');
    const loop = (async () => {
      await this.ready;
      while (!this.closed) {
        try {
          const consumer = await (this.js as JetStreamClient).consumers.get(stream, { filter_subjects: filter, deliver_policy: DeliverPolicy.LastPerSubject });
          const messages = await consumer.consume();
          for await (const m of messages) {
            if (this.closed) break;
            const key = kind === 'revocations' ? '' : m.subject.slice(prefix.length);
            if (kind !== 'revocations' && !NAME.test(key)) { handlers.refused?.('bad_subject', m.subject); continue; }
            if (m.data.length > max) { handlers.refused?.('oversize', m.subject); continue; }
            try { await handlers.frame({ kind, key, data: m.data }); } catch { /* the handler counts its own refusals */ }
          }
        } catch (err) {
          if (this.closed) return;
          handlers.error?.(err);
          await new Promise((r) => setTimeout(r, 1000)); // stream not created yet, or the server is away
        }
      }
    })();
    this.loops.push(loop);
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.nc) await this.nc.close().catch(() => undefined);
    await Promise.race([Promise.allSettled(this.loops), new Promise((r) => setTimeout(r, 2000))]);
  }
}
