// The NATS fleet channel in a daemon's agent, on a real nats-server (issue 13): the authority
// takes signed heartbeat frames into the fleet read model (channel `nats`) and refuses, each
// with its own counted code, a frame on another node's subject, a bad signature, a replay, a
// non-canonical payload and an oversized frame; a node takes manifests through its verify-once
// source and refuses one that does not verify. Nothing from NATS is trusted.
import t from 'tap';
import { heartbeatIngest } from '../../src/runtime/heartbeat-ingest.js';
import { randomBytes, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { systemClock } from '../../src/adapters/clock.js';
import { createLogger } from '../../src/adapters/logger.js';
import { NatsChannel } from '../../src/adapters/nats/channel.js';
import { Store } from '../../src/adapters/sqlite/store.js';
import { validateConfig } from '../../src/core/config.js';
import { pae, type ManifestPayload } from '../../src/core/manifest.js';
import type { Heartbeat } from '../../src/gossip/types.js';
import { NodeAgent } from '../../src/node/agent/agent.js';
import { HEARTBEAT_FRAME_TYPE, heartbeatFrame } from '../../src/node/agent/heartbeat-frame.js';
import { Ed25519MessageAuth } from '../../src/node/agent/message-auth.js';
import { NatsFleet } from '../../src/runtime/nats-fleet.js';
import { toBase64, toHex } from '../../src/trust/bytes.js';
import { serializeEnvelope, type Envelope } from '../../src/trust/envelope.js';
import { signerFromSeed, type Signer } from '../../src/trust/keyfile.js';
import { loadKeyset } from '../../src/trust/keyset.js';
import { issueCert, verifyCert } from '../../src/trust/node-cert.js';
import { signRevocations } from '../../src/trust/revocation-list.js';
import { signManifest } from '../../src/trust/verify-manifest.js';
import { startNats } from '../helpers/nats.js';
import { tempDir } from '../helpers/tmp.js';

const release = signerFromSeed(new Uint8Array(32).fill(1));
const stranger = signerFromSeed(new Uint8Array(32).fill(9));
const trust = { keys: [{ public: toHex(release.publicKey) }] };
const keyset = loadKeyset(trust);
const now = Date.now();
const iso = (ms: number) => new Date(ms).toISOString();
const enc = (s: string) => new TextEncoder().encode(s);

function certFor(id: string, key: Signer, serial: number): Envelope {
  return issueCert({ fleet: 'edge', node_id: id, public_key: toHex(key.publicKey), labels: {}, serial, issued_at: iso(now - 60_000), expires_at: iso(now + 3_600_000) }, [release]);
}

interface Member { id: string; signer: Signer; cert: Envelope; store: Store; agent: NodeAgent; nats: NatsFleet }

async function member(tt: Tap.Test, id: string, url: string, role: 'authority' | 'node', maxFrameBytes = 4096): Promise<Member> {
  const dir = tempDir(tt, `upshift-nats-${id}-`);
  const config = validateConfig({
    fleet: 'edge', state_dir: dir, node: { id }, trust, gossip: { report_every: '1ms' },
    channel: { kind: 'nats', servers: [url], max_frame_bytes: maxFrameBytes },
  });
  const store = Store.open(join(dir, 'upshift.db'), () => Date.now());
  const signer = signerFromSeed(new Uint8Array(randomBytes(32)));
  const cert = certFor(id, signer, 1);
  const identity = { nodeId: id, signer, cert: verifyCert(cert, keyset, { now, fleet: 'edge' }), envelope: cert };
  const agent = await NodeAgent.open({ config, store, keyset, engine: null, clock: systemClock, seeds: [], identity, heartbeats: heartbeatIngest(config, store.fleet, systemClock) });
  const nats = NatsFleet.create({ config, agent, identity, keyset, clock: systemClock, log: createLogger({ level: 'silent' }) }) as NatsFleet;
  nats.start(role);
  tt.teardown(async () => {
    await nats.stop();
    await agent.stop();
    store.close();
  });
  return { id, signer, cert, store, agent, nats };
}

function heartbeat(node: string): Heartbeat {
  return { node, versions: {}, code_hash: {}, health: 'ok', error_rate: null, apply_state: {}, labels: {} };
}

async function until(what: string, ok: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; i < 1200; i++) {
    if (await ok()) return;
    await sleep(50);
  }
  throw new Error(`never happened: ${what}`);
}

