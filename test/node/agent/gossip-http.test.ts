import t from 'tap';
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { systemClock } from '../../../src/adapters/clock.js';
import { createLogger } from '../../../src/adapters/logger.js';
import { Store } from '../../../src/adapters/sqlite/store.js';
import { validateConfig } from '../../../src/core/config.js';
import type { ManifestPayload } from '../../../src/core/manifest.js';
import type { SignedMessage } from '../../../src/gossip/ports.js';
import type { GossipMessage } from '../../../src/gossip/types.js';
import { buildServer } from '../../../src/http/server.js';
import { gossipRoutes } from '../../../src/http/gossip-routes.js';
import { FORGET_AFTER_MS, NodeAgent } from '../../../src/node/agent/agent.js';
import { Ed25519MessageAuth } from '../../../src/node/agent/message-auth.js';
import { toHex } from '../../../src/trust/bytes.js';
import { serializeEnvelope, type Envelope } from '../../../src/trust/envelope.js';
import { signerFromSeed, type Signer } from '../../../src/trust/keyfile.js';
import { loadKeyset } from '../../../src/trust/keyset.js';
import { issueCert, verifyCert } from '../../../src/trust/node-cert.js';
import { signRevocations } from '../../../src/trust/revocation-list.js';
import { signFleetSettings } from '../../../src/trust/fleet-settings.js';
import { signManifest } from '../../../src/trust/verify-manifest.js';
import { tempDir } from '../../helpers/tmp.js';
import { serverViews } from '../../helpers/server-views.js';
import { poll } from '../../helpers/timeouts.js';
import { heartbeatIngest } from '../../../src/runtime/heartbeat-ingest.js';

// Three node agents in this process, each with its own state dir, store, node key and
// certificate, and a real fastify server on a loopback port carrying /v1/gossip.
// Set up before the first t.test: an await between tests lets tap end the file early.
const authority = signerFromSeed(new Uint8Array(32).fill(1));
const stranger = signerFromSeed(new Uint8Array(32).fill(9));
const trust = { keys: [{ public: toHex(authority.publicKey) }] };
const keyset = loadKeyset(trust);
const now = Date.now();
const iso = (ms: number) => new Date(ms).toISOString();
const MAX_BODY = 64 * 1024;

function certFor(id: string, key: Signer, serial: number, signers: Signer[] = [authority], url?: string): Envelope {
  return issueCert({ fleet: 'edge', node_id: id, public_key: toHex(key.publicKey), labels: { region: `r-${id}` }, ...(url ? { url } : {}), serial, issued_at: iso(now - 60_000), expires_at: iso(now + 3_600_000) }, signers);
}

interface Peer {
  id: string;
  url: string;
  signer: Signer;
  cert: Envelope;
  store: Store;
  agent: NodeAgent;
  /** Stop the agent and start a new one over the same store, as a daemon restart does. */
  restart(): Promise<NodeAgent>;
}

async function startPeer(id: string, serial: number, seeds: string[], opts: { certifyUrl?: boolean } = {}): Promise<Peer> {
  const dir = tempDir(t, `upshift-agent-${id}-`);
  // every peer here calls from 127.0.0.1: the per-address limit is tested in test/http/gossip-limits.test.ts
  // report_every 1ms: every heartbeat heard is written, not only changed ones (heartbeat-writes.ts)
  const gossip = { max_body_bytes: MAX_BODY, rate_limit_per_address: 10_000, report_every: '1ms' };
  const config = validateConfig({ fleet: 'edge', state_dir: dir, node: { id, labels: { region: 'here' } }, trust, gossip });
  const store = Store.open(join(dir, 'upshift.db'), () => Date.now());
  const signer = signerFromSeed(new Uint8Array(randomBytes(32)));
  let agent: NodeAgent | null = null;
  const server: FastifyInstance = buildServer({
    config, store, ...serverViews(config, store), log: createLogger({ level: 'silent' }),
    plugins: [gossipRoutes({ receive: (w) => (agent as NodeAgent).receive(w) }, config.gossip)],
  });
  await server.listen({ host: '127.0.0.1', port: 0 });
  const url = `http://127.0.0.1:${(server.server.address() as AddressInfo).port}`;
  t.teardown(async () => {
    await agent?.stop();
    await server.close();
    store.close();
  });
  const cert = certFor(id, signer, serial, [authority], opts.certifyUrl ? url : undefined);
  const start = async () => await NodeAgent.open({
    config, store, keyset, engine: null, clock: systemClock, url, seeds, heartbeats: heartbeatIngest(config, store.fleet, systemClock),
    identity: { nodeId: id, signer, cert: verifyCert(cert, keyset, { now, fleet: 'edge' }), envelope: cert },
  });
  agent = await start();
  const restart = async () => {
    await agent?.stop();
    return (agent = await start());
  };
  return { id, url, signer, cert, store, agent, restart };
}

