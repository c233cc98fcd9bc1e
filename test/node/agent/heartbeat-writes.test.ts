import t from 'tap';
import type { Heartbeat } from '../../../src/gossip/types.js';
import { HeartbeatWrites } from '../../../src/node/agent/heartbeat-writes.js';

const hb = (node: string, health: Heartbeat['health'] = 'ok'): Heartbeat => ({
  node, versions: { testnet: 'v1' }, code_hash: { testnet: null }, health, error_rate: 0,
  apply_state: 'testnet=confirmed#1', apply_reason: {}, labels: {},
});

/** One round: what is due, then recorded as written (as the agent's transaction does). */
function round(w: HeartbeatWrites, entries: Array<[string, number, Heartbeat]>, force = false): string[] {
  const heard = new Map(entries.map(([node, at, heartbeat]) => [node, { at, heartbeat }]));
  const due = w.due(heard, force);
  w.written(heard, due.map(([n]) => n));
  return due.map(([n]) => n);
}

t.test('an unchanged heartbeat heard every round is written once per refresh interval', async (t) => {
  const w = new HeartbeatWrites(5000);
  t.same(round(w, [['a', 1000, hb('a')]]), ['a'], 'the first one is written');
  t.same(round(w, [['a', 2000, hb('a')]]), [], 'the same content a second later is not');
  t.same(round(w, [['a', 5999, hb('a')]]), [], 'nor just under the refresh interval');
  t.same(round(w, [['a', 6000, hb('a')]]), ['a'], 'at the refresh interval the time of hearing is refreshed');
  t.same(round(w, [['a', 7000, hb('a')]]), []);
});

t.test('a heartbeat whose content changed is written at once, with the others heard', async (t) => {
  const w = new HeartbeatWrites(5000);
  round(w, [['a', 1000, hb('a')], ['b', 1000, hb('b')]]);
  t.same(round(w, [['a', 1500, hb('a')], ['b', 1500, hb('b')]]), [], 'nothing changed: nothing written');
  t.same(round(w, [['a', 1500, hb('a', 'failing')], ['b', 1500, hb('b')]]), ['a', 'b'], 'one write for all');
  t.same(round(w, [['a', 2000, hb('a', 'ok')]]), ['a'], 'and changing back is a change too');
});

t.test('refreshes of different nodes share one write', async (t) => {
  const w = new HeartbeatWrites(5000);
  round(w, [['a', 1000, hb('a')]]);
  round(w, [['b', 3000, hb('b')]]);
  t.same(round(w, [['a', 6000, hb('a')], ['b', 6000, hb('b')]]), ['a', 'b'], 'a is due and b goes with it');
  t.same(round(w, [['a', 9000, hb('a')], ['b', 9000, hb('b')]]), [], 'so b is not due on its own at 8000');
});

t.test('the value written is the heartbeat with the time it was heard', async (t) => {
  const w = new HeartbeatWrites(5000);
  const heard = new Map([['a', { at: 1234, heartbeat: hb('a') }]]);
  const [[node, json] = ['', '']] = w.due(heard);
  t.equal(node, 'a');
  t.same(JSON.parse(json), { at: 1234, heartbeat: hb('a') });
});

t.test('force (shutdown) writes everything heard, changed or not', async (t) => {
  const w = new HeartbeatWrites(5000);
  round(w, [['a', 1000, hb('a')]]);
  t.same(round(w, [['a', 1100, hb('a')]], true), ['a']);
});

t.test('an entry not written (a failed transaction) stays due', async (t) => {
  const w = new HeartbeatWrites(5000);
  const heard = new Map([['a', { at: 1000, heartbeat: hb('a') }]]);
  t.equal(w.due(heard).length, 1);
  t.equal(w.due(heard).length, 1, 'nothing recorded as written, so still due');
});
