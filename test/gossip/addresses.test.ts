// Which addresses a node calls: the one a peer's certificate names, else the one it
// advertises if the URL policy accepts it; members other nodes merely mention are called
// at most once and never passed on; seeds are greeted with an inert hello.
import t from 'tap';
import { PeerUrlPolicy } from '../../src/core/peer-url.js';
import { Membership } from '../../src/gossip/membership.js';
import { GossipNode } from '../../src/gossip/node.js';
import type { MessageAuth, Transport } from '../../src/gossip/ports.js';
import { seededRng } from '../../src/gossip/rng.js';
import { SIM_DEFAULTS, SimSource, simHeartbeat } from '../../scripts/sim/sim.js';
import type { Body, GossipMessage, MemberSample } from '../../src/gossip/types.js';

let counter = 0;
const nonce = () => `addr-nonce-${++counter}`;
const policy = new PeerUrlPolicy();
const url = (host: string) => `http://${host}:7400`;

/** Stand-in auth: the sender field is trusted, and `certUrls` plays the address each certificate names. */
const authWith = (certUrls: Record<string, string>): MessageAuth<GossipMessage> => ({
  sign: (m) => m,
  verify: (w) => ({ from: w.from, content: w, ...(certUrls[w.from] ? { url: certUrls[w.from] } : {}) }),
});

/** A peer that answers every request properly, as `id`. */
const answerAs = (id: string, clock: { now(): number }) => async (req: GossipMessage): Promise<GossipMessage> => {
  const body: Body = req.body.kind === 'pull' ? { kind: 'manifest', track: req.body.track, envelope: null } : { kind: 'ack', digest: {} };
  return { from: id, to: req.from, at: clock.now(), nonce: nonce(), re: req.nonce, body };
};

function nodeA(opts: { peers?: Map<string, (m: GossipMessage) => Promise<GossipMessage | null>>; certUrls?: Record<string, string>; seeds?: string[] } = {}) {
  const clock = { t: 1_700_000_000_000, now() { return this.t; } };
  const sent: Array<{ url: string; msg: GossipMessage }> = [];
  const transport: Transport<GossipMessage> = {
    checkUrl: (u) => void policy.check(u),
    send: async (to, msg) => {
      sent.push({ url: to.url, msg });
      return (await opts.peers?.get(to.url)?.(msg)) ?? null;
    },
  };
  const heartbeats: string[] = [];
  const node = new GossipNode<GossipMessage>({
    id: 'a', url: url('10.0.0.1'), gossip: SIM_DEFAULTS, clock, rng: seededRng(9), transport, auth: authWith(opts.certUrls ?? {}),
    source: new SimSource(), heartbeat: () => simHeartbeat('a'), nonce, onHeartbeat: (hb) => void heartbeats.push(hb.node),
    ...(opts.seeds ? { seeds: opts.seeds } : {}),
  });
  return { clock, node, sent, heartbeats };
}

const push = (from: string, to: string, at: number, advertised: string, members: MemberSample[] = []): GossipMessage => ({
  from, to, at, nonce: nonce(), re: null, body: { kind: 'push', url: advertised, digest: {}, heartbeat: simHeartbeat(from), members },
});

t.test('members a peer merely mentions are called at most once each, never at a refused address, and never passed on', async (t) => {
  const peers = new Map<string, (m: GossipMessage) => Promise<GossipMessage | null>>();
  const { clock, node, sent } = nodeA({ peers });
  peers.set(url('10.0.0.2'), answerAs('p2', clock));
  node.membership.heard({ id: 'p2', url: url('10.0.0.2') }, clock.now());
  const victim = 'http://10.9.9.9:80';
  const ghosts: MemberSample[] = [
    ...Array.from({ length: 20 }, (_, i) => ({ id: `ghost-${i}`, url: victim, age_ms: 0 })),
    { id: 'ghost-meta', url: 'http://169.254.169.254', age_ms: 0 },
    { id: 'ghost-file', url: 'file:///etc/passwd', age_ms: 0 },
    { id: 'ghost-creds', url: 'http://user:pw@10.9.9.8', age_ms: 0 },
  ];
  // A compromised member pushes the same lie every second for 20 s, while the node gossips.
  for (let second = 0; second < 20; second++) {
    await node.receive(push('mallory', 'a', clock.now(), url('10.0.0.66'), ghosts));
    await node.tick();
    await node.antiEntropy();
    clock.t += 1000;
  }
  const calls = (u: string) => sent.filter((s) => s.url === u).length;
  t.equal(calls(victim), 1, 'the victim address was called once, by the first ghost, which then was dropped');
  t.equal(calls('http://169.254.169.254'), 0, 'never the metadata address');
  t.notOk(sent.some((s) => !s.url.startsWith('http://10.')), 'nothing but the policy-checked addresses was called');
  t.same(node.members().map((m) => m.id).sort(), ['mallory', 'p2'], 'no ghost became a member');
  const passedOn = sent.flatMap((s) => (s.msg.body.kind === 'push' || s.msg.body.kind === 'sync' ? s.msg.body.members.map((m) => m.id) : []));
  t.notOk(passedOn.some((id) => id.startsWith('ghost')), 'no ghost was passed on in our samples');
});

