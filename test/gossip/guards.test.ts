import t from 'tap';
import { GossipNode } from '../../src/gossip/node.js';
import type { MessageAuth } from '../../src/gossip/ports.js';
import { RateLimiter } from '../../src/gossip/rate-limit.js';
import { ReplayGuard } from '../../src/gossip/replay.js';
import { seededRng } from '../../src/gossip/rng.js';
import { SIM_DEFAULTS, SimSource, simAuth, simHeartbeat } from '../../scripts/sim/sim.js';
import type { GossipMessage } from '../../src/gossip/types.js';

const WINDOW = SIM_DEFAULTS.replay_window;
let counter = 0;
const nonce = () => `guard-nonce-${++counter}`;

function setup(auth: MessageAuth<GossipMessage> = simAuth) {
  const clock = { t: 1_700_000_000_000, now() { return this.t; } };
  const source = new SimSource();
  const node = new GossipNode<GossipMessage>({
    id: 'a', url: 'sim://a', gossip: SIM_DEFAULTS, clock, rng: seededRng(1), transport: { send: async () => null }, auth, source, heartbeat: () => simHeartbeat('a'),
  });
  const push = (from = 'p1', extra: Record<string, unknown> = {}): GossipMessage =>
    ({ from, to: 'a', at: clock.now(), nonce: nonce(), re: null, body: { kind: 'push', url: `sim://${from}`, digest: {}, heartbeat: simHeartbeat(from), members: [] }, ...extra }) as GossipMessage;
  return { clock, node, source, push };
}

t.test('a replayed message (same sender and nonce) is refused with E_REPLAY', async (t) => {
  const { node, push } = setup();
  const msg = push();
  await node.receive(msg);
  await t.rejects(node.receive(msg), { code: 'E_REPLAY' });
  await t.rejects(node.receive({ ...msg, at: msg.at + 1 }), { code: 'E_REPLAY' }, 'a changed timestamp does not make it new');
  await t.resolves(node.receive({ ...msg, from: 'p2', body: { ...msg.body, heartbeat: simHeartbeat('p2') } as GossipMessage['body'] }), 'another sender may use the same nonce');
});

t.test('a message stamped outside the replay window is refused, either side of our clock', async (t) => {
  const { node, push, clock } = setup();
  clock.t += 2 * WINDOW; // a node up for longer than the window
  await t.rejects(node.receive(push('p1', { at: clock.now() - WINDOW - 1 })), { code: 'E_REPLAY', message: /outside the ±30s replay window/ });
  await t.rejects(node.receive(push('p1', { at: clock.now() + WINDOW + 1 })), { code: 'E_REPLAY' });
  await t.resolves(node.receive(push('p1', { at: clock.now() - WINDOW })), 'the edge of the window is inside');
});

t.test('the replay table forgets nonces only once they could no longer pass the window', async (t) => {
  const guard = new ReplayGuard(1000);
  guard.check('p', 'n-000001', 0, 0);
  t.throws(() => guard.check('p', 'n-000001', 0, 1000), { code: 'E_REPLAY' });
  t.throws(() => guard.check('p', 'n-000001', 0, 1500), { code: 'E_REPLAY' }, 'refused by the window by now');
  guard.check('p', 'n-000002', 2000, 2500);
  t.equal(guard.size, 1, 'the first entry expired');
});

t.test('a full replay table evicts its oldest entry and refuses anything not newer than it', async (t) => {
  const guard = new ReplayGuard(10_000, 2);
  guard.check('p', 'n-000001', 100, 100);
  guard.check('p', 'n-000002', 200, 200);
  guard.check('p', 'n-000003', 300, 300);
  t.equal(guard.size, 2);
  t.throws(() => guard.check('p', 'n-000001', 100, 300), { code: 'E_REPLAY', message: /older than the replay table remembers/ }, 'the evicted nonce cannot come back');
  t.throws(() => guard.check('q', 'n-000009', 50, 300), { code: 'E_REPLAY' });
  guard.check('q', 'n-000009', 301, 301);
});

t.test('a peer over rate_limit_per_sec is refused with E_RATE_LIMITED, others are not, and it recovers', async (t) => {
  const { node, push, clock } = setup();
  for (let i = 0; i < SIM_DEFAULTS.rate_limit_per_sec; i++) await node.receive(push('noisy'));
  await t.rejects(node.receive(push('noisy')), { code: 'E_RATE_LIMITED' });
  await t.resolves(node.receive(push('quiet')));
  clock.t += 100;
  await t.resolves(node.receive(push('noisy')), 'a tenth of a second refills five tokens');
  t.equal(node.stats.rejected, 1);
});

