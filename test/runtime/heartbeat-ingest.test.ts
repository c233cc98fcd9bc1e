import t from 'tap';
import { join } from 'node:path';
import { setImmediate as tick } from 'node:timers/promises';
import { Store } from '../../src/adapters/sqlite/store.js';
import type { Heartbeat } from '../../src/gossip/types.js';
import { heartbeatFrame, HeartbeatFrames } from '../../src/node/agent/heartbeat-frame.js';
import { Ed25519MessageAuth } from '../../src/node/agent/message-auth.js';
import { HeartbeatIngest } from '../../src/runtime/heartbeat-ingest.js';
import { toHex } from '../../src/trust/bytes.js';
import { signerFromSeed, type Signer } from '../../src/trust/keyfile.js';
import { loadKeyset } from '../../src/trust/keyset.js';
import { issueCert } from '../../src/trust/node-cert.js';
import { tempDir } from '../helpers/tmp.js';

const hb = (node: string, health: Heartbeat['health'] = 'ok'): Heartbeat => ({
  node, versions: { testnet: 'v1' }, code_hash: { testnet: null }, health, error_rate: 0,
  apply_state: { testnet: { state: 'confirmed', seq: 1 } }, apply_reason: {}, labels: {},
});

/** A store in a temp dir and an ingest over it on a clock the test moves. */
function setup(t: Tap.Test, lastSeenEveryMs = 30_000) {
  const store = Store.open(join(tempDir(t), 'upshift.db'), () => 0);
  t.teardown(() => store.close());
  const clock = { ms: 1_000_000, now: () => clock.ms };
  const ingest = new HeartbeatIngest({ fleet: store.fleet, clock, lastSeenEveryMs });
  return { store, clock, ingest };
}

t.test('a changed heartbeat is stored at once; an unchanged one only refreshes last_seen every N seconds', async (t) => {
  const { store, clock, ingest } = setup(t);
  t.ok(ingest.accept(hb('a'), clock.ms, 'gossip'), 'the first heartbeat of a node is a change');
  await tick();
  await ingest.flush();
  t.equal((await store.fleet.node('a'))?.heardAt, 1_000_000, 'written without waiting for a flush');

  clock.ms += 5_000;
  t.notOk(ingest.accept(hb('a'), clock.ms, 'gossip'), 'the same content is no change');
  await ingest.flush();
  t.equal((await store.fleet.node('a'))?.heardAt, 1_000_000, 'the store keeps the older time of hearing');
  t.equal((await ingest.view().node('a'))?.heardAt, 1_005_000, 'the daemon\'s view has the newest (read-your-writes)');

  clock.ms += 25_000;
  ingest.accept(hb('a'), clock.ms, 'gossip');
  await ingest.flush();
  t.equal((await store.fleet.node('a'))?.heardAt, 1_030_000, 'last_seen written once it is N seconds old');

  clock.ms += 1_000;
  t.ok(ingest.accept(hb('a', 'failing'), clock.ms, 'gossip'), 'a new health is a change');
  await tick();
  await ingest.flush();
  const stored = await store.fleet.node('a');
  t.equal(stored?.health, 'failing', 'the change is stored at once');
  t.equal(stored?.heardAt, 1_031_000);
});

t.test('an error rate that moves is no state change: it is written with the next coarse refresh', async (t) => {
  const { store, clock, ingest } = setup(t, 10_000);
  ingest.accept({ ...hb('a'), error_rate: 0.01 }, clock.ms, 'gossip');
  await tick();
  await ingest.flush();
  clock.ms += 1_000;
  t.notOk(ingest.accept({ ...hb('a'), error_rate: 0.02 }, clock.ms, 'gossip'), 'not a change');
  await ingest.flush();
  t.equal((await store.fleet.node('a'))?.errorRate, 0.01, 'not written yet');
  t.equal((await ingest.view().node('a'))?.errorRate, 0.02, 'but the daemon answers with it');
  clock.ms += 10_000;
  ingest.accept({ ...hb('a'), error_rate: 0.03 }, clock.ms, 'gossip');
  await ingest.flush();
  const stored = await store.fleet.node('a');
  t.same([stored?.errorRate, stored?.heardAt], [0.03, clock.ms], 'written whole at the refresh');
});

t.test('many nodes: state changes go in one transaction, refreshes in one more', async (t) => {
  const { store, clock, ingest } = setup(t, 10_000);
  for (let i = 0; i < 500; i++) ingest.accept(hb(`n${i}`), clock.ms, 'gossip');
  await tick();
  await ingest.flush();
  t.equal((await store.fleet.nodes()).length, 500);
  t.equal(ingest.counts.transactions, 1, 'the 500 new nodes went in one transaction');
  clock.ms += 10_000;
  for (let i = 0; i < 500; i++) ingest.accept(hb(`n${i}`), clock.ms, 'gossip');
  await ingest.flush();
  t.equal(ingest.counts.transactions, 2, 'their refreshes in one more');
  t.equal(ingest.counts.seenWrites, 500);
  t.ok((await store.fleet.nodes()).every((n) => n.heardAt === clock.ms));
  clock.ms += 1_000;
  for (let i = 0; i < 500; i++) ingest.accept(hb(`n${i}`), clock.ms, 'nats');
  await tick();
  await ingest.flush();
  t.equal(ingest.counts.transactions, 3, 'moving to another channel is a change: written at once, in one transaction');
  t.ok((await store.fleet.nodes()).every((n) => n.channel === 'nats'));
  t.same(ingest.counts.heard, { gossip: 1000, nats: 500, local: 0 });
});