/** A plain HTTP server on loopback that counts the requests it gets (a host gossip must not be turned against). */
async function victim(): Promise<{ url: string; hits: () => number }> {
  let hits = 0;
  const server = createServer((req, res) => {
    hits++;
    req.resume();
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, hits: () => hits };
}

const a = await startPeer('node-a', 1, []);
const b = await startPeer('node-b', 2, [a.url]);
const c = await startPeer('node-c', 3, [a.url]);
const all = [a, b, c];
const d = await startPeer('node-d', 4, []);
const e = await startPeer('node-e', 5, [], { certifyUrl: true });
const target = await victim();
const redirector = createServer((req, res) => {
  req.resume();
  res.writeHead(307, { location: `${target.url}/v1/gossip` }).end();
});
await new Promise<void>((r) => redirector.listen(0, '127.0.0.1', r));
t.teardown(() => new Promise<void>((r) => redirector.close(() => r())));
const redirectorUrl = `http://127.0.0.1:${(redirector.address() as AddressInfo).port}`;

const manifest: ManifestPayload = {
  schema: 'upshift.manifest/v1', fleet: 'edge', track: 'testnet', seq: 1, version: 'v1.0.0',
  commit: 'a'.repeat(40), code_hash: 'b'.repeat(64), created_at: iso(now - 1000), expires_at: iso(now + 3_600_000),
  kind: 'release', targets: 'all', evidence: { run_id: 'run-1', test: null, benchmark: null, notes: [] },
};
const envelope = serializeEnvelope(signManifest(manifest, [authority]));

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function push(from: string, to: string, url: string): GossipMessage {
  return {
    from, to, at: Date.now(), nonce: randomUUID(), re: null,
    body: { kind: 'push', url, digest: {}, members: [], heartbeat: { node: from, versions: {}, code_hash: {}, health: 'unknown', error_rate: null, apply_state: 'idle', labels: {} } },
  };
}

async function post(url: string, body: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(`${url}/v1/gossip`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  return { status: res.status, json: await res.json() };
}

t.test('a manifest seeded on one node reaches the other two over real HTTP gossip', async (t) => {
  t.equal(await a.agent.source.offer(envelope), 'accepted');
  const want = a.agent.source.digest().testnet;
  t.ok(want, 'node-a advertises testnet#1');
  let rounds = 0;
  const converged = () => Boolean(b.agent.source.digest().testnet && c.agent.source.digest().testnet);
  while (rounds < 10 && !converged()) {
    rounds++;
    await Promise.all(all.map((p) => p.agent.tick()));
    await Promise.all(all.map((p) => p.agent.antiEntropy()));
    // pulls run after the message that triggered them was answered: they get a moment (a
    // long one on a loaded machine) to land before the next round counts
    await poll(converged, (ok) => ok, 1000, 10);
  }
  t.ok(rounds <= 5, `converged in ${rounds} round(s)`);
  for (const p of [b, c]) {
    t.same(p.agent.source.digest().testnet, want, `${p.id} holds the same testnet#1`);
    t.equal(p.agent.source.get('testnet'), envelope, `${p.id} stored the exact bytes`);
    t.equal(await p.store.kv.get('gossip.manifest.testnet'), envelope, `${p.id} persisted it`);
  }
  const served = all.reduce((n, p) => n + p.agent.node.stats.manifestsServed, 0);
  t.ok(served >= 2 && served <= 4, `manifest transfers: ${served}`);
  await a.agent.tick(); // heartbeats heard are written once per round
  const heard = (await a.store.fleet.nodes()).map((r) => r.node).sort();
  t.same(heard, ['node-a', 'node-b', 'node-c'], 'node-a keeps heartbeats of itself and both peers');
  const b2 = await a.store.fleet.node('node-b');
  t.match(b2, { health: 'unknown', labels: { region: 'r-node-b' } });
  t.same(b2?.tracks, {}, 'a node without an app runs no track');
  t.equal(await b.agent.source.offer(envelope), 'same', 'the same manifest offered again is a no-op');
});

t.test('signed fleet settings travel by gossip and set every node\'s report interval', async (t) => {
  const settings = (seq: number, pinned: string[]) => signFleetSettings({
    fleet: 'edge', seq, issued_at: iso(now), heartbeat: { base_ms: 5000, interval_ms: 40_000, pinned },
  }, [authority]);
  t.equal(b.agent.reportEvery(), 1, 'before any: gossip.report_every');
  t.equal(await a.agent.source.offer(settings(now, [])), 'accepted');
  const converged = () => b.agent.source.settings()?.seq === now && c.agent.source.settings()?.seq === now;
  for (let round = 0; round < 10 && !converged(); round++) {
    await Promise.all(all.map((p) => p.agent.tick()));
    await poll(converged, (ok) => ok, 1000, 10);
  }
  t.ok(converged(), 'both peers hold the settings node-a gossiped');
  t.equal(b.agent.reportEvery(), 40_000, 'a node that is not watched reports at the signed interval');
  t.equal(await a.agent.source.offer(settings(now + 1, ['node-b'])), 'accepted');
  t.equal(await b.agent.source.offer(a.agent.source.get('~settings') as string), 'accepted');
  t.equal(b.agent.reportEvery(), 5000, 'a pinned node (a control sample) stays at the base');
  t.equal(c.agent.reportEvery(), 40_000);
  const forged = signFleetSettings({ fleet: 'edge', seq: now + 2, issued_at: iso(now), heartbeat: { base_ms: 100, interval_ms: 3_600_000, pinned: [] } }, [stranger]);
  t.equal(await c.agent.source.offer(forged), 'refused', 'settings the keyset did not sign are never applied');
  t.equal(c.agent.reportEvery(), 40_000);
});

t.test('report() pushes this node\'s heartbeat to the given address, whatever the fanout picks', async (t) => {
  await a.agent.tick();
  const before = (await a.store.fleet.node('node-c'))?.heardAt ?? 0;
  await sleep(5);
  await c.agent.node.report([a.url, c.url]);
  await a.agent.tick(); // heartbeats heard are written once per round
  const after = (await a.store.fleet.node('node-c'))?.heardAt ?? 0;
  t.ok(after > before, 'node-a heard node-c again');
});

t.test('a manifest that does not verify, or is lower than the one held, is refused', async (t) => {
  const rogue = serializeEnvelope(signManifest({ ...manifest, seq: 5 }, [stranger]));
  t.equal(await a.agent.source.offer(rogue), 'refused', 'signed by an unknown key');
  const otherFleet = serializeEnvelope(signManifest({ ...manifest, seq: 6, fleet: 'core' }, [authority]));
  t.equal(await a.agent.source.offer(otherFleet), 'refused', 'another fleet');
  const second = serializeEnvelope(signManifest({ ...manifest, seq: 2, version: 'v1.0.1' }, [authority]));
  t.equal(await a.agent.source.offer(second), 'accepted');
  t.equal(await a.agent.source.offer(envelope), 'refused', 'seq 1 after seq 2');
  t.equal(a.agent.source.digest().testnet?.seq, 2);
});

t.test('gossip from a node whose certificate the fleet authority did not sign is refused with 403', async (t) => {
  const mallory = signerFromSeed(new Uint8Array(32).fill(7));
  const auth = new Ed25519MessageAuth({ signer: mallory, cert: certFor('mallory', mallory, 99, [stranger]), keyset, fleet: 'edge', clock: systemClock });
  const res = await post(a.url, auth.sign(push('mallory', a.id, 'http://127.0.0.1:1')));
  t.equal(res.status, 403);
  t.match(res.json, { ok: false, error: { code: 'E_NOT_CERTIFIED' } });
});

t.test('a certified node cannot speak for another node', async (t) => {
  const auth = new Ed25519MessageAuth({ signer: b.signer, cert: b.cert, keyset, fleet: 'edge', clock: systemClock });
  const res = await post(a.url, auth.sign(push(c.id, a.id, c.url)));
  t.equal(res.status, 403);
  t.match(res.json, { ok: false, error: { code: 'E_NOT_CERTIFIED' } });
});

t.test('a tampered message is refused with E_SIG_INVALID and 403, like every other authentication failure', async (t) => {
  const auth = new Ed25519MessageAuth({ signer: b.signer, cert: b.cert, keyset, fleet: 'edge', clock: systemClock });
  const wire = auth.sign(push(b.id, a.id, b.url));
  const res = await post(a.url, { ...wire, payload: wire.payload.replace('"apply_state":"idle"', '"apply_state":"ohno"') });
  t.equal(res.status, 403);
  t.match(res.json, { ok: false, error: { code: 'E_SIG_INVALID' } });
  const forged = await post(a.url, { ...wire, sig: Buffer.alloc(64, 7).toString('base64') });
  t.equal(forged.status, 403, 'a signature made by no key at all');
  t.match(forged.json, { ok: false, error: { code: 'E_SIG_INVALID' } });
  const garbled = await post(a.url, { ...wire, sig: '!!not base64!!' });
  t.equal(garbled.status, 403, 'a signature that is not even base64');
});

t.test('the agent counts the gossip it receives, sends and refuses, for /metrics', async (t) => {
  const before = a.agent.gossipCounts();
  const auth = new Ed25519MessageAuth({ signer: b.signer, cert: b.cert, keyset, fleet: 'edge', clock: systemClock });
  const wire = auth.sign(push(b.id, a.id, b.url));
  const res = await post(a.url, { ...wire, payload: wire.payload.replace('"apply_state":"idle"', '"apply_state":"ohno"') });
  t.equal(res.status, 403);
  await a.agent.tick();
  const after = a.agent.gossipCounts();
  // peers gossip on their own timers meanwhile: at least this one was received
  t.ok(after.received >= before.received + 1, `requests received: ${before.received} → ${after.received}`);
  t.equal(after.refused.E_SIG_INVALID, (before.refused.E_SIG_INVALID ?? 0) + 1, 'refused, by its code');
  t.ok(after.sent.push > before.sent.push, `pushes sent: ${before.sent.push} → ${after.sent.push}`);
});

t.test('a node not heard for a week is dropped from the read model at the next anti-entropy round', async (t) => {
  const old = { node: 'long-gone', heardAt: Date.now() - FORGET_AFTER_MS - 60_000, labels: {}, health: 'ok' as const, errorRate: 0, smoke: null, tracks: {} };
  await a.store.fleet.record([old, { ...old, node: 'recent', heardAt: Date.now() - FORGET_AFTER_MS + 3_600_000 }]);
  await a.agent.antiEntropy();
  t.equal(await a.store.fleet.node('long-gone'), null, 'forgotten');
  t.ok(await a.store.fleet.node('recent'), 'six days and some is still kept');
});

t.test('a heartbeat of 1,000 labels from a certified node is refused with 413 E_HEARTBEAT_TOO_LARGE and never stored', async (t) => {
  const auth = new Ed25519MessageAuth({ signer: b.signer, cert: b.cert, keyset, fleet: 'edge', clock: systemClock });
  const msg = push(b.id, a.id, b.url);
  const labels = Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`l${i}`, 'x']));
  const heartbeat = { node: b.id, versions: {}, code_hash: {}, health: 'unknown', error_rate: null, apply_state: 'idle', labels };
  const body = { ...msg.body, heartbeat } as GossipMessage['body'];
  const res = await post(a.url, auth.sign({ ...msg, body }));
  t.equal(res.status, 413);
  t.match(res.json, { ok: false, error: { code: 'E_HEARTBEAT_TOO_LARGE', message: /labels: at most 32 labels/ } });
  await a.agent.tick();
  const stored = await a.store.fleet.node('node-b');
  t.notOk(stored && 'l999' in stored.labels, 'the oversized heartbeat was not kept');
});