t.test('a token bucket refills at the configured rate and never beyond its burst', async (t) => {
  const limiter = new RateLimiter(10, 2);
  limiter.take('p', 0);
  limiter.take('p', 0);
  t.throws(() => limiter.take('p', 0), { code: 'E_RATE_LIMITED' });
  limiter.take('p', 100);
  t.throws(() => limiter.take('p', 100), { code: 'E_RATE_LIMITED' });
  limiter.take('p', 10_000);
  limiter.take('p', 10_000);
  t.throws(() => limiter.take('p', 10_000), { code: 'E_RATE_LIMITED' }, 'a long silence buys only the burst');
});

t.test('malformed messages are refused with E_MALFORMED naming the problem', async (t) => {
  const { node, push } = setup();
  const good = push();
  const cases: Array<[string, unknown, RegExp]> = [
    ['an unknown top-level key', { ...good, extra: 1 }, /\(root\)|extra/],
    ['an unknown body key', { ...good, body: { ...good.body, extra: 1 } }, /body/],
    ['an unknown kind', { ...good, body: { ...good.body, kind: 'gimme' } }, /body/],
    ['a fractional seq', { ...good, body: { ...good.body, digest: { testnet: { seq: 1.5, hash: 'h' } } } }, /body\.digest\.testnet\.seq/],
    ['a negative seq', { ...good, body: { ...good.body, digest: { testnet: { seq: -1, hash: 'h' } } } }, /seq/],
    ['a short nonce', { ...good, nonce: 'x' }, /nonce/],
    ['a string timestamp', { ...good, at: String(good.at) }, /at/],
    ['too many members', { ...good, body: { ...good.body, members: Array.from({ length: 65 }, (_, i) => ({ id: `m${i}`, url: 'sim://m', age_ms: 0 })) } }, /members/],
    ['a heartbeat with an unknown health', { ...good, body: { ...good.body, heartbeat: { ...simHeartbeat('p1'), health: 'great' } } }, /health/],
    ['not an object', 'push please', /\(root\)/],
  ];
  for (const [what, content, message] of cases) {
    await t.rejects(node.receive(content as GossipMessage), { code: 'E_MALFORMED', message }, what);
  }
});

t.test('an oversized heartbeat is refused with E_HEARTBEAT_TOO_LARGE naming the bound it passed', async (t) => {
  const { node, push } = setup();
  const many = (n: number, value: (i: number) => string) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, value(i)]));
  const hb = (over: Record<string, unknown>) => {
    const msg = push('p1');
    return { ...msg, body: { ...msg.body, heartbeat: { ...simHeartbeat('p1'), ...over } } } as GossipMessage;
  };
  const cases: Array<[string, Record<string, unknown>, RegExp]> = [
    ['50,000 labels', { labels: many(50_000, () => 'x') }, /heartbeat\.labels: at most 32 labels/],
    ['33 labels', { labels: many(33, () => 'x') }, /labels: at most 32 labels/],
    ['a label value of 257 characters', { labels: { region: 'x'.repeat(257) } }, /labels\.region/],
    ['a label name of 64 characters', { labels: { ['n'.repeat(64)]: 'x' } }, /labels/],
    ['33 tracks of versions', { versions: many(33, () => 'v1') }, /versions: at most 32 tracks/],
    ['a version of 201 characters', { versions: { testnet: 'v'.repeat(201) } }, /versions\.testnet/],
    ['a track name of 65 characters', { versions: { ['t'.repeat(65)]: 'v1' } }, /versions/],
    ['33 tracks of code hashes', { code_hash: many(33, () => 'h') }, /code_hash: at most 32 tracks/],
    ['a code hash of 129 characters', { code_hash: { testnet: 'h'.repeat(129) } }, /code_hash\.testnet/],
    ['33 apply reasons', { apply_reason: many(33, () => 'r') }, /apply_reason: at most 32 tracks/],
    ['an apply state of 4097 characters', { apply_state: 's'.repeat(4097) }, /apply_state/],
    ['a smoke verdict of 301 characters', { smoke: { regressed: false, detail: 'd'.repeat(301) } }, /smoke\.detail/],
  ];
  for (const [what, over, message] of cases) {
    await t.rejects(node.receive(hb(over)), { code: 'E_HEARTBEAT_TOO_LARGE', message }, what);
  }
  const id65 = 'p'.repeat(65);
  await t.rejects(node.receive(push(id65)), { code: 'E_HEARTBEAT_TOO_LARGE', message: /heartbeat\.node/ }, 'a node id of 65 characters');
  await t.rejects(node.receive(hb({ labels: { region: 'eu\u001b]0;owned\u0007' } })), { code: 'E_MALFORMED', message: /control characters/ }, 'a label value with an escape sequence');
  const full = {
    labels: many(32, () => 'x'.repeat(256)), versions: many(32, () => 'v'.repeat(200)), code_hash: many(32, () => 'h'.repeat(128)),
    apply_reason: many(32, () => 'r'.repeat(300)), apply_state: 's'.repeat(4096), smoke: { regressed: false, detail: 'd'.repeat(300) },
  };
  await t.resolves(node.receive(hb(full)), 'every bound reached exactly, none passed');
});

