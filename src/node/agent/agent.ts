// The node agent (SPEC "Node agent", "Gossip"): one gossip participant wired to this node's
// key and certificate, its store and its apply engine. It finishes any apply a dead process
// left before it gossips, pushes its digest every `gossip.interval`, runs anti-entropy every
// `gossip.anti_entropy`, and keeps every heartbeat it hears in the store for `fleet ls`.
import { randomBytes, randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import type { Config } from '../../core/config.js';
import type { ManifestPayload } from '../../core/manifest.js';
import { toUpshiftError, UpshiftError } from '../../core/errors.js';
import { PeerUrlPolicy } from '../../core/peer-url.js';
import { parseWindow } from '../../core/windows.js';
import type { Clock, Exec } from '../../core/ports.js';
import { createExec } from '../../adapters/exec.js';
import { codeHash } from '../../adapters/code-hash-files.js';
import type { StateStore } from '../../core/ports.js';
import { OPEN_STATES, type PeerRecord } from '../../core/records.js';
import { reportDue } from '../../core/decisions/heartbeat-interval.js';
import { IdleBackoff } from '../../gossip/idle-backoff.js';
import { GossipNode } from '../../gossip/node.js';
import { acceptsUrl } from '../../gossip/requests.js';
import type { GossipEvent, SignedMessage, Transport } from '../../gossip/ports.js';
import { seededRng } from '../../gossip/rng.js';
import type { Heartbeat } from '../../gossip/types.js';
import type { HeardOn } from '../../core/node-state.js';
import type { Envelope } from '../../trust/envelope.js';
import type { Signer } from '../../trust/keyfile.js';
import type { Keyset } from '../../trust/keyset.js';
import type { NodeCert } from '../../trust/node-cert.js';
import type { ApplyLog } from '../apply/context.js';
import type { ApplyEngine } from '../apply/engine.js';
import type { TrackApplyStatus } from '../apply/engine.js';
import { RevocationView } from './revocation-view.js';
import type { SmokeVerdict } from './smoke.js';
import { AppMonitor } from './app-monitor.js';
import { SmokeRunner } from './smoke.js';
import { applyStateOf } from './reports.js';
import { httpTransport } from './http-transport.js';
import { Ed25519MessageAuth } from './message-auth.js';
import { sourceNode, StoreManifestSource } from './manifest-source.js';
import { loadReplayFloors, saveReplayFloors } from './replay-floors.js';

export interface NodeAgentDeps {
  config: Config;
  store: StateStore;
  /** From loadNodeIdentity(); a node without a valid certificate cannot be heard on gossip. */
  identity: { nodeId: string; signer: Signer; cert: NodeCert | null; envelope: Envelope | null };
  keyset: Keyset;
  /** Null when the node has no `app:` section. */
  engine: ApplyEngine | null;
  clock: Pick<Clock, 'now'>;
  log?: ApplyLog;
  /** Default: HTTP with a 2 s timeout, answers capped at gossip.max_body_bytes. */
  transport?: Transport<SignedMessage>;
  /** How peers reach this node; default gossip.advertise, else http://<gossip.listen>. */
  url?: string;
  /** Default gossip.seeds. */
  seeds?: readonly string[];
  /** Default adapters/code-hash-files.ts. */
  codeHash?: (dir: string) => Promise<{ hash: string }>;
  /** For the smoke benchmark; default adapters/exec.ts. */
  exec?: Exec;
  /** Aborted on shutdown: a smoke benchmark in flight is stopped, not waited for. */
  signal?: AbortSignal;
  /** Where every heartbeat heard (and this node's own) goes: runtime/heartbeat-ingest.ts. */
  heartbeats: HeartbeatSink;
}

/** Holds the latest heartbeat per node and writes the store as due (runtime/heartbeat-ingest.ts). */
export interface HeartbeatSink {
  /** A verified heartbeat heard at `at`; true when its content changed. */
  accept(heartbeat: Heartbeat, at: number, via: HeardOn): boolean;
  /** Write what is due (everything unwritten at `force`). */
  flush(force?: boolean): Promise<void>;
  /** Retention: nodes unheard since `before` are dropped. */
  forget(before: number): Promise<number>;
}

/** Gossip traffic of this node's agent since it started (what /metrics shows of gossip). */
export interface GossipView {
  /** Requests that reached the gossip handler. */
  received: number;
  /** Of those, the ones refused, by error code (E_SIG_INVALID, E_REPLAY, E_RATE_LIMITED, ...). */
  refused: Record<string, number>;
  /** Requests this node sent, by kind. */
  sent: { push: number; sync: number; pull: number };
  /** Manifests offered by peers: accepted (verified and newer) or refused. */
  manifests: { accepted: number; refused: number };
}

/** A node not heard from for this long is dropped from the fleet read model (and `fleet ls`). */
export const FORGET_AFTER_MS = 7 * 24 * 3_600_000;

export class NodeAgent {
  readonly node: GossipNode<SignedMessage>;
  readonly source: StoreManifestSource;
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly running = new Map<string, Promise<void>>();
  private readonly labels: Record<string, string>;
  /** Per node, when its newest NATS frame was said: a node is on NATS while its frames arrive. */
  private readonly natsAt = new Map<string, number>();
  /** The fleet channel's heartbeat publish: true when NATS acknowledged it (then no gossip report is sent). */
  private channelReport: ((hb: Heartbeat) => Promise<boolean>) | null = null;
  /** This node's message auth: gossip messages, and heartbeat frames on the fleet channel. */
  readonly auth: Ed25519MessageAuth;
  private readonly idle: IdleBackoff;
  /** The app's health, error rate and attested code hash; null without an `app:` section. */
  readonly monitor: AppMonitor | null;
  /** The on-node smoke benchmark; null unless `app.smoke` is configured. */
  readonly smoke: SmokeRunner | null;

  /** What the heartbeat reads from the store, read before each round: gossip asks for it synchronously. */
  private status: { apply: Record<string, TrackApplyStatus>; smoke: SmokeVerdict | null } = { apply: {}, smoke: null };
  /** The revocations known here, for gossip's synchronous certificate checks. */
  readonly revocations: RevocationView;

  /** An agent with what the store kept: held manifests, revocations, peers, replay floors, apply status. */
  static async open(deps: NodeAgentDeps): Promise<NodeAgent> {
    const { config, store, identity } = deps;
    const revocations = await new RevocationView(store).refresh();
    const source = await StoreManifestSource.open({
      store, keyset: deps.keyset, node: sourceNode(config, identity.nodeId), clock: deps.clock, engine: deps.engine,
      onRevocations: async () => void await revocations.refresh(), windows: config.node.windows.map(parseWindow), ...(deps.log ? { log: deps.log } : {}),
    });
    const agent = new NodeAgent(deps, { source, revocations, peers: await store.identity.peers(), replayFloors: await loadReplayFloors(store) });
    await agent.readStatus();
    return agent;
  }

  private constructor(private readonly deps: NodeAgentDeps, loaded: { source: StoreManifestSource; revocations: RevocationView; peers: PeerRecord[]; replayFloors: Record<string, number> }) {
    const { config, store, identity } = deps;
    if (!identity.envelope || !identity.cert) {
      throw new UpshiftError('E_NOT_CERTIFIED', `node ${identity.nodeId} has no valid certificate; run \`upshift join\` before gossiping`);
    }
    // Labels the authority certified win over the local config, as in the certificate itself.
    this.labels = { ...config.node.labels, ...identity.cert.labels };
    this.idle = new IdleBackoff(Math.max(1, Math.floor(config.gossip.idle_interval / config.gossip.interval)));
    this.monitor = config.app && deps.engine
      ? new AppMonitor({ app: config.app, appDir: resolve(config.app.dir), clock: deps.clock, codeHash: deps.codeHash ?? ((dir, o) => codeHash(dir, o)), ...(deps.log ? { log: deps.log } : {}) })
      : null;
    this.smoke = this.monitor && config.app?.smoke
      ? new SmokeRunner({ smoke: config.app.smoke, appDir: resolve(config.app.dir), store, exec: deps.exec ?? createExec(), ...(deps.log ? { log: deps.log } : {}), ...(deps.signal ? { signal: deps.signal } : {}) })
      : null;
    this.source = loaded.source;
    this.revocations = loaded.revocations;
    const auth = new Ed25519MessageAuth({ signer: identity.signer, cert: identity.envelope, keyset: deps.keyset, fleet: config.fleet, clock: deps.clock, revoked: this.revocations.revoked });
    this.auth = auth;
    const policy = new PeerUrlPolicy(config.gossip.allow);
    const transport = deps.transport ?? httpTransport({ maxBodyBytes: config.gossip.max_body_bytes, policy });
    // peers saved by an earlier run, on today's URL policy
    const peers = loaded.peers
      .filter((p) => p.state !== 'dead' && p.nodeId !== identity.nodeId && acceptsUrl(transport, p.url))
      .map((p) => ({ id: p.nodeId, url: p.url }));
    // peers call this node where its certificate says; the configured address is for older certificates
    const configured = deps.url ?? config.gossip.advertise ?? `http://${config.gossip.listen}`;
    if (identity.cert.url !== undefined && identity.cert.url !== configured) {
      const why = `peers call this node at ${identity.cert.url}, the address in its certificate, not ${configured}`;
      deps.log?.warn({ module: 'gossip', cert_url: identity.cert.url, configured }, `${why}; run \`upshift join\` again to certify a new address`);
    }
    this.node = new GossipNode<SignedMessage>({
      id: identity.nodeId,
      url: identity.cert.url ?? configured,
      gossip: config.gossip,
      clock: deps.clock,
      rng: seededRng(randomBytes(4).readUInt32LE(0)),
      nonce: randomUUID,
      transport,
      replayFloors: loaded.replayFloors,
      auth,
      source: this.source,
      heartbeat: () => this.heartbeat(),
      seeds: deps.seeds ?? config.gossip.seeds,
      peers,
      // held in memory (runtime/heartbeat-ingest.ts); the store gets changes at once, the time of hearing coarsely
      onHeartbeat: (hb, at) => this.hear(hb, at, 'gossip'),
      onEvent: (e) => this.logEvent(e),
    });
  }

  /** Gossip requests received, and the refused ones by code, since start (for /metrics). */
  private readonly traffic = { received: 0, refused: new Map<string, number>() };

  /** For the HTTP route. */
  async receive(wire: SignedMessage): Promise<SignedMessage> {
    this.traffic.received++;
    // the sender's certificate is checked against the revocations recorded now, as before the store went async
    await this.revocations.refresh();
    return this.node.receive(wire);
  }

  /**
   * Every heartbeat heard, from gossip or the NATS channel, comes here: the one place the
   * fleet read model is fed from (merge both inputs, newest wins). `at` is when it was said:
   * the time of receipt for gossip, the sender's stamp (never later than ours) for NATS. A
   * node counts as heard on NATS while its frames arrive (within two report intervals), so a
   * gossip push it makes between them does not flip its channel back and forth.
   */
  hear(hb: Heartbeat, at: number, channel: 'gossip' | 'nats'): void {
    if (channel === 'nats') this.natsAt.set(hb.node, Math.max(at, this.natsAt.get(hb.node) ?? -Infinity));
    // the slowest a node may report: gossip.report_every, or the interval the authority signed
    const every = Math.max(this.deps.config.gossip.report_every, this.source.settings()?.heartbeat?.interval_ms ?? 0);
    const onNats = at - (this.natsAt.get(hb.node) ?? -Infinity) <= 2 * every;
    // the ingest keeps the newest per node (an older state than the one held is dropped)
    this.deps.heartbeats.accept(hb, at, onNats ? 'nats' : 'gossip');
  }

  /** Heartbeats go to the fleet channel first; gossip reports one only when the channel did not take it. */
  attachChannel(report: (hb: Heartbeat) => Promise<boolean>): void {
    this.channelReport = report;
  }

  /** What /metrics shows of gossip: in memory, from zero at each start. */
  gossipCounts(): GossipView {
    const s = this.node.stats;
    return {
      received: this.traffic.received, refused: Object.fromEntries(this.traffic.refused),
      sent: { push: s.pushes, sync: s.syncs, pull: s.pulls }, manifests: { accepted: s.accepted, refused: s.refused },
    };
  }

  async start(): Promise<void> {
    if (this.deps.engine) {
      try {
        await this.deps.engine.reconcile();
        // after a reboot a plain-process app is down: nobody but the daemon starts it
        await this.deps.engine.startIfDown();
      } catch (err) {
        const e = toUpshiftError(err);
        this.deps.log?.warn({ module: 'agent', code: e.code }, `start-up reconciliation: ${e.message}`);
      }
      await this.source.resume();
    }
    const { interval, anti_entropy } = this.deps.config.gossip;
    const { app } = this.deps.config;
    const monitor = this.monitor;
    if (monitor && app) {
      await monitor.tryAttest();
      this.every('probe', app.health.interval, () => monitor.probe());
      this.every('attest', app.attest_every, () => monitor.attest());
      if (this.smoke) this.every('smoke', app.health.interval, () => this.runSmoke());
    }
    this.every('tick', interval, () => this.round(false));
    const reportTo = this.deps.config.gossip.report_to ?? this.deps.seeds ?? this.deps.config.gossip.seeds;
    // looked at every second (or report_every when shorter): a state change goes at once, the rest at reportEvery()
    const { report_every } = this.deps.config.gossip;
    if (reportTo.length > 0 || this.channelReport) this.every('report', Math.min(1000, report_every), () => this.maybeReport(reportTo));
    this.every('anti-entropy', anti_entropy, () => this.antiEntropy());
  }

  /** Stops the timers and waits for the round and the apply in flight (the engine stops an apply at its signal, resumable). */
  async stop(): Promise<void> {
    for (const t of this.timers.splice(0)) clearInterval(t);
    this.source.close();
    await Promise.allSettled([...this.running.values(), this.source.idle()]);
    // after the attest in flight, which could arm it again
    this.monitor?.close();
    await this.saveHeartbeats(true);
    await this.saveMembers();
  }



  /** One push round, whatever the idle back-off says (after a publish; tests call it directly). */
  async tick(): Promise<void> {
    await this.round(true);
  }

  /** What the interval timer runs: on an idle node the pushes thin out (gossip/idle-backoff.ts). */
  private async round(force: boolean): Promise<void> {
    await this.source.refresh();
    await this.readStatus();
    const heartbeat = this.heartbeat();
    this.deps.heartbeats.accept(heartbeat, this.deps.clock.now(), 'local');
    await this.saveHeartbeats();
    const news = this.idle.shouldPush(JSON.stringify([this.source.digest(), heartbeat]));
    if (news || force) await this.node.tick();
  }

  /** When this node last reported to the authority, and the state it reported (error rate aside). */
  private reported: { at: number; state: string } | null = null;

  /**
   * Report when the state changed since the last report, or when reportEvery() has passed: on
   * the fleet channel when one is attached and the server acknowledges it; by gossip report
   * otherwise (NATS down or slow, or no channel).
   */
  private async maybeReport(reportTo: readonly string[]): Promise<void> {
    const heartbeat = this.heartbeat();
    const state = JSON.stringify({ ...heartbeat, error_rate: null });
    const now = this.deps.clock.now();
    if (!reportDue(this.reported, now, state, this.reportEvery(heartbeat))) return;
    this.reported = { at: now, state };
    if (this.channelReport && await this.channelReport(heartbeat)) return;
    if (reportTo.length > 0) await this.node.report(reportTo);
  }

  /**
   * The interval the authority signed for the fleet (held-settings.ts), or gossip.report_every
   * before any arrived. A canary, a node the authority pinned (the control sample) and a node
   * in the middle of an apply stay at the signed base interval: they are the ones watched.
   */
  reportEvery(heartbeat: Heartbeat = this.heartbeat()): number {
    const signed = this.source.settings()?.heartbeat;
    if (!signed) return this.deps.config.gossip.report_every;
    const applying = Object.values(this.status.apply).some((t) => OPEN_STATES.includes(t.state));
    const watched = applying || heartbeat.roles !== undefined || signed.pinned.includes(this.node.id);
    return watched ? signed.base_ms : signed.interval_ms;
  }

  /** One anti-entropy round, then the membership saved for the next start. */
  async antiEntropy(): Promise<void> {
    await this.readStatus();
    await this.node.antiEntropy();
    await this.saveMembers();
  }

  /** The apply status, the smoke verdict and the revocations as the store has them now. */
  private async readStatus(): Promise<void> {
    const apply = (await this.deps.engine?.applyStatus()) ?? {};
    const attested = this.monitor?.snapshot()?.attested;
    const smoke = attested && this.smoke ? await this.smoke.verdict(attested.release) : null;
    this.status = { apply, smoke };
    await this.revocations.refresh();
  }

  /**
   * SPEC's heartbeat: per followed track the version running now and its code hash as last
   * attested from disk, the app's health and error rate, the apply state. A node without an
   * app runs no track: its versions are empty, so it counts in no track's convergence.
   */
  heartbeat(): Heartbeat {
    const status = this.status.apply;
    const app = this.monitor?.snapshot() ?? null;
    const versions: Record<string, string | null> = {};
    const codeHash: Record<string, string | null> = {};
    const reasons: Record<string, string> = {};
    if (this.deps.engine) {
      for (const track of this.deps.config.node.tracks) {
        const running = status[track]?.running ?? null;
        versions[track] = running?.version ?? null;
        codeHash[track] = running && app?.attested?.release === running.release ? app.attested.hash : (running?.code_hash ?? null);
        const reason = this.source.waiting(track) ?? status[track]?.reason;
        if (reason) reasons[track] = reason.slice(0, 300);
      }
    }
    // configured but not finished counts against the canary: nothing passes that did not run
    const smoke = app?.attested && this.smoke
      ? ((this.status.smoke?.release === app.attested.release ? this.status.smoke : null) ?? { regressed: true, detail: 'pending: the smoke benchmark of this release has not finished' })
      : null;
    const roles = this.roles(versions);
    return {
      node: this.node.id, versions, code_hash: codeHash,
      health: app?.health ?? 'unknown', error_rate: app?.errorRate ?? null,
      apply_state: applyStateOf(status), apply_reason: reasons, labels: this.labels,
      ...(smoke ? { smoke: { regressed: smoke.regressed, detail: smoke.detail } } : {}),
      ...(Object.keys(roles).length > 0 ? { roles } : {}),
    };
  }

  /**
   * A canary of a deployment in progress: the newest manifest aimed at this node, of the
   * release it runs, names it in `rollout.canaries` (the fleet-wide manifest that completes a
   * deployment names none, so the mark ends with it).
   */
  private roles(versions: Record<string, string | null>): Record<string, 'canary'> {
    return canaryRoles(this.node.id, versions, (track) => this.source.payloads(track));
  }

  /** The smoke benchmark of the release running now, once the app answers healthy. */
  private runSmoke(): Promise<void> {
    const app = this.monitor?.snapshot();
    if (!this.smoke || !app?.attested || app.health !== 'ok') return Promise.resolve();
    return this.smoke.ensure(app.attested.release);
  }

  private every(name: string, ms: number, run: () => Promise<void>): void {
    const timer = setInterval(() => {
      if (this.running.has(name)) return; // a slow round is not stacked on by the next one
      const p = run()
        .catch((err: unknown) => {
          const e = toUpshiftError(err);
          this.deps.log?.warn({ module: 'gossip', code: e.code }, `${name} failed: ${e.message}`);
        })
        .finally(() => this.running.delete(name));
      this.running.set(name, p);
    }, ms);
    timer.unref();
    this.timers.push(timer);
  }

  /** Changed heartbeats went at once; the times of hearing that are due go now (all at `force`). */
  private async saveHeartbeats(force = false): Promise<void> {
    try {
      await this.deps.heartbeats.flush(force);
    } catch (err) {
      // the next round saves newer ones; a heartbeat is not worth retrying
      this.deps.log?.warn({ module: 'gossip' }, `heartbeats not saved: ${(err as Error).message}`);
    }
  }

  private async saveMembers(): Promise<void> {
    const { store } = this.deps;
    // what the next run must refuse (gossip/replay.ts), saved with the members
    await saveReplayFloors(store, this.node.replayFloors(), this.deps.log);
    try {
      // labels as each member last said in its heartbeat (certified ones come from its certificate)
      const labels = new Map((await store.fleet.nodes()).map((n) => [n.node, n.labels]));
      const peers: PeerRecord[] = this.node.members().map((m) => ({
        nodeId: m.id, url: m.url, cert: null, labels: labels.get(m.id) ?? {}, state: m.state, lastSeen: m.last_seen, heartbeat: null,
      }));
      await store.identity.upsertPeers(peers);
      // retention: a node unheard for a week is gone from the read model, so it cannot grow without bound
      const before = this.deps.clock.now() - FORGET_AFTER_MS;
      for (const [node, at] of this.natsAt) if (at < before) this.natsAt.delete(node);
      await this.deps.heartbeats.forget(before);
    } catch (err) {
      this.deps.log?.warn({ module: 'gossip' }, `membership not saved: ${(err as Error).message}`);
    }
  }

  private logEvent(e: GossipEvent): void {
    if (e.type === 'rejected') this.traffic.refused.set(e.code, (this.traffic.refused.get(e.code) ?? 0) + 1);
    const log = this.deps.log;
    if (!log) return;
    if (e.type === 'accepted') log.info({ module: 'gossip', ...e }, `accepted ${e.track}#${e.seq} from ${e.from}`);
    else log.warn({ module: 'gossip', ...e }, `gossip ${e.type}`);
  }
}

/** Per track, 'canary' when the newest manifest held for `node` is of the version it runs and names it a canary. */
export function canaryRoles(node: string, versions: Record<string, string | null>, held: (track: string) => ManifestPayload[]): Record<string, 'canary'> {
  const out: Record<string, 'canary'> = {};
  for (const [track, version] of Object.entries(versions)) {
    const mine = held(track).find((p) => p.targets === 'all' || p.targets.includes(node));
    if (version !== null && mine?.version === version && mine.rollout?.canaries.includes(node)) out[track] = 'canary';
  }
  return out;
}