t.test('a replayed gossip message is refused with E_REPLAY', async (t) => {
  const auth = new Ed25519MessageAuth({ signer: b.signer, cert: b.cert, keyset, fleet: 'edge', clock: systemClock });
  const wire: SignedMessage = auth.sign(push(b.id, a.id, b.url));
  const first = await post(a.url, wire);
  t.equal(first.status, 200, 'the first delivery is answered');
  t.type(first.json.payload, 'string');
  const again = await post(a.url, wire);
  t.equal(again.status, 409);
  t.match(again.json, { ok: false, error: { code: 'E_REPLAY' } });
});

t.test('gossip from a node whose certificate was revoked is refused, even with the certificate already verified once', async (t) => {
  const auth = new Ed25519MessageAuth({ signer: c.signer, cert: c.cert, keyset, fleet: 'edge', clock: systemClock });
  t.equal((await post(a.url, auth.sign(push(c.id, a.id, c.url)))).status, 200, 'heard before the revocation');
  await a.store.identity.revoke(c.id, 3, 'decommissioned', Date.now());
  const res = await post(a.url, auth.sign(push(c.id, a.id, c.url)));
  t.equal(res.status, 403);
  t.match(res.json, { ok: false, error: { code: 'E_REVOKED' } });
});

t.test('the signed revocation list of the authority travels by gossip, and then every node refuses the revoked node', async (t) => {
  const list = (seq: number, signers = [authority]) =>
    signRevocations({ fleet: 'edge', seq, issued_at: iso(Date.now()), revoked: [{ node_id: c.id, serial: 3, reason: 'decommissioned', revoked_at: iso(Date.now()) }] }, signers);
  const auth = new Ed25519MessageAuth({ signer: c.signer, cert: c.cert, keyset, fleet: 'edge', clock: systemClock });
  t.equal((await post(b.url, auth.sign(push(c.id, b.id, c.url)))).status, 200, 'node-b still hears node-c');
  t.equal(await b.agent.source.offer(list(1, [stranger])), 'refused', 'a list signed by an unknown key');
  t.equal(await a.agent.source.offer(list(2)), 'accepted', 'the authority side holds list #2');
  for (let round = 0; round < 10 && !await b.store.identity.isRevoked(c.id, 3); round++) {
    await Promise.all([a.agent.tick(), b.agent.tick()]);
    await poll(() => b.store.identity.isRevoked(c.id, 3), (ok) => ok, 1000, 10);
  }
  t.ok(await b.store.identity.isRevoked(c.id, 3), 'node-b learned the revocation by gossip');
  t.equal(await b.store.kv.get('gossip.revocations'), a.agent.source.get('~revocations'), 'and keeps the exact list');
  const res = await post(b.url, auth.sign(push(c.id, b.id, c.url)));
  t.equal(res.status, 403);
  t.match(res.json, { ok: false, error: { code: 'E_REVOKED' } });
  t.equal(await b.agent.source.offer(list(1)), 'refused', 'an older list is refused');
  t.equal(b.agent.source.digest()['~revocations']?.seq, 2);
});