t.test('the authority takes signed heartbeat frames and refuses bad ones, each counted by its code', async (t) => {
  const server = await startNats(t);
  // the streams made for frames up to 64 KiB first, so an oversized frame is stored and reaches the authority's check
  const wide = new NatsChannel({ servers: [server.url], fleet: 'edge', name: 'wide' });
  t.teardown(() => wide.close());
  await wide.ensureStreams();
  await until('connected', () => wide.connected);
  const authority = await member(t, 'authority', server.url, 'authority');
  const web1 = signerFromSeed(new Uint8Array(randomBytes(32)));
  const auth1 = new Ed25519MessageAuth({ signer: web1, cert: certFor('web-1', web1, 1), keyset, fleet: 'edge', clock: systemClock });
  const publish = async (subjectNode: string, data: Uint8Array) => t.ok(await wide.publishHeartbeat(subjectNode, data), `stored on ${subjectNode}'s subject`);

  const good = heartbeatFrame(auth1, heartbeat('web-1'), Date.now());
  await publish('web-1', good);
  await until('web-1 heard', () => (authority.nats.counts().received.heartbeat ?? 0) >= 1);
  await authority.agent.tick(); // the round writes what was heard
  const row = await authority.store.fleet.node('web-1');
  t.equal(row?.channel, 'nats', 'recorded as heard on NATS');

  await publish('web-2', heartbeatFrame(auth1, heartbeat('web-1'), Date.now())); // web-1's frame on web-2's subject
  const forged = JSON.parse(new TextDecoder().decode(heartbeatFrame(auth1, heartbeat('web-1'), Date.now()))) as { payload: string; sig: string; cert: string };
  await publish('web-1', enc(JSON.stringify({ ...forged, payload: forged.payload.replace('"ok"', '"failing"') })));
  await publish('web-1', good); // the same frame again
  const loose = JSON.stringify({ from: 'web-1', at: Date.now(), nonce: randomUUID(), heartbeat: heartbeat('web-1') }, null, 1);
  const sig = web1.sign(pae(HEARTBEAT_FRAME_TYPE, enc(loose)));
  await publish('web-1', enc(JSON.stringify({ payload: loose, sig: toBase64(sig), cert: forged.cert })));
  await publish('web-3', new Uint8Array(8192).fill(32)); // over the authority's 4 KiB
  const expected = { E_CHANNEL_SUBJECT: 1, E_SIG_INVALID: 1, E_REPLAY: 1, E_NOT_CANONICAL: 1, E_FRAME_TOO_LARGE: 1 };
  await until('five refusals', () => Object.values(authority.nats.counts().refused).reduce((a, b) => a + b, 0) >= 5);
  t.same(authority.nats.counts().refused, expected, 'each refused with its own code, and counted');

  // the fleet went on: a newer frame from web-1 is still taken
  await publish('web-1', heartbeatFrame(auth1, { ...heartbeat('web-1'), health: 'failing' }, Date.now()));
  await until('the newer frame', () => (authority.nats.counts().received.heartbeat ?? 0) >= 2);
  await authority.agent.tick();
  t.equal((await authority.store.fleet.node('web-1'))?.health, 'failing');
  t.equal(await authority.store.fleet.node('web-2'), null, 'nothing recorded for the subject that was forged');
});

t.test('a node takes manifests from NATS through its verify-once source; one that does not verify is refused', async (t) => {
  const server = await startNats(t);
  const publisher = new NatsChannel({ servers: [server.url], fleet: 'edge', name: 'publisher' });
  t.teardown(() => publisher.close());
  await publisher.ensureStreams();
  const node = await member(t, 'web-1', server.url, 'node');
  const payload: ManifestPayload = {
    schema: 'upshift.manifest/v1', fleet: 'edge', track: 'testnet', seq: 1, version: 'v1.0.0',
    commit: 'a'.repeat(40), code_hash: 'b'.repeat(64), created_at: iso(now - 1000), expires_at: iso(now + 3_600_000),
    kind: 'release', targets: 'all', evidence: { run_id: 'run-1', test: null, benchmark: null, notes: [] },
  };
  await publisher.publishManifest('testnet', 7, enc(serializeEnvelope(signManifest({ ...payload, seq: 7 }, [stranger]))));
  // one at a time: a follower that starts late reads only the newest per track
  await until('the rogue one refused', () => Object.keys(node.nats.counts().refused).length > 0);
  // a trusted key's signature over other bytes: seq 9's signature on seq 8's payload
  const eight = JSON.parse(serializeEnvelope(signManifest({ ...payload, seq: 8 }, [release]))) as { signatures: unknown[] };
  const nine = JSON.parse(serializeEnvelope(signManifest({ ...payload, seq: 9 }, [release]))) as { signatures: unknown[] };
  await publisher.publishManifest('testnet', 8, enc(JSON.stringify({ ...eight, signatures: nine.signatures })));
  await until('both refused', () => Object.values(node.nats.counts().refused).reduce((a, b) => a + b, 0) >= 2);
  t.same(node.nats.counts().refused, { E_UNKNOWN_KEY: 1, E_SIG_INVALID: 1 }, 'an untrusted key, a signature that does not verify');
  t.equal(node.agent.source.payload('testnet'), null, 'nothing held');
  await publisher.publishManifest('testnet', 1, enc(serializeEnvelope(signManifest(payload, [release]))));
  await until('the release held', () => node.agent.source.payload('testnet')?.seq === 1);
  t.same(node.nats.counts().received, { manifest: 1 });
});

