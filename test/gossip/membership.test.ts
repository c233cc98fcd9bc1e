import t from 'tap';
import { Membership } from '../../src/gossip/membership.js';
import { GossipNode } from '../../src/gossip/node.js';
import { seededRng } from '../../src/gossip/rng.js';
import { SIM_DEFAULTS, SimSource, simAuth, simHeartbeat, simEnvelope } from '../../scripts/sim/sim.js';
import type { GossipMessage } from '../../src/gossip/types.js';

const SUSPECT = 5000;
const DEAD = 30_000;
const table = (max = 1024, seeds: string[] = []) => new Membership({ self: 'me', suspectAfter: SUSPECT, deadAfter: DEAD, rng: seededRng(3), maxMembers: max, seeds });
const peer = (i: number) => ({ id: `p${i}`, url: `sim://p${i}` });

t.test('a peer that stops answering turns suspect, then dead, and one message from it revives it', async (t) => {
  const m = table();
  m.heard(peer(1), 0);
  m.failed('p1');
  t.equal(m.state('p1', SUSPECT - 1), 'alive', 'not yet suspect');
  t.equal(m.state('p1', SUSPECT), 'suspect');
  t.equal(m.state('p1', DEAD - 1), 'suspect');
  t.equal(m.state('p1', DEAD), 'dead');
  m.heard(peer(1), DEAD + 10);
  t.equal(m.state('p1', DEAD + 10), 'alive');
});

t.test('a peer we simply have not talked to is not suspected: only failed requests count', async (t) => {
  const m = table();
  m.heard(peer(1), 0);
  t.equal(m.state('p1', 10 * DEAD), 'alive');
});

t.test('dead peers are left out of fanout; suspect ones still get gossip', async (t) => {
  const m = table();
  for (let i = 0; i < 10; i++) m.heard(peer(i), 0);
  for (let i = 0; i < 5; i++) m.failed(`p${i}`);
  m.failed('p5');
  const now = DEAD;
  m.heard(peer(5), now - SUSPECT); // p5: heard again later, then failed: suspect at `now`
  m.failed('p5');
  t.equal(m.state('p5', now), 'suspect');
  for (let round = 0; round < 50; round++) {
    for (const p of m.pickFanout(3, now)) t.notOk(['p0', 'p1', 'p2', 'p3', 'p4'].includes(p.id as string), `never a dead one (${p.id})`);
  }
  const picked = new Set<string>();
  for (let round = 0; round < 50; round++) for (const p of m.pickFanout(3, now)) picked.add(p.id as string);
  t.ok(picked.has('p5'), 'a suspect peer is still gossiped to');
});

t.test('in a small fleet every peer gets its turn in the fanout, not only the first ones', async (t) => {
  const m = table();
  for (let i = 0; i < 4; i++) m.heard(peer(i), 0);
  const picked = new Set<string>();
  for (let round = 0; round < 20; round++) {
    const ids = m.pickFanout(3, 0, 'p0').map((p) => p.id as string);
    t.equal(new Set(ids).size, ids.length, 'no peer twice in one round');
    t.notOk(ids.includes('p0'), 'the excluded peer is skipped');
    ids.forEach((id) => picked.add(id));
  }
  t.same([...picked].sort(), ['p1', 'p2', 'p3']);
  for (let round = 0; round < 20; round++) m.pickFanout(2, 0).forEach((p) => picked.add(p.id as string));
  t.ok(picked.has('p0'));
});

t.test('anti-entropy probes dead peers now and then, so a healed peer is found again', async (t) => {
  const m = table();
  for (let i = 0; i < 10; i++) m.heard(peer(i), 0);
  for (let i = 0; i < 5; i++) m.failed(`p${i}`);
  const probed = new Set<string>();
  for (let i = 0; i < 200; i++) probed.add(m.pickProbe(DEAD)?.id ?? 'none');
  t.ok(['p0', 'p1', 'p2', 'p3', 'p4'].some((id) => probed.has(id)), 'some dead peer was probed');
});

