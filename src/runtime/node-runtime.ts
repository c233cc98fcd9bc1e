// The node side of `upshift daemon`, on every node: identity, apply engine, gossip agent.
// A node without a valid certificate still serves HTTP, but /readyz says why it cannot
// gossip (run `upshift join`); the authority certifies itself when it has to.
import type { Config } from '../core/config.js';
import type { Clock } from '../core/ports.js';
import { codeHash } from '../adapters/code-hash-files.js';
import { createExec } from '../adapters/exec.js';
import type { Logger } from '../adapters/logger.js';
import type { StateStore } from '../core/ports.js';
import { selfUrl } from '../http/exposure.js';
import { NodeAgent } from '../node/agent/agent.js';
import { httpTransport } from '../node/agent/http-transport.js';
import { loadPeerTlsChecks } from '../node/authority-pin.js';
import { ApplyEngine } from '../node/apply/engine.js';
import { advertisedUrl, certifySelf, loadNodeIdentity, revocationCheck } from '../node/identity.js';
import { loadSigners } from '../trust/keyfile.js';
import { keysetOf } from '../trust/keyset.js';
import { failpointsFromEnv } from '../adapters/failpoints.js';
import { SlotProxy } from '../node/traffic/proxy.js';
import { resolve } from 'node:path';
import type { NatsFleet } from './nats-fleet.js';
import { heartbeatIngest, type HeartbeatIngest } from './heartbeat-ingest.js';

export interface NodeRuntime {
  agent: NodeAgent | null;
  /** The NATS fleet channel beside gossip; null with `channel: gossip` or without an agent. */
  channel: NatsFleet | null;
  /** Every heartbeat heard, latest per node in memory; null without an agent. */
  ingest: HeartbeatIngest | null;
  /** Why this node does not gossip (no certificate yet), or null. */
  problem: string | null;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export async function createNodeRuntime(config: Config, store: StateStore, log: Logger, clock: Clock): Promise<NodeRuntime> {
  const runtime = await createAgentRuntime(config, store, log, clock);
  const bg = config.app?.blue_green;
  if (!bg || !config.app) return runtime;
  // Blue-green: clients reach the app through this proxy, certified or not, before the agent starts the serving slot.
  const proxy = new SlotProxy(resolve(config.app.dir), bg.listen, log.child({ module: 'proxy' }));
  return {
    ...runtime,
    start: async () => {
      await proxy.start();
      await runtime.start();
    },
    stop: async () => {
      await runtime.stop();
      await proxy.stop();
    },
  };
}

async function createAgentRuntime(config: Config, store: StateStore, log: Logger, clock: Clock): Promise<NodeRuntime> {
  const keyset = keysetOf(config);
  let { identity, error } = await tryLoadIdentity(config, store, clock);
  // the certificate names the address peers call: the authority certifies a new one itself
  const moved = identity?.cert != null && identity.cert.url !== advertisedUrl(config);
  if ((!identity || identity.problem || moved) && config.authority) {
    // the authority signs its own certificate; every other node joins with a token
    const signers = await loadSigners(config.authority.signing_keys);
    await certifySelf(config, { store, signers, keyset, fleet: config.fleet, now: () => clock.now() });
    ({ identity, error } = await tryLoadIdentity(config, store, clock));
  }
  if (!identity || identity.problem || !identity.envelope) {
    const problem = identity?.problem ?? error ?? `no node key at ${config.node.key}`;
    log.warn({ problem }, 'this node is not certified: gossip is off until `upshift join` succeeds');
    const text = typeof problem === 'string' ? problem : `${problem.code}: ${problem.message}`;
    const hint = text.includes('upshift join') ? '' : '; run `upshift join --authority URL --token T`';
    return { agent: null, channel: null, ingest: null, problem: `not certified: ${text}${hint}`, start: async () => {}, stop: async () => {} };
  }
  const shutdown = new AbortController();
  const engine = config.app
    ? new ApplyEngine({
        node: { id: config.node.id, fleet: config.fleet, tracks: config.node.tracks }, app: config.app, stateDir: config.state_dir, store,
        tables: store.journal, keyset, exec: createExec(), clock, log: log.child({ module: 'apply' }), codeHash: (dir) => codeHash(dir),
        failpoint: failpointsFromEnv(), signal: shutdown.signal,
      })
    : null;
  // https peers: the authority checked as `join` recorded it; a refused check is said once per peer
  const refused = new Set<string>();
  const onTlsRefused = (url: string, message: string) => {
    if (refused.has(url)) return;
    refused.add(url);
    log.warn({ module: 'gossip', url, err: message }, 'peer TLS check failed; gossip to it is lost');
  };
  const transport = httpTransport({ maxBodyBytes: config.gossip.max_body_bytes, tlsChecks: loadPeerTlsChecks(config), onTlsRefused });
  const ingest = heartbeatIngest(config, store.fleet, clock, log.child({ module: 'heartbeats' }));
  const agent = await NodeAgent.open({
    config, store, identity: { nodeId: identity.nodeId, signer: identity.signer, cert: identity.cert, envelope: identity.envelope }, keyset, engine, clock, log,
    signal: shutdown.signal, url: selfUrl(config), transport, heartbeats: ingest,
  });
  // the NATS client is loaded only by a daemon configured for it
  const channel = config.channel.kind !== 'nats' ? null : (await import('./nats-fleet.js')).NatsFleet.create({
    config, agent, identity: { nodeId: identity.nodeId, signer: identity.signer, envelope: identity.envelope }, keyset, clock, log: log.child({ module: 'nats' }),
  });
  return {
    agent,
    channel,
    ingest,
    problem: null,
    start: async () => {
      channel?.start(); // first: the agent's heartbeat report goes to the channel it attaches
      await agent.start();
    },
    stop: async () => {
      shutdown.abort();
      await channel?.stop();
      await agent.stop();
    },
  };
}

/** The identity, or why it cannot be loaded (kept for /readyz). */
async function tryLoadIdentity(config: Config, store: StateStore, clock: Clock) {
  try {
    return { identity: await loadNodeIdentity(config, { now: clock.now(), revoked: await revocationCheck(store) }), error: null };
  } catch (err) {
    return { identity: null, error: (err as Error).message };
  }
}
