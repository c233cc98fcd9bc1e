// The processes of the heartbeat_ingest benchmark, one role each (HB_ROLE), so the authority's
// CPU is its own: `authority` follows the heartbeat stream on a real nats-server into the
// real ingest over a real SQLite store; `http` is a real node agent behind the real fastify
// gossip route; `senders` simulates nodes HB_FROM..HB_TO, each sending a freshly signed
// heartbeat every HB_EVERY_MS over HB_CONNS NATS connections (nodes multiplexed over them),
// or as gossip pushes over HTTP when HB_HTTP is set. Parent talks over IPC.
import { createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import * as ed from '@noble/ed25519';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { systemClock } from '../../src/adapters/clock.js';
import { createLogger } from '../../src/adapters/logger.js';
import { NatsChannel } from '../../src/adapters/nats/channel.js';
import { Store } from '../../src/adapters/sqlite/store.js';
import { validateConfig } from '../../src/core/config.js';
import { pae } from '../../src/core/manifest.js';
import type { Heartbeat } from '../../src/gossip/types.js';
import { gossipRoutes } from '../../src/http/gossip-routes.js';
import { buildServer } from '../../src/http/server.js';
import { NodeAgent } from '../../src/node/agent/agent.js';
import { HEARTBEAT_FRAME_TYPE, heartbeatFrame, HeartbeatFrames } from '../../src/node/agent/heartbeat-frame.js';
import { Ed25519MessageAuth } from '../../src/node/agent/message-auth.js';
import { HeartbeatIngest, heartbeatIngest } from '../../src/runtime/heartbeat-ingest.js';
import { nodeStatus } from '../../src/runtime/status.js';
import { toHex } from '../../src/trust/bytes.js';
import { trustCheckedKey, verifySignature } from '../../src/trust/ed25519.js';
import { signerFromSeed, type Signer } from '../../src/trust/keyfile.js';
import { loadKeyset } from '../../src/trust/keyset.js';
import { issueCert, verifyCert } from '../../src/trust/node-cert.js';

const env = process.env;
const FLEET = 'bench';
const release = signerFromSeed(new Uint8Array(32).fill(1));
const trust = { keys: [{ public: toHex(release.publicKey) }] };
const keyset = loadKeyset(trust);
const now0 = Date.now();
const iso = (ms: number) => new Date(ms).toISOString();

function identity(id: string): { signer: Signer; cert: ReturnType<typeof issueCert> } {
  const signer = signerFromSeed(new Uint8Array(createHash('sha256').update(id).digest()));
  const cert = issueCert({
    fleet: FLEET, node_id: id, public_key: toHex(signer.publicKey), labels: {}, serial: 1,
    issued_at: iso(now0 - 60_000), expires_at: iso(now0 + 6 * 3_600_000),
  }, [release]);
  return { signer, cert };
}

function heartbeat(node: string, n: number): Heartbeat {
  return {
    node, versions: { production: 'v1.4.2' }, code_hash: { production: 'a'.repeat(64) }, health: 'ok',
    error_rate: (n % 7) / 1000, apply_state: { production: { state: 'confirmed', seq: 12 } }, apply_reason: {},
    labels: { region: `r${node.length % 3}` },
  };
}

/** CPU µs of this process since the last mark, and what was ingested meanwhile. */
function cpuMarker(count: () => number) {
  let cpu = process.cpuUsage();
  let n = count();
  let t = performance.now();
  return () => {
    const d = process.cpuUsage(cpu);
    const out = { cpu_us: d.user + d.system, count: count() - n, wall_ms: performance.now() - t };
    cpu = process.cpuUsage();
    n = count();
    t = performance.now();
    return out;
  };
}

/** µs per call over `runs` calls of a cached node:crypto verify and of a strict noble verify of a frame-sized message. */
function verifyCosts(runs: number): { fast_verify_us: number; noble_verify_us: number } {
  const { signer } = identity('probe');
  const key = trustCheckedKey(Uint8Array.from(signer.publicKey));
  const msg = pae(HEARTBEAT_FRAME_TYPE, new TextEncoder().encode(JSON.stringify({ from: 'probe', at: now0, heartbeat: heartbeat('probe', 1) })));
  const sig = signer.sign(msg);
  const time = (fn: () => boolean, n: number) => {
    for (let i = 0; i < 50; i++) fn();
    const start = process.cpuUsage();
    for (let i = 0; i < n; i++) if (!fn()) throw new Error('verify failed');
    const d = process.cpuUsage(start);
    return (d.user + d.system) / n;
  };
  return {
    fast_verify_us: time(() => verifySignature(sig, msg, key), runs),
    noble_verify_us: time(() => ed.verify(sig, msg, signer.publicKey, { zip215: false }), Math.max(50, runs >> 4)),
  };
}

async function authority(): Promise<void> {
  const store = Store.open(join(env.HB_DIR as string, 'nats.db'), () => Date.now());
  const self = identity('authority');
  const auth = new Ed25519MessageAuth({ signer: self.signer, cert: self.cert, keyset, fleet: FLEET, clock: systemClock });
  const ingest = new HeartbeatIngest({ fleet: store.fleet, clock: systemClock, lastSeenEveryMs: 30_000 });
  // what the daemon's NATS path does (runtime/nats-fleet.ts): check the frame, hand it to the ingest
  const frames = new HeartbeatFrames({ auth, clock: systemClock, windowMs: 30_000, maxBytes: 64 * 1024 });
  const refused = new Map<string, number>();
  const receive = (subject: string, data: Uint8Array): void => {
    try {
      const { heartbeat, at } = frames.check(subject, data);
      ingest.accept(heartbeat, at, 'nats');
    } catch (err) {
      const code = (err as { code?: string }).code ?? 'E_INTERNAL';
      refused.set(code, (refused.get(code) ?? 0) + 1);
    }
  };
  const flush = setInterval(() => void ingest.flush(), 1000);
  const channel = new NatsChannel({ servers: [env.HB_NATS as string], fleet: FLEET, name: 'authority', heartbeatMaxAgeMs: 600_000 });
  await channel.ensureStreams();
  let core: NatsConnection | null = null;
  if (env.HB_CORE) {
    // live frames on a plain subscription (no JetStream consumer): what the stream adds is measured apart
    core = await connect({ servers: [env.HB_NATS as string], name: 'upshift:authority-core' });
    const prefix = `upshift.${FLEET}.hb.`;
    core.subscribe(`${prefix}*`, {
      callback: (err, m) => {
        if (err) return;
        receive(m.subject.slice(prefix.length), m.data);
      },
    });
  } else {
    channel.follow('heartbeat', { frame: (f) => receive(f.key, f.data) });
  }
  serve(() => ingest.counts.heard.nats, ingest, () => Object.fromEntries(refused), async () => {
    clearInterval(flush);
    await core?.close();
    await channel.close();
    store.close();
  });
}

async function httpAuthority(): Promise<void> {
  const dir = env.HB_DIR as string;
  const gossip = { rate_limit_per_address: 1_000_000, rate_limit_per_sec: 1000, replay_window: '60s', report_every: '30s' };
  const config = validateConfig({ fleet: FLEET, state_dir: dir, node: { id: 'authority' }, trust, gossip });
  const store = Store.open(join(dir, 'http.db'), () => Date.now());
  const self = identity('authority');
  const ingest = heartbeatIngest(config, store.fleet, systemClock);
  const agent = await NodeAgent.open({
    config, store, keyset, engine: null, clock: systemClock, url: 'http://127.0.0.1:1', heartbeats: ingest,
    identity: { nodeId: 'authority', signer: self.signer, cert: verifyCert(self.cert, keyset, { now: now0, fleet: FLEET }), envelope: self.cert },
  });
  const flush = setInterval(() => void ingest.flush(), 1000);
  const server = buildServer({
    config, store, log: createLogger({ level: 'silent' }), plugins: [gossipRoutes(agent, config.gossip)],
    status: () => nodeStatus(config, store), heldSeq: async () => null,
  });
  await server.listen({ host: '127.0.0.1', port: 0 });
  const url = `http://127.0.0.1:${(server.server.address() as AddressInfo).port}`;
  serve(() => ingest.counts.heard.gossip, ingest, () => agent.gossipCounts().refused, async () => {
    clearInterval(flush);
    await server.close();
    store.close();
  }, { url });
}

function serve(count: () => number, ingest: HeartbeatIngest, refused: () => Record<string, number>, close: () => Promise<void>, extra: object = {}): void {
  const mark = cpuMarker(count);
  process.on('message', (m: { op: string; runs?: number }) => {
    if (m.op === 'count') process.send?.({ count: count(), refused: refused() });
    if (m.op === 'mark') process.send?.({ ...mark(), transactions: ingest.counts.transactions, nodes: ingest.size });
    if (m.op === 'verify') process.send?.(verifyCosts(m.runs ?? 20_000));
  });
  process.on('disconnect', () => void close().finally(() => process.exit(0)));
  process.send?.({ ready: true, ...extra });
}

async function senders(): Promise<void> {
  const from = Number(env.HB_FROM);
  const to = Number(env.HB_TO);
  const every = Number(env.HB_EVERY_MS);
  const nodes: Array<{ id: string; auth: Ed25519MessageAuth; n: number }> = [];
  for (let i = from; i < to; i++) {
    const id = `sim-${i}`;
    const { signer, cert } = identity(id);
    nodes.push({ id, auth: new Ed25519MessageAuth({ signer, cert, keyset, fleet: FLEET, clock: systemClock }), n: 0 });
  }
  const http = env.HB_HTTP;
  const conns = http ? [] : Array.from({ length: Number(env.HB_CONNS) }, (_, k) =>
    new NatsChannel({ servers: [env.HB_NATS as string], fleet: FLEET, name: `sim-conn-${from}-${k}` }));
  const slots = 50; // each node sends in one of 50 slots of every interval: the load is spread
  let slot = 0;
  let sent = 0;
  let failed = 0;
  const send = (node: (typeof nodes)[number], k: number) => {
    node.n++;
    const hb = heartbeat(node.id, node.n);
    if (!http) {
      const data = heartbeatFrame(node.auth, hb, Date.now());
      void (conns[k % conns.length] as NatsChannel).publishHeartbeat(node.id, data).then((ok) => (ok ? sent++ : failed++), () => failed++);
      return;
    }
    const body = { kind: 'push' as const, url: `http://127.0.0.1:1/${node.id}`, digest: {}, heartbeat: hb, members: [] };
    const wire = node.auth.sign({ from: node.id, to: 'authority', at: Date.now(), nonce: `n${node.n}x${node.id}`, re: null, body });
    fetch(`${http}/v1/gossip`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(wire) })
      .then(async (res) => {
        await res.arrayBuffer();
        if (res.ok) sent++;
        else failed++;
      }, () => failed++);
  };
  const timer = setInterval(() => {
    for (let k = slot; k < nodes.length; k += slots) send(nodes[k] as (typeof nodes)[number], k);
    slot = (slot + 1) % slots;
  }, every / slots);
  process.on('message', (m: { op: string }) => {
    if (m.op === 'count') process.send?.({ sent, failed });
  });
  process.on('disconnect', () => {
    clearInterval(timer);
    void Promise.allSettled(conns.map((c) => c.close())).finally(() => process.exit(0));
  });
  process.send?.({ ready: true });
}

const role = env.HB_ROLE;
if (role === 'authority') await authority();
else if (role === 'http') await httpAuthority();
else await senders();