t.test('a peer is called where its certificate says, not where it advertises; an advertised address is policy-checked', async (t) => {
  const { clock, node } = nodeA({ certUrls: { p2: url('10.0.0.2') } });
  await node.receive(push('p2', 'a', clock.now(), 'http://10.6.6.6:80'));
  t.same(node.members().map((m) => [m.id, m.url]), [['p2', url('10.0.0.2')]], 'the certified address wins');
  await t.rejects(node.receive(push('p3', 'a', clock.now(), 'http://169.254.169.254')), { code: 'E_PEER_URL' }, 'a certificate without an address: the advertised one must pass the policy');
  await t.rejects(node.receive(push('p4', 'a', clock.now(), 'http://u:p@10.0.0.4:7400')), { code: 'E_PEER_URL' });
  t.same(node.members().map((m) => m.id), ['p2'], 'the refused ones were not kept');
});

t.test('a certified address our policy refuses is not kept, however the peer was reached', async (t) => {
  const peers = new Map<string, (m: GossipMessage) => Promise<GossipMessage | null>>();
  const { clock, node } = nodeA({ peers, seeds: [url('10.0.0.7')], certUrls: { seed: 'http://169.254.1.1:7400' } });
  peers.set(url('10.0.0.7'), answerAs('seed', clock));
  await node.tick();
  t.same(node.members(), [], 'the seed answered, but its certified address may not be called');
});

t.test('a first contact is an inert hello; everything after it is addressed to the node that answered', async (t) => {
  const seedClock = { t: 1_700_000_000_000, now() { return this.t; } };
  const seedHeard: string[] = [];
  const seed = new GossipNode<GossipMessage>({
    id: 'seed', url: url('10.0.0.7'), gossip: SIM_DEFAULTS, clock: seedClock, rng: seededRng(2), transport: { send: async () => null },
    auth: authWith({}), source: new SimSource(), heartbeat: () => simHeartbeat('seed'), nonce, onHeartbeat: (hb) => void seedHeard.push(hb.node),
  });
  const peers = new Map([[url('10.0.0.7'), (m: GossipMessage) => seed.receive(m)]]);
  const { node, sent } = nodeA({ peers, seeds: [url('10.0.0.7')] });
  await node.tick();
  t.same(sent.map((s) => [s.msg.body.kind, s.msg.to]), [['hello', null], ['push', 'seed']], 'hello, then an addressed push');
  t.same(node.members().map((m) => m.id), ['seed'], 'the seed is known by its id from the signed answer');
  await node.report([url('10.0.0.7')]);
  t.same(sent.slice(2).map((s) => [s.msg.body.kind, s.msg.to]), [['push', 'seed']], 'known now: no second hello');

  // The hello replayed to another node gets an answer and changes nothing there.
  const other = nodeA();
  const hello = sent[0]?.msg as GossipMessage;
  const answer = await other.node.receive(hello);
  t.equal(answer.body.kind, 'ack');
  t.same(other.node.members(), [], 'no member learned');
  t.same(other.heartbeats, [], 'no heartbeat recorded');
  // The push is addressed to the seed: replayed to another node, it is refused.
  await t.rejects(other.node.receive(sent[1]?.msg as GossipMessage), { code: 'E_MALFORMED', message: /addressed to seed, not a/ });
  t.same(seedHeard, ['a', 'a'], 'the seed heard the two pushes, not the hello');
});

t.test('members that stop answering turn suspect, then dead, then are removed', async (t) => {
  const m = new Membership({ self: 'me', suspectAfter: 5000, deadAfter: 30_000, removeAfter: 600_000, rng: seededRng(1) });
  m.heard({ id: 'p1', url: url('10.0.0.2') }, 0);
  m.heard({ id: 'p2', url: url('10.0.0.3') }, 0);
  m.failed('p1', 1000);
  t.equal(m.state('p1', 30_000), 'dead');
  m.sweep(599_999);
  t.equal(m.state('p1', 599_999), 'dead', 'still there just before remove_after');
  m.sweep(600_000);
  t.equal(m.state('p1', 600_000), null, 'removed');
  t.equal(m.state('p2', 600_000), 'alive', 'a peer that never failed is kept, however quiet');
  m.learn([{ id: 'p1', url: url('10.0.0.2'), age_ms: 0 }], 600_000);
  t.same(m.view(600_000).map((v) => v.id), ['p2'], 'mentioned again by someone else: pending, not a member, until it answers');
});
