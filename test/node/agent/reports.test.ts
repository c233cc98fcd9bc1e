// The apply state on the wire: this node sends it per track as {state, seq}; the packed
// string of older nodes (`testnet=confirmed#4,...`, `idle`) is still accepted and read.
import t from 'tap';
import { heartbeatSchema, type Heartbeat } from '../../../src/gossip/types.js';
import { applyStateOf, readApplyState, toNodeState } from '../../../src/node/agent/reports.js';

const base: Heartbeat = { node: 'web-1', versions: { testnet: 'v4' }, code_hash: { testnet: 'c'.repeat(64) }, health: 'ok', error_rate: 0, apply_state: {}, labels: {} };

t.test('this node sends the apply state per track, never packed into a string', async (t) => {
  const wire = applyStateOf({ testnet: { state: 'confirmed', seq: 4 }, production: { state: 'probation', seq: 2 } });
  t.same(wire, { production: { state: 'probation', seq: 2 }, testnet: { state: 'confirmed', seq: 4 } });
  t.same(applyStateOf({}), {}, 'nothing applied yet');
  const parsed = heartbeatSchema.parse({ ...base, apply_state: wire });
  t.same(parsed.apply_state, wire, 'the schema takes the record');
  t.notMatch(JSON.stringify(parsed), /=confirmed#/, 'no packed form on the wire');
});

t.test('the packed form of an older node is read the same way', async (t) => {
  t.same(readApplyState('production=probation#2,testnet=confirmed#4'), { production: { state: 'probation', seq: 2 }, testnet: { state: 'confirmed', seq: 4 } });
  t.same(readApplyState('idle'), {});
  t.same(readApplyState('testnet=fetching,junk,=x#1'), { testnet: { state: 'fetching', seq: null } }, 'unreadable parts are skipped');
  const older = toNodeState(heartbeatSchema.parse({ ...base, apply_state: 'testnet=confirmed#4' }), 9);
  const newer = toNodeState(heartbeatSchema.parse({ ...base, apply_state: { testnet: { state: 'confirmed', seq: 4 } } }), 9);
  t.same(older, newer, 'both forms describe the same node state');
  t.same(newer.tracks.testnet, { version: 'v4', seq: 4, apply: 'confirmed', reason: null, codeHash: 'c'.repeat(64) });
});

t.test('the record is bounded like the rest of a heartbeat', async (t) => {
  const many = Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`t${i}`, { state: 'confirmed', seq: 1 }]));
  t.notOk(heartbeatSchema.safeParse({ ...base, apply_state: many }).success, '33 tracks');
  t.notOk(heartbeatSchema.safeParse({ ...base, apply_state: { testnet: { state: 's'.repeat(65), seq: 1 } } }).success, 'a 65-character state');
  t.notOk(heartbeatSchema.safeParse({ ...base, apply_state: { testnet: { state: 'confirmed', seq: -1 } } }).success, 'a negative seq');
  t.notOk(heartbeatSchema.safeParse({ ...base, apply_state: { testnet: { state: 'confirmed', seq: 1, extra: 1 } } }).success, 'an unknown key');
});
