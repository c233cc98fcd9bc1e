// The agent's one intake of heartbeats (gossip and the NATS channel): newest wins across both,
// a node is `nats` while its frames arrive and `gossip` once they stop, and the channel is
// kept with the node in the fleet read model (SQLite migration 12).
import t from 'tap';
import { heartbeatIngest } from '../../../src/runtime/heartbeat-ingest.js';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Store } from '../../../src/adapters/sqlite/store.js';
import { validateConfig } from '../../../src/core/config.js';
import type { Heartbeat } from '../../../src/gossip/types.js';
import { FORGET_AFTER_MS, NodeAgent } from '../../../src/node/agent/agent.js';
import { toHex } from '../../../src/trust/bytes.js';
import { signerFromSeed } from '../../../src/trust/keyfile.js';
import { loadKeyset } from '../../../src/trust/keyset.js';
import { issueCert, verifyCert } from '../../../src/trust/node-cert.js';
import { tempDir } from '../../helpers/tmp.js';

const release = signerFromSeed(new Uint8Array(32).fill(1));
const trust = { keys: [{ public: toHex(release.publicKey) }] };
const keyset = loadKeyset(trust);

/** The authority's agent on a real store in a temp dir, its clock moved by the test through `clock.now`. */
async function authorityAgent(t: Tap.Test, gossip: Record<string, unknown> = {}) {
  const dir = tempDir(t, 'upshift-hear-');
  const clock = { now: () => 1_000_000 };
  const config = validateConfig({ fleet: 'edge', state_dir: dir, node: { id: 'authority' }, trust, gossip });
  const store = Store.open(join(dir, 'upshift.db'), () => clock.now());
  t.teardown(() => store.close());
  const signer = signerFromSeed(new Uint8Array(randomBytes(32)));
  const iso = (ms: number) => new Date(ms).toISOString();
  const cert = issueCert({ fleet: 'edge', node_id: 'authority', public_key: toHex(signer.publicKey), labels: {}, serial: 1, issued_at: iso(Date.now() - 60_000), expires_at: iso(Date.now() + 3_600_000) }, [release]);
  const identity = { nodeId: 'authority', signer, cert: verifyCert(cert, keyset, { now: Date.now(), fleet: 'edge' }), envelope: cert };
  const now = () => clock.now();
  const agent = await NodeAgent.open({ config, store, keyset, engine: null, clock: { now }, seeds: [], identity, heartbeats: heartbeatIngest(config, store.fleet, { now }) });
  t.teardown(() => agent.stop());
  return { agent, store, clock };
}

t.test('newest wins across gossip and NATS; the channel is sticky to NATS for two report intervals', async (t) => {
  let now = 1_000_000;
  const { agent, store, clock } = await authorityAgent(t, { report_every: '5s' });
  clock.now = () => now;
  const hb = (health: Heartbeat['health']): Heartbeat => ({ node: 'web-1', versions: {}, code_hash: {}, health, error_rate: null, apply_state: {}, labels: {} });
  const row = async () => {
    await agent.tick();
    const r = await store.fleet.node('web-1');
    return [r?.health, r?.channel, r?.heardAt];
  };

  agent.hear(hb('ok'), now - 100, 'nats');
  t.same(await row(), ['ok', 'nats', now - 100]);
  now += 1000;
  agent.hear(hb('failing'), now, 'gossip'); // a gossip push between frames: newer, still counted on NATS
  t.same(await row(), ['failing', 'nats', now]);
  agent.hear(hb('unknown'), now - 500, 'nats'); // a frame said before the gossip one: older, not taken
  t.same(await row(), ['failing', 'nats', now]);
  now += 11_000; // no frame for more than two report intervals
  agent.hear(hb('ok'), now, 'gossip');
  t.same(await row(), ['ok', 'gossip', now], 'NATS gone quiet: heard on gossip');
  now += 1000;
  agent.hear(hb('ok'), now, 'nats');
  t.same(await row(), ['ok', 'nats', now], 'back on NATS');
  const self = await store.fleet.node('authority');
  t.equal(self?.channel, 'local', 'the receiver itself');
});

t.test('a node forgotten by retention leaves the agent\'s NATS times too, not only the read model', async (t) => {
  let now = 1_000_000;
  const { agent, store, clock } = await authorityAgent(t);
  clock.now = () => now;
  const hb = (node: string): Heartbeat => ({ node, versions: {}, code_hash: {}, health: 'ok', error_rate: null, apply_state: {}, labels: {} });
  // private: nothing outside the agent reads these times, and a leak shows nowhere else
  const natsAt = () => [...(agent as unknown as { natsAt: Map<string, number> }).natsAt.keys()].sort();

  agent.hear(hb('gone-1'), now, 'nats');
  agent.hear(hb('gone-2'), now, 'nats');
  await agent.tick();
  now += FORGET_AFTER_MS;
  agent.hear(hb('web-1'), now, 'nats'); // heard within the week: kept
  await agent.tick();
  t.same(natsAt(), ['gone-1', 'gone-2', 'web-1']);
  now += 1;
  await agent.antiEntropy(); // where retention runs
  t.equal(await store.fleet.node('gone-1'), null, 'gone from the read model');
  t.ok(await store.fleet.node('web-1'), 'the recent one stays in the read model');
  t.same(natsAt(), ['web-1'], 'and from the NATS times; the recent one stays');
});