t.test('the authority publishes what its source holds; a node reports on NATS and not by gossip while NATS acks', async (t) => {
  const server = await startNats(t);
  const authority = await member(t, 'authority', server.url, 'authority');
  const node = await member(t, 'web-1', server.url, 'node');
  const payload: ManifestPayload = {
    schema: 'upshift.manifest/v1', fleet: 'edge', track: 'testnet', seq: 3, version: 'v1.0.3',
    commit: 'a'.repeat(40), code_hash: 'b'.repeat(64), created_at: iso(now - 1000), expires_at: iso(now + 3_600_000),
    kind: 'release', targets: 'all', evidence: { run_id: 'run-3', test: null, benchmark: null, notes: [] },
  };
  t.equal(await authority.agent.source.accept(serializeEnvelope(signManifest(payload, [release]))), 'accepted');
  await until('the node holds #3', () => node.agent.source.payload('testnet')?.seq === 3);
  t.ok(authority.nats.counts().published >= 1);
  // the revocation list on its own subject, into the node's revocations
  const list = signRevocations({ fleet: 'edge', seq: 1, issued_at: iso(Date.now()), revoked: [{ node_id: 'web-9', serial: 1, reason: 'lost', revoked_at: iso(Date.now()) }] }, [release]);
  t.equal(await authority.agent.source.accept(list), 'accepted');
  await until('the node holds the revocation', () => node.agent.revocations.revoked('web-9', 1));
  t.equal(node.nats.counts().received.revocations, 1);
  await node.agent.start();
  await until('the node reported on NATS', () => node.nats.counts().heartbeats.nats > 0);
  await until('the authority heard it', async () => (await authority.agent.tick(), (await authority.store.fleet.node('web-1'))?.channel === 'nats'));
  t.equal(node.nats.counts().heartbeats.gossip, 0, 'no gossip report while NATS acknowledges');
});

t.test('a server that comes back empty gets the streams and the held manifests again', async (t) => {
  const first = await startNats(t);
  const port = Number(new URL(first.url).port);
  const authority = await member(t, 'authority', first.url, 'authority');
  const payload: ManifestPayload = {
    schema: 'upshift.manifest/v1', fleet: 'edge', track: 'testnet', seq: 4, version: 'v1.0.4',
    commit: 'a'.repeat(40), code_hash: 'b'.repeat(64), created_at: iso(now - 1000), expires_at: iso(now + 3_600_000),
    kind: 'release', targets: 'all', evidence: { run_id: 'run-4', test: null, benchmark: null, notes: [] },
  };
  await authority.agent.source.accept(serializeEnvelope(signManifest(payload, [release])));
  await until('published once', () => authority.nats.counts().published >= 1);
  await first.stop();
  await until('the authority saw it go', () => !authority.nats.counts().connected);
  const second = await startNats(t, port); // the same address, fresh storage: nothing in it
  const reader = new NatsChannel({ servers: [second.url], fleet: 'edge', name: 'reader' });
  t.teardown(() => reader.close());
  const seen: string[] = [];
  reader.follow('manifest', { frame: (f) => void seen.push(`${f.key} ${new TextDecoder().decode(f.data).length > 0}`) });
  await until('the manifest is in the new server', () => seen.length > 0);
  t.same(seen, ['testnet true']);
  t.ok(authority.nats.counts().published >= 2, 'published again after the outage');
});
