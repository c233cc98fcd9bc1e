import t from 'tap';
import { GossipNode } from '../../src/gossip/node.js';
import type { PeerAddress, Transport } from '../../src/gossip/ports.js';
import { seededRng } from '../../src/gossip/rng.js';
import { SIM_DEFAULTS, SimSource, fnv1a, simAuth, simEnvelope, simHeartbeat } from '../../scripts/sim/sim.js';
import type { Body, Digest, GossipMessage } from '../../src/gossip/types.js';

const clock = { t: 1_700_000_000_000, now() { return this.t; } };
let counter = 0;
const nonce = () => `test-nonce-${++counter}`;
const settle = async () => { for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r)); };
const digestOf = (seq: number, valid = true): Digest => ({ testnet: { seq, hash: fnv1a(simEnvelope(seq, valid)) } });

/** A peer that answers pulls with `envelope`, counting them; `hold` keeps answers back until released. */
function scriptedPeer(id: string, envelope: string | null) {
  const peer = { id, served: 0, hold: null as Promise<void> | null };
  const answer = async (req: GossipMessage): Promise<GossipMessage | null> => {
    if (peer.hold) await peer.hold;
    const body: Body = req.body.kind === 'pull' ? { kind: 'manifest', track: req.body.track, envelope } : { kind: 'ack', digest: {} };
    if (req.body.kind === 'pull' && envelope) peer.served++;
    return { from: id, to: req.from, at: clock.now(), nonce: nonce(), re: req.nonce, body };
  };
  return { peer, answer };
}

/** Node "a" under test; requests it sends go to the scripted peers by URL. */
function nodeUnderTest(peers: Map<string, (m: GossipMessage) => Promise<GossipMessage | null>>, source = new SimSource()) {
  const sent: Array<{ to: PeerAddress; msg: GossipMessage }> = [];
  const transport: Transport<GossipMessage> = {
    send: async (to, msg) => {
      sent.push({ to, msg });
      return (await peers.get(to.url)?.(msg)) ?? null;
    },
  };
  const node = new GossipNode<GossipMessage>({
    id: 'a', url: 'sim://a', gossip: SIM_DEFAULTS, clock, rng: seededRng(7), transport, auth: simAuth, source, heartbeat: () => simHeartbeat('a'), nonce,
  });
  return { node, source, sent };
}

const push = (from: string, digest: Digest, extra: Partial<GossipMessage> = {}): GossipMessage => ({
  from, to: 'a', at: clock.now(), nonce: nonce(), re: null,
  body: { kind: 'push', url: `sim://${from}`, digest, heartbeat: simHeartbeat(from), members: [] },
  ...extra,
});

t.test('a manifest advertised by 50 peers at once is pulled from one of them and verified once', async (t) => {
  const peers = new Map<string, (m: GossipMessage) => Promise<GossipMessage | null>>();
  const scripted = Array.from({ length: 50 }, (_, i) => scriptedPeer(`p${i}`, simEnvelope(1)));
  let release!: () => void;
  const hold = new Promise<void>((r) => (release = r));
  for (const s of scripted) {
    s.peer.hold = hold;
    peers.set(`sim://${s.peer.id}`, s.answer);
  }
  const { node, source, sent } = nodeUnderTest(peers);
  // All 50 advertisements arrive while the first pull is still in flight.
  for (const s of scripted) await node.receive(push(s.peer.id, digestOf(1)));
  release();
  await settle();
  // And 50 more after it was accepted.
  for (const s of scripted) await node.receive(push(s.peer.id, digestOf(1)));
  await settle();
  t.equal(source.offers, 1, 'one verification');
  t.equal(sent.filter((s) => s.msg.body.kind === 'pull').length, 1, 'one pull');
  t.equal(scripted.reduce((a, s) => a + s.peer.served, 0), 1, 'one manifest transfer');
  t.equal(sent.find((s) => s.msg.body.kind === 'pull')?.to.url, 'sim://p0', 'pulled from the first advertiser');
  t.same(source.digest(), digestOf(1));
  t.ok(sent.some((s) => s.msg.body.kind === 'push' && s.msg.body.digest.testnet?.seq === 1), 'advertised at once after accepting');
});

t.test('a pull that gets no answer is retried with another advertiser of the same hash', async (t) => {
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  const good = scriptedPeer('good', simEnvelope(1));
  const peers = new Map<string, (m: GossipMessage) => Promise<GossipMessage | null>>([
    ['sim://silent', async () => { await held; return null; }],
    ['sim://good', good.answer],
  ]);
  const { node, source, sent } = nodeUnderTest(peers);
  await node.receive(push('silent', digestOf(1)));
  await node.receive(push('good', digestOf(1)));
  release();
  await settle();
  t.same(sent.filter((s) => s.msg.body.kind === 'pull').map((s) => s.to.url), ['sim://silent', 'sim://good']);
  t.equal(source.offers, 1);
  t.same(source.digest(), digestOf(1));
});

t.test('a refused manifest is not re-advertised and never verified again', async (t) => {
  const bad = simEnvelope(2, false);
  const peers = new Map<string, (m: GossipMessage) => Promise<GossipMessage | null>>();
  for (const id of ['p1', 'p2', 'p3']) peers.set(`sim://${id}`, scriptedPeer(id, bad).answer);
  const source = new SimSource();
  await source.offer(simEnvelope(1));
  const { node, sent } = nodeUnderTest(peers, source);
  node.membership.heard({ id: 'p1', url: 'sim://p1' }, clock.now());
  const badDigest = digestOf(2, false);
  await node.receive(push('p1', badDigest));
  await settle();
  await node.receive(push('p2', badDigest));
  await node.receive(push('p3', badDigest));
  await settle();
  t.equal(source.offers, 2, 'the publish plus one refused offer');
  t.same(source.digest(), digestOf(1), 'digest unchanged');
  t.equal(node.stats.refused, 1);
  t.equal(sent.filter((s) => s.msg.body.kind === 'pull').length, 1);
  sent.length = 0;
  await node.tick();
  const pushes = sent.filter((s) => s.msg.body.kind === 'push');
  t.ok(pushes.length > 0);
  for (const p of pushes) t.same(p.msg.body.kind === 'push' && p.msg.body.digest, digestOf(1), 'the node advertises only what it accepted');
});