t.test('an older heartbeat arriving late on the slower channel does not replace a newer one', async (t) => {
  const { clock, ingest } = setup(t);
  ingest.accept(hb('a', 'failing'), clock.ms, 'nats');
  ingest.accept(hb('a', 'ok'), clock.ms - 1, 'gossip');
  t.equal(ingest.heard('a')?.health, 'failing');
  t.equal(ingest.heard('a')?.via, 'nats');
});

t.test('retention drops a node from memory and from the store', async (t) => {
  const { store, clock, ingest } = setup(t);
  ingest.accept(hb('old'), clock.ms, 'gossip');
  await tick();
  await ingest.flush();
  t.equal(await ingest.view().forget(clock.ms + 1), 1);
  t.same(await ingest.view().nodes(), []);
  t.equal(await store.fleet.node('old'), null);
});

// Frames on the fleet channel: the certificate and signature checks of gossip, then replay and subject.
const authority = signerFromSeed(new Uint8Array(32).fill(1));
const trust = { keys: [{ public: toHex(authority.publicKey) }] };
const keyset = loadKeyset(trust);

function authFor(id: string, signer: Signer, now: number): Ed25519MessageAuth {
  const iso = (ms: number) => new Date(ms).toISOString();
  const cert = issueCert({
    fleet: 'edge', node_id: id, public_key: toHex(signer.publicKey), labels: {}, serial: 1,
    issued_at: iso(now - 60_000), expires_at: iso(now + 3_600_000),
  }, [authority]);
  return new Ed25519MessageAuth({ signer, cert, keyset, fleet: 'edge', clock: { now: () => now } });
}

t.test('heartbeat frames: verified, subject-bound, replay-checked, each refusal by code; the good ones reach the ingest', async (t) => {
  const { clock, ingest } = setup(t);
  const now = clock.ms;
  const web1 = authFor('web-1', signerFromSeed(new Uint8Array(32).fill(2)), now);
  const web2 = authFor('web-2', signerFromSeed(new Uint8Array(32).fill(3)), now);
  const frames = new HeartbeatFrames({ auth: authFor('auth', signerFromSeed(new Uint8Array(32).fill(4)), now), clock, windowMs: 30_000, maxBytes: 64 * 1024 });
  const refused = new Map<string, number>();
  const take = (subject: string, data: Uint8Array): boolean => {
    try {
      const { heartbeat, at } = frames.check(subject, data);
      return ingest.accept(heartbeat, at, 'nats');
    } catch (err) {
      const code = (err as { code: string }).code;
      refused.set(code, (refused.get(code) ?? 0) + 1);
      throw err;
    }
  };
  const bytes = (o: unknown) => new TextEncoder().encode(JSON.stringify(o));

  t.ok(take('web-1', heartbeatFrame(web1, hb('web-1'), now)), 'a good frame is accepted');
  t.equal(ingest.heard('web-1')?.via, 'nats');
  t.throws(() => take('web-1', heartbeatFrame(web1, hb('web-1'), now)), { code: 'E_REPLAY' }, 'a frame not newer than the last');
  t.throws(() => take('web-1', heartbeatFrame(web1, hb('web-1'), now - 60_000)), { code: 'E_REPLAY' }, 'outside the window');
  t.throws(() => take('web-1', heartbeatFrame(web2, hb('web-2'), now + 1)), { code: 'E_CHANNEL_SUBJECT' }, 'another node\'s frame on this subject');
  const forged = JSON.parse(new TextDecoder().decode(heartbeatFrame(web1, hb('web-1', 'failing'), now + 2))) as { sig: string };
  forged.sig = Buffer.from(new Uint8Array(64).fill(7)).toString('base64');
  t.throws(() => take('web-1', bytes(forged)), { code: 'E_SIG_INVALID' });
  t.throws(() => take('web-1', new TextEncoder().encode('not json')), { code: 'E_MALFORMED' });
  const gossipTyped = web1.seal({ from: 'web-1', at: now + 3, nonce: 'n0nce-123', heartbeat: hb('web-1') }, 'application/vnd.upshift.gossip+json');
  t.throws(() => take('web-1', bytes(gossipTyped)), { code: 'E_SIG_INVALID' }, 'a document signed as gossip does not pass as a heartbeat frame');
  t.same(Object.fromEntries(refused), { E_REPLAY: 2, E_CHANNEL_SUBJECT: 1, E_SIG_INVALID: 2, E_MALFORMED: 1 });
  t.equal(ingest.heard('web-1')?.health, 'ok', 'nothing refused changed the node');
  t.ok(take('web-1', heartbeatFrame(web1, hb('web-1', 'failing'), now + 4)), 'a newer frame is accepted');
});