t.test('an oversized body is refused with 413 before it is parsed', async (t) => {
  const res = await post(a.url, { payload: 'x'.repeat(MAX_BODY + 1), sig: '', cert: '' });
  t.equal(res.status, 413);
  t.match(res.json, { ok: false, error: { code: 'E_BODY_TOO_LARGE' } });
});

t.test('a malformed body is refused with 400', async (t) => {
  const res = await post(a.url, '{"payload":');
  t.equal(res.status, 400);
  const shape = await post(a.url, { hello: 'world' });
  t.equal(shape.status, 400);
  t.match(shape.json, { ok: false, error: { code: 'E_MALFORMED' } });
});

const authOf = (p: Peer) => new Ed25519MessageAuth({ signer: p.signer, cert: p.cert, keyset, fleet: 'edge', clock: systemClock });

t.test('a certified member that names made-up members cannot turn the fleet against a host', async (t) => {
  const ghosts = [
    ...Array.from({ length: 10 }, (_, i) => ({ id: `ghost-${i}`, url: target.url, age_ms: 0 })),
    { id: 'ghost-meta', url: 'http://169.254.169.254', age_ms: 0 },
  ];
  const before = target.hits();
  for (let round = 0; round < 5; round++) {
    const msg = push(b.id, a.id, b.url);
    if (msg.body.kind === 'push') msg.body.members = ghosts;
    t.equal((await post(a.url, authOf(b).sign(msg))).status, 200, `the lie is delivered (round ${round})`);
    await a.agent.tick();
    await a.agent.antiEntropy();
  }
  t.ok(target.hits() - before <= 1, `the named host was called ${target.hits() - before} time(s), at most once`);
  t.notOk(a.agent.node.members().some((m) => m.id.startsWith('ghost')), 'no ghost became a member');
  t.notOk((await a.store.identity.peers()).some((p) => p.nodeId.startsWith('ghost')), 'nor was one saved for the next start');
});

