// "Signing survives failover" with `channel: nats`, on a real nats-server: a leader that takes
// over reads the newest manifest per track from the manifest stream, verified, and the seq
// guard refuses to reserve at or below it while the store lacks it (E_SEQ_REGRESSION); the
// import repairs it and the next reservation is one above. What does not verify is ignored
// and counted; with the server away, the last verified read stands.
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { systemClock } from '../../src/adapters/clock.js';
import { createLogger } from '../../src/adapters/logger.js';
import { NatsChannel } from '../../src/adapters/nats/channel.js';
import { Store } from '../../src/adapters/sqlite/store.js';
import { validateConfig } from '../../src/core/config.js';
import type { ManifestPayload } from '../../src/core/manifest.js';
import { NodeAgent } from '../../src/node/agent/agent.js';
import { heartbeatIngest } from '../../src/runtime/heartbeat-ingest.js';
import { NatsFleet } from '../../src/runtime/nats-fleet.js';
import { refuseSeqRegression } from '../../src/stages/seq-guard.js';
import { toHex } from '../../src/trust/bytes.js';
import { serializeEnvelope } from '../../src/trust/envelope.js';
import { signerFromSeed } from '../../src/trust/keyfile.js';
import { loadKeyset } from '../../src/trust/keyset.js';
import { issueCert, verifyCert } from '../../src/trust/node-cert.js';
import { signManifest } from '../../src/trust/verify-manifest.js';
import { startNats } from '../helpers/nats.js';
import { tempDir } from '../helpers/tmp.js';

const release = signerFromSeed(new Uint8Array(32).fill(3));
const stranger = signerFromSeed(new Uint8Array(32).fill(8));
const trust = { keys: [{ public: toHex(release.publicKey) }] };
const keyset = loadKeyset(trust);
const now = Date.now();
const iso = (ms: number) => new Date(ms).toISOString();
const enc = (s: string) => new TextEncoder().encode(s);
const payload = (seq: number): ManifestPayload => ({
  schema: 'upshift.manifest/v1', fleet: 'edge', track: 'testnet', seq, version: `v${seq}`,
  commit: 'a'.repeat(40), code_hash: 'b'.repeat(64), created_at: iso(now - 1000), expires_at: iso(now + 3_600_000),
  kind: 'release', targets: 'all', evidence: { run_id: `lost-${seq}`, test: null, benchmark: null, notes: [] },
});

async function until(what: string, ok: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; i < 1200; i++) {
    if (await ok()) return;
    await sleep(50);
  }
  throw new Error(`never happened: ${what}`);
}

/** A new leader's node: its own store (which lost seq 5) and its channel, not yet holding anything. */
async function leader(tt: Tap.Test, url: string) {
  const dir = tempDir(tt, 'upshift-nats-seq-');
  const config = validateConfig({ fleet: 'edge', state_dir: dir, node: { id: 'authority' }, trust, channel: { kind: 'nats', servers: [url] } });
  const store = Store.open(join(dir, 'upshift.db'), () => Date.now());
  const signer = signerFromSeed(new Uint8Array(randomBytes(32)));
  const cert = issueCert({ fleet: 'edge', node_id: 'authority', public_key: toHex(signer.publicKey), labels: {}, serial: 1,
    issued_at: iso(now - 60_000), expires_at: iso(now + 3_600_000) }, [release]);
  const identity = { nodeId: 'authority', signer, cert: verifyCert(cert, keyset, { now, fleet: 'edge' }), envelope: cert };
  const agent = await NodeAgent.open({ config, store, keyset, engine: null, clock: systemClock, seeds: [], identity,
    heartbeats: heartbeatIngest(config, store.fleet, systemClock) });
  const nats = NatsFleet.create({ config, agent, identity, keyset, clock: systemClock, log: createLogger({ level: 'silent' }) }) as NatsFleet;
  tt.teardown(async () => {
    await nats.stop();
    await agent.stop();
    store.close();
  });
  await store.createRun({ id: 'r1', track: 'testnet', version: 'v-next', ref: 'main', commit: 'c'.repeat(40), retryOf: null, createdAt: now });
  return { store, nats, agent };
}

t.test('a leader reads the newest manifest per track from the stream; the guard refuses until it is imported', async (t) => {
  const server = await startNats(t);
  const lost = new NatsChannel({ servers: [server.url], fleet: 'edge', name: 'old-leader' });
  t.teardown(() => lost.close());
  await lost.ensureStreams();
  const five = serializeEnvelope(signManifest(payload(5), [release]));
  await lost.publishManifest('testnet', 4, enc(serializeEnvelope(signManifest(payload(4), [release]))));
  await lost.publishManifest('testnet', 5, enc(five));

  const { store, nats, agent } = await leader(t, server.url);
  await until('connected', () => nats.channel.connected);
  t.equal(agent.source.payload('testnet'), null, 'its own node holds nothing: only the channel knows seq 5');
  t.equal(await nats.lastPublished('other'), null, 'a track never published: nothing');
  const view = (track: string) => nats.lastPublished(track);
  t.same(await view('testnet'), { seq: 5, envelope: five }, 'the stream\'s last message on the track\'s subject');
  const reserve = () => store.manifests.reserve({ runId: 'r1', track: 'testnet', kind: 'release', purpose: 'release',
    version: 'v-next', commit: 'c'.repeat(40), at: now, build: (seq) => enc(`{"seq":${seq}}`) });
  await t.rejects(refuseSeqRegression(store, 'testnet', view), { code: 'E_SEQ_REGRESSION', message: /seq 5 was already published/ });

  // a frame that does not verify is counted and ignored: the last verified read stands
  await lost.publishManifest('testnet', 9, enc(serializeEnvelope(signManifest(payload(9), [stranger]))));
  t.same(await view('testnet'), { seq: 5, envelope: five });
  t.same(nats.counts().refused, { E_UNKNOWN_KEY: 1 });

  // the repair: the verified envelope, imported; then the next reservation is one above it
  t.equal(await store.manifests.importSigned('testnet', 5, signManifestBytes(5), five), 'stored');
  await refuseSeqRegression(store, 'testnet', view);
  t.equal((await reserve()).seq, 6);

  // the server away: the last verified read is what guards
  await server.stop();
  await until('disconnected', () => !nats.channel.connected);
  t.same(await view('testnet'), { seq: 5, envelope: five });
});

function signManifestBytes(seq: number): Uint8Array {
  const env = JSON.parse(serializeEnvelope(signManifest(payload(seq), [release]))) as { payload: string };
  return new Uint8Array(Buffer.from(env.payload, 'base64'));
}
