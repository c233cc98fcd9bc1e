// The daemon side of the gossip flood benchmark, in its own process so that the attack and
// the /healthz probe do not share its event loop: a real node agent behind the real fastify
// server and gossip route, configured from FLOOD_* environment variables. It reports its URL,
// its own (public) certificate and the trusted key id to the parent over IPC.
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { systemClock } from '../../src/adapters/clock.js';
import { createLogger } from '../../src/adapters/logger.js';
import { Store } from '../../src/adapters/sqlite/store.js';
import { validateConfig } from '../../src/core/config.js';
import { gossipRoutes } from '../../src/http/gossip-routes.js';
import { buildServer } from '../../src/http/server.js';
import { NodeAgent } from '../../src/node/agent/agent.js';
import { toHex } from '../../src/trust/bytes.js';
import { keyIdOf } from '../../src/trust/ed25519.js';
import { serializeEnvelope } from '../../src/trust/envelope.js';
import { signerFromSeed } from '../../src/trust/keyfile.js';
import { loadKeyset } from '../../src/trust/keyset.js';
import { issueCert, verifyCert } from '../../src/trust/node-cert.js';
import { nodeStatus } from '../../src/runtime/status.js';
import { heartbeatIngest } from '../../src/runtime/heartbeat-ingest.js';

const dir = process.env.FLOOD_DIR as string;
const authority = signerFromSeed(new Uint8Array(32).fill(1));
const trust = { keys: [{ public: toHex(authority.publicKey) }] };
const keyset = loadKeyset(trust);
const gossip = { rate_limit_per_address: Number(process.env.FLOOD_PER_ADDRESS ?? 100) };
const config = validateConfig({ fleet: 'edge', state_dir: dir, node: { id: 'target' }, trust, gossip });
const store = Store.open(join(dir, 'upshift.db'), () => Date.now());
const now = Date.now();
const cert = (id: string, seed: number) => issueCert({
  fleet: 'edge', node_id: id, public_key: toHex(signerFromSeed(new Uint8Array(32).fill(seed)).publicKey), labels: {}, serial: seed,
  issued_at: new Date(now - 60_000).toISOString(), expires_at: new Date(now + 3_600_000).toISOString(),
}, [authority]);
const own = cert('target', 2);
const agent = await NodeAgent.open({
  config, store, keyset, engine: null, clock: systemClock, url: 'http://127.0.0.1:1', heartbeats: heartbeatIngest(config, store.fleet, systemClock),
  identity: { nodeId: 'target', signer: signerFromSeed(new Uint8Array(32).fill(2)), cert: verifyCert(own, keyset, { now, fleet: 'edge' }), envelope: own },
});
const server = buildServer({
  config, store, log: createLogger({ level: 'silent' }), plugins: [gossipRoutes(agent, config.gossip)],
  status: () => nodeStatus(config, store), heldSeq: async () => null,
});
await server.listen({ host: '127.0.0.1', port: 0 });
process.send?.({
  url: `http://127.0.0.1:${(server.server.address() as AddressInfo).port}`,
  // a real member's certificate, public by nature: the copied-certificate attack replays it
  cert: serializeEnvelope(cert('member', 3)),
  keyid: keyIdOf(authority.publicKey),
});
// The daemon's own view: how late its event loop ran while the parent attacked, since the last 'reset'.
const lag = monitorEventLoopDelay({ resolution: 5 });
lag.enable();
process.on('message', (m) => {
  if (m === 'reset') return void lag.reset();
  if (m === 'lag') {
    const ms = (ns: number) => Math.round(ns / 1e5) / 10;
    process.send?.({ p50: ms(lag.percentile(50)), p99: ms(lag.percentile(99)), max: ms(lag.max) });
  }
});
process.on('disconnect', () => void server.close().then(() => store.close()).finally(() => process.exit(0)));
