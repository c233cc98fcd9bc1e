// The fleet read model on every adapter: each node's current state replaced whole by its
// next heartbeat (tracks included), read back in node order, forgotten after long silence.
import t from 'tap';
import type { NodeState } from '../../src/core/node-state.js';
import { eachStore } from './stores.js';
import { registerPartialPostgres } from './pg-partial.js';

registerPartialPostgres(t);

const state = (node: string, heardAt: number, extra: Partial<NodeState> = {}): NodeState => ({
  node, heardAt, labels: { region: 'eu' }, health: 'ok', errorRate: 0.01, smoke: null,
  tracks: { testnet: { version: 'v1', seq: 3, apply: 'confirmed', reason: null, codeHash: 'h'.repeat(64) } }, ...extra,
});

await eachStore(t, 'a node state is kept whole and replaced by the next one, tracks included', async (t, store) => {
  const first = state('web-1', 100, { smoke: { regressed: true, detail: 'pending' }, tracks: {
    testnet: { version: 'v1', seq: 3, apply: 'confirmed', reason: null, codeHash: 'h'.repeat(64), role: 'canary' },
    production: { version: null, seq: 2, apply: 'refused', reason: 'marked bad', codeHash: null },
  } });
  const bare = state('web-2', 90, { health: 'unknown', errorRate: null, smoke: { regressed: false, detail: 'ok' }, tracks: {} });
  await store.fleet.record([first, bare]);
  t.same(await store.fleet.nodes(), [first, bare]);
  const next = state('web-1', 200, { tracks: { testnet: { version: 'v2', seq: 4, apply: 'probation', reason: null, codeHash: null } } });
  await store.fleet.record([next]);
  t.same(await store.fleet.node('web-1'), next, 'the production slot and the canary role it no longer names are gone');
  t.equal(await store.fleet.node('nobody'), null);
  t.equal((await store.fleet.nodes()).length, 2, 'one node per id, however often heard');
  await store.fleet.record([]);
  t.equal((await store.fleet.nodes()).length, 2, 'an empty round changes nothing');
});

await eachStore(t, 'nodes come back in byte order of their ids, and the latest of a round wins', async (t, store) => {
  await store.fleet.record([state('b', 1), state('B', 2), state('a-1', 3), state('a', 4), state('b', 5)]);
  t.same((await store.fleet.nodes()).map((n) => n.node), ['B', 'a', 'a-1', 'b']);
  t.equal((await store.fleet.node('b'))?.heardAt, 5);
});

await eachStore(t, 'retention: nodes not heard since the cut are forgotten, with their tracks', async (t, store) => {
  await store.fleet.record([state('old', 10), state('edge', 500), state('new', 1_000)]);
  t.equal(await store.fleet.forget(500), 1, 'heard exactly at the cut is kept');
  t.same((await store.fleet.nodes()).map((n) => n.node), ['edge', 'new']);
  await store.fleet.record([state('old', 2_000, { tracks: {} })]);
  t.same((await store.fleet.node('old'))?.tracks, {}, 'a forgotten node heard again starts without its old tracks');
  t.equal(await store.fleet.forget(0), 0);
});

await eachStore(t, 'a bad health is refused by the schema and nothing of the round is kept', async (t, store) => {
  await t.rejects(store.fleet.record([state('ok', 1), state('bad', 2, { health: 'great' as NodeState['health'] })]));
  t.same(await store.fleet.nodes(), []);
});
