// An insider that lies: a node with a valid certificate whose digest advertises an old,
// genuinely signed manifest under a seq far above the fleet's, so that a peer pulls it.
// What the peer must do is verify it once, refuse it (it is below what it holds), and
// neither apply nor forward it.
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { systemClock } from '../../src/adapters/clock.js';
import { createLogger } from '../../src/adapters/logger.js';
import { Store } from '../../src/adapters/sqlite/store.js';
import { validateConfig } from '../../src/core/config.js';
import { gossipRoutes } from '../../src/http/gossip-routes.js';
import { buildServer } from '../../src/http/server.js';
import { NodeAgent } from '../../src/node/agent/agent.js';
import { toHex } from '../../src/trust/bytes.js';
import { loadSigners, signerFromSeed } from '../../src/trust/keyfile.js';
import { loadKeyset } from '../../src/trust/keyset.js';
import { issueCert, verifyCert } from '../../src/trust/node-cert.js';
import { tempDir } from './tmp.js';
import { serverViews } from './server-views.js';
import { heartbeatIngest } from '../../src/runtime/heartbeat-ingest.js';

export async function startLiar(t: Tap.Test, opts: { fleet: string; trustKey: string; releaseKeyPath: string; target: string; oldEnvelope: string }): Promise<NodeAgent> {
  const dir = tempDir(t, 'upshift-liar-');
  const trust = { keys: [{ public: opts.trustKey }] };
  const config = validateConfig({ fleet: opts.fleet, state_dir: dir, node: { id: 'insider', tracks: ['testnet'] }, trust, gossip: { seeds: [opts.target] } });
  const store = Store.open(join(dir, 'upshift.db'), () => Date.now());
  const signer = signerFromSeed(new Uint8Array(randomBytes(32)));
  const now = Date.now();
  const cert = issueCert({ fleet: opts.fleet, node_id: 'insider', public_key: toHex(signer.publicKey), labels: {}, serial: 9999, issued_at: new Date(now - 1000).toISOString(), expires_at: new Date(now + 3_600_000).toISOString() }, await loadSigners([opts.releaseKeyPath]));
  let agent: NodeAgent | null = null;
  const server = buildServer({ config, store, ...serverViews(config, store), log: createLogger({ level: 'silent' }), plugins: [gossipRoutes({ receive: (w) => (agent as NodeAgent).receive(w) })] });
  await server.listen({ host: '127.0.0.1', port: 0 });
  const url = `http://127.0.0.1:${(server.server.address() as AddressInfo).port}`;
  const keyset = loadKeyset(trust);
  agent = await NodeAgent.open({ config, store, keyset, engine: null, clock: systemClock, url, heartbeats: heartbeatIngest(config, store.fleet, systemClock), identity: { nodeId: 'insider', signer, cert: verifyCert(cert, keyset, { now, fleet: opts.fleet }), envelope: cert } });
  t.teardown(async () => {
    await agent?.stop();
    await server.close();
    store.close();
  });
  if ((await agent.source.offer(opts.oldEnvelope)) !== 'accepted') throw new Error('the liar could not hold the old manifest');
  // it keeps the old manifest: it takes nothing newer from its peers (which would drop it)
  agent.source.offer = async () => 'refused';
  // the lie: the old bytes, advertised as seq 9999
  const hash = agent.source.hash(opts.oldEnvelope);
  agent.source.digest = () => ({ testnet: { seq: 9999, hash } });
  return agent;
}