t.test('samples from other nodes add unknown peers only into free room and never change known ones', async (t) => {
  const m = table(3);
  m.heard(peer(1), 1000);
  m.learn([{ id: 'p1', url: 'sim://evil', age_ms: 0 }, { id: 'p2', url: 'sim://p2', age_ms: 100 }, { id: 'p3', url: 'sim://p3', age_ms: SUSPECT }], 1000);
  t.same(m.view(1000).map((v) => [v.id, v.url]), [['p1', 'sim://p1']], 'p1 kept its URL; p2 is pending, not a member yet');
  t.equal(m.size, 2, 'a stale p3 was not added');
  t.same(m.pickFanout(3, 1000).map((p) => p.id).sort(), ['p1', 'p2'], 'a pending peer is called, so it can answer');
  m.heard(peer(2), 1000);
  t.equal(m.view(1000)[1]?.last_seen, 1000, 'heard directly: now a member');
  m.learn([{ id: 'p4', url: 'sim://p4', age_ms: 0 }, { id: 'p5', url: 'sim://p5', age_ms: 0 }], 1000);
  t.equal(m.size, 3, 'bounded');
  m.heard(peer(6), 1000);
  t.equal(m.size, 3, 'direct contact makes room by evicting');
  t.equal(m.state('p6', 1000), 'alive');
});

t.test('a node with no members gossips to its seeds, and learns their ids from the answers', async (t) => {
  const m = table(16, ['http://seed:7400']);
  t.same(m.pickFanout(3, 0), [{ id: null, url: 'http://seed:7400' }]);
  t.same(m.pickProbe(0), { id: null, url: 'http://seed:7400' });
  m.heard({ id: 'seed-node', url: 'http://seed:7400' }, 1);
  t.same(m.pickFanout(3, 1), [{ id: 'seed-node', url: 'http://seed:7400' }]);
});

t.test('through the node: unanswered pushes make a peer suspect then dead, and its next message revives it', async (t) => {
  const clock = { t: 0, now() { return this.t; } };
  const node = new GossipNode<GossipMessage>({
    id: 'a', url: 'sim://a', gossip: SIM_DEFAULTS, clock, rng: seededRng(5), transport: { send: async () => null }, auth: simAuth,
    source: new SimSource(), heartbeat: () => simHeartbeat('a'), peers: [peer(1)],
  });
  await node.tick();
  clock.t = SUSPECT;
  t.equal(node.membership.state('p1', clock.t), 'suspect');
  await node.tick();
  clock.t = DEAD;
  t.equal(node.membership.state('p1', clock.t), 'dead');
  t.same(node.membership.pickFanout(3, clock.t), [], 'not gossiped to while dead');
  await node.receive({ from: 'p1', to: 'a', at: clock.t, nonce: 'revive-0001', re: null, body: { kind: 'push', url: 'sim://p1', digest: {}, heartbeat: simHeartbeat('p1'), members: [] } });
  t.equal(node.membership.state('p1', clock.t), 'alive');
});

t.test('anti-entropy with a dead peer that came back lets both sides learn what they lack', async (t) => {
  const clock = { t: 0, now() { return this.t; } };
  const sources = { a: new SimSource(), b: new SimSource() };
  await sources.b.offer(simEnvelope(4));
  const nodes: Record<string, GossipNode<GossipMessage>> = {};
  let up = false;
  for (const id of ['a', 'b'] as const) {
    nodes[id] = new GossipNode<GossipMessage>({
      id, url: `sim://${id}`, gossip: SIM_DEFAULTS, clock, rng: seededRng(id === 'a' ? 1 : 2), auth: simAuth, source: sources[id], heartbeat: () => simHeartbeat(id),
      peers: [{ id: id === 'a' ? 'b' : 'a', url: `sim://${id === 'a' ? 'b' : 'a'}` }],
      transport: { send: async (to, w) => (up ? nodes[to.url.slice(6)]!.receive(w) : null) },
    });
  }
  await nodes.a!.tick();
  clock.t = DEAD;
  t.equal(nodes.a!.membership.state('b', clock.t), 'dead');
  up = true;
  for (let i = 0; i < 20 && sources.a.digest().testnet === undefined; i++) {
    await nodes.a!.antiEntropy();
    for (let j = 0; j < 10; j++) await new Promise((r) => setImmediate(r));
  }
  t.same(sources.a.digest(), sources.b.digest(), 'a pulled what b had');
  t.equal(nodes.a!.membership.state('b', clock.t), 'alive');
});