t.test('a peer that answers with a redirect cannot send the request elsewhere', async (t) => {
  const before = target.hits();
  await a.agent.node.report([redirectorUrl]);
  t.equal(target.hits(), before, 'the redirect was not followed');
});

t.test('a node is called at the address its certificate names, whatever it advertises', async (t) => {
  const res = await post(a.url, authOf(e).sign(push(e.id, a.id, target.url)));
  t.equal(res.status, 200);
  t.equal(a.agent.node.members().find((m) => m.id === e.id)?.url, e.url, 'the certified address, not the advertised one');
  const before = target.hits();
  for (let round = 0; round < 3; round++) await a.agent.tick();
  t.equal(target.hits(), before, 'the advertised address is never called');
});

t.test('an unaddressed push is refused: only a hello may leave `to` open', async (t) => {
  const res = await post(a.url, authOf(b).sign({ ...push(b.id, a.id, b.url), to: null }));
  t.equal(res.status, 400);
  t.match(res.json, { ok: false, error: { code: 'E_MALFORMED', message: /addressed to nobody/ } });
  const hello = await post(a.url, authOf(b).sign({ from: b.id, to: null, at: Date.now(), nonce: randomUUID(), re: null, body: { kind: 'hello' } }));
  t.equal(hello.status, 200, 'a hello is answered');
});

t.test('a message captured before a restart is refused after it, even one stamped ahead by a fast clock', async (t) => {
  const captured = authOf(b).sign(push(b.id, d.id, b.url));
  const ahead = authOf(b).sign({ ...push(b.id, d.id, b.url), at: Date.now() + 10_000 }); // b's clock runs 10 s fast
  t.equal((await post(d.url, captured)).status, 200);
  t.equal((await post(d.url, ahead)).status, 200);
  await sleep(5);
  await d.restart();
  const again = await post(d.url, captured);
  t.equal(again.status, 409);
  t.match(again.json, { ok: false, error: { code: 'E_REPLAY', message: /before this node started/ } });
  const againAhead = await post(d.url, ahead);
  t.equal(againAhead.status, 409);
  t.match(againAhead.json, { ok: false, error: { code: 'E_REPLAY', message: /previous run accepted/ } });
  const fresh = await post(d.url, authOf(b).sign({ ...push(b.id, d.id, b.url), at: Date.now() + 10_001 }));
  t.equal(fresh.status, 200, 'newer messages from the same fast clock are heard');
});