t.test('bytes that do not match the advertised hash are not verified', async (t) => {
  const peers = new Map([['sim://liar', scriptedPeer('liar', simEnvelope(3)).answer]]);
  const { node, source } = nodeUnderTest(peers);
  await node.receive(push('liar', digestOf(2)));
  await settle();
  t.equal(source.offers, 0);
  t.equal(node.stats.pullFailures, 1);
});

t.test('an advertised seq lower than or equal to ours is ignored', async (t) => {
  const source = new SimSource();
  await source.offer(simEnvelope(5));
  const peers = new Map([['sim://p1', scriptedPeer('p1', simEnvelope(4)).answer]]);
  const { node, sent } = nodeUnderTest(peers, source);
  await node.receive(push('p1', digestOf(4)));
  await node.receive(push('p1', { testnet: { seq: 5, hash: 'another-hash' } }));
  await settle();
  t.equal(sent.filter((s) => s.msg.body.kind === 'pull').length, 0, 'nothing pulled');
  t.equal(source.offers, 1, 'nothing verified beyond our own');
});

t.test('a push is answered with our digest, so a sender that is behind learns it', async (t) => {
  const source = new SimSource();
  await source.offer(simEnvelope(3));
  const { node } = nodeUnderTest(new Map(), source);
  const request = push('p1', {});
  const answer = await node.receive(request);
  t.same(answer.body, { kind: 'ack', digest: digestOf(3) });
  t.equal(answer.re, request.nonce, 'bound to the request');
  t.equal(answer.to, 'p1');
});

t.test('pulls are served with the envelope we hold and counted as transfers', async (t) => {
  const source = new SimSource();
  await source.offer(simEnvelope(1));
  const { node } = nodeUnderTest(new Map(), source);
  const answer = await node.receive({ from: 'p1', to: 'a', at: clock.now(), nonce: nonce(), re: null, body: { kind: 'pull', track: 'testnet', hash: digestOf(1).testnet!.hash } });
  t.same(answer.body, { kind: 'manifest', track: 'testnet', envelope: simEnvelope(1) });
  t.equal(node.stats.manifestsServed, 1);
});

/** A store that holds several manifests per track (as the daemon's does) and says which it wants. */
function heldSource(held: string[] = []) {
  const envelopes = new Map(held.map((e) => [fnv1a(e), e]));
  const source = {
    digest: (): Digest => {
      const [newest, ...others] = [...envelopes.entries()].sort((x, y) => Number(y[1].split(' ')[2]) - Number(x[1].split(' ')[2]));
      if (!newest) return {};
      const entry = (h: [string, string]) => ({ seq: Number(h[1].split(' ')[2]), hash: h[0] });
      return { testnet: { ...entry(newest), ...(others.length ? { also: others.map(entry) } : {}) } };
    },
    get: (_track: string, hash?: string) => (hash ? envelopes.get(hash) : undefined) ?? null,
    hash: fnv1a,
    wants: (_track: string, _seq: number, hash: string) => !envelopes.has(hash),
    offer: async (e: string) => (envelopes.has(fnv1a(e)) ? 'same' as const : (envelopes.set(fnv1a(e), e), 'accepted' as const)),
  };
  return source;
}

t.test('every manifest a digest entry advertises beside the newest is pulled, by its hash', async (t) => {
  const [rollback, release] = [simEnvelope(7), simEnvelope(4)];
  const byHash = new Map([rollback, release].map((e) => [fnv1a(e), e]));
  const peers = new Map<string, (m: GossipMessage) => Promise<GossipMessage | null>>([['sim://p', async (req) => ({
    from: 'p', to: req.from, at: clock.now(), nonce: nonce(), re: req.nonce,
    body: req.body.kind === 'pull' ? { kind: 'manifest', track: req.body.track, envelope: byHash.get(req.body.hash) ?? null } : { kind: 'ack', digest: {} },
  })]]);
  const { node, source, sent } = nodeUnderTest(peers, heldSource() as unknown as SimSource);
  await node.receive(push('p', { testnet: { seq: 7, hash: fnv1a(rollback), also: [{ seq: 4, hash: fnv1a(release) }] } }));
  await settle();
  const pulls = sent.filter((s) => s.msg.body.kind === 'pull').map((s) => (s.msg.body as { hash: string }).hash);
  t.same(pulls.sort(), [fnv1a(rollback), fnv1a(release)].sort(), 'both pulled from the advertiser');
  t.same(source.digest().testnet?.also?.map((e) => e.seq), [4], 'and both held');
});

t.test('a pull names the hash it wants, and is served that manifest, not the newest', async (t) => {
  const [rollback, release] = [simEnvelope(7), simEnvelope(4)];
  const { node } = nodeUnderTest(new Map(), heldSource([rollback, release]) as unknown as SimSource);
  const reply = await node.receive({ from: 'p', to: 'a', at: clock.now(), nonce: nonce(), re: null, body: { kind: 'pull', track: 'testnet', hash: fnv1a(release) } });
  t.match(reply.body, { kind: 'manifest', envelope: release });
});