t.test('a message must come from its signer, be addressed to us, be a request and carry its own heartbeat', async (t) => {
  const liar: MessageAuth<GossipMessage> = { sign: (m) => m, verify: (w) => ({ from: 'mallory', content: w }) };
  const a = setup(liar);
  await t.rejects(a.node.receive(a.push('p1')), { code: 'E_MALFORMED', message: /signed by mallory/ });
  const { node, push } = setup();
  await t.rejects(node.receive(push('p1', { to: 'b' })), { code: 'E_MALFORMED', message: /addressed to b/ });
  await t.rejects(node.receive(push('p1', { re: 'guard-nonce-request' })), { code: 'E_MALFORMED', message: /answer was sent as a request/ });
  const msg = push('p1');
  await t.rejects(node.receive({ ...msg, body: { ...msg.body, heartbeat: simHeartbeat('p2') } as GossipMessage['body'] }), { code: 'E_MALFORMED', message: /heartbeat of p2/ });
  await t.rejects(node.receive({ ...msg, nonce: nonce(), to: null, body: { kind: 'pull', track: 'testnet', hash: 'h' } }), { code: 'E_MALFORMED' }, 'a pull must be addressed');
});

t.test('an auth failure is passed through unchanged and counted as a rejection', async (t) => {
  const { UpshiftError } = await import('../../src/core/errors.js');
  const revoked: MessageAuth<GossipMessage> = { sign: (m) => m, verify: () => { throw new UpshiftError('E_REVOKED', 'node p1 is revoked'); } };
  const { node, push, source } = setup(revoked);
  await t.rejects(node.receive(push('p1', { body: { kind: 'push', url: 'sim://p1', digest: { testnet: { seq: 9, hash: 'h' } }, heartbeat: simHeartbeat('p1'), members: [] } })), { code: 'E_REVOKED' });
  t.equal(node.stats.rejected, 1);
  t.equal(source.offers, 0, 'nothing pulled on the word of a revoked node');
});

t.test('a message stamped before this node started is refused, though inside the window: it may be a replay from before a restart', async (t) => {
  const { node, push, clock } = setup();
  const captured = push('p1', { at: clock.now() - 4000 });
  await t.rejects(node.receive(captured), { code: 'E_REPLAY', message: /before this node started/ });
  await t.resolves(node.receive(push('p1')), 'a message sent since the start is fine');
});

t.test('after a restart, what the previous run accepted stays refused, even from a sender whose clock runs ahead', async (t) => {
  const before = setup();
  // p1's clock is 10 s ahead: its messages are stamped after any restart in the next 10 s
  const ahead = before.push('p1', { at: before.clock.now() + 10_000 });
  await before.node.receive(ahead);
  const floors = before.node.replayFloors();
  t.same(floors, { p1: ahead.at }, 'the newest accepted time per sender is what the next run must refuse');
  before.clock.t += 4000; // the daemon restarts 4 s later with the saved floors
  const after = new GossipNode<GossipMessage>({
    id: 'a', url: 'sim://a', gossip: SIM_DEFAULTS, clock: before.clock, rng: seededRng(2), transport: { send: async () => null },
    auth: simAuth, source: new SimSource(), heartbeat: () => simHeartbeat('a'), replayFloors: floors,
  });
  await t.rejects(after.receive(ahead), { code: 'E_REPLAY', message: /not newer than the last one the previous run accepted/ });
  await t.resolves(after.receive(before.push('p1', { at: ahead.at + 1000 })), 'newer messages from p1 are fine');
  t.same(new ReplayGuard(WINDOW, undefined, { floors: { old: 0 } }).floors(WINDOW + 1), {}, 'floors older than the window are dropped');
});
