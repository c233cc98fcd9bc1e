// The fleet read model in SQLite: each node's current state replaced whole by its next
// heartbeat, dropped after long silence, and carried over from the kv rows an older version
// kept (their packed apply state unpacked; rows no heartbeat could be left behind).
import t from 'tap';
import { join } from 'node:path';
import { Store } from '../../src/adapters/sqlite/store.js';
import type { NodeState } from '../../src/core/node-state.js';
import { tempDir } from '../helpers/tmp.js';

const state = (node: string, heardAt: number, extra: Partial<NodeState> = {}): NodeState => ({
  node, heardAt, labels: { region: 'eu' }, health: 'ok', errorRate: 0.01, smoke: null,
  tracks: { testnet: { version: 'v1', seq: 3, apply: 'confirmed', reason: null, codeHash: 'h'.repeat(64) } }, ...extra,
});

t.test('a node state is kept whole and replaced by the next one, tracks included', async (t) => {
  const store = Store.open(join(tempDir(t), 'upshift.db'), () => 0);
  t.teardown(() => store.close());
  const first = state('web-1', 100, { smoke: { regressed: true, detail: 'pending' }, tracks: {
    testnet: { version: 'v1', seq: 3, apply: 'confirmed', reason: null, codeHash: 'h'.repeat(64) },
    production: { version: null, seq: 2, apply: 'refused', reason: 'marked bad', codeHash: null },
  } });
  await store.fleet.record([first, state('web-2', 90, { health: 'unknown', errorRate: null, tracks: {} })]);
  t.same(await store.fleet.nodes(), [first, state('web-2', 90, { health: 'unknown', errorRate: null, tracks: {} })]);
  const next = state('web-1', 200, { tracks: { testnet: { version: 'v2', seq: 4, apply: 'probation', reason: null, codeHash: null } } });
  await store.fleet.record([next]);
  t.same(await store.fleet.node('web-1'), next, 'the production slot it no longer names is gone');
  t.equal(await store.fleet.node('nobody'), null);
  t.equal(store.db.prepare('SELECT COUNT(*) FROM fleet_nodes').pluck().get(), 2, 'one row per node, however often heard');
});

t.test('retention: nodes not heard since the cut are forgotten, with their tracks', async (t) => {
  const store = Store.open(join(tempDir(t), 'upshift.db'), () => 0);
  t.teardown(() => store.close());
  await store.fleet.record([state('old', 10), state('new', 1_000)]);
  t.equal(await store.fleet.forget(500), 1);
  t.same((await store.fleet.nodes()).map((n) => n.node), ['new']);
  t.equal(store.db.prepare("SELECT COUNT(*) FROM fleet_tracks WHERE node = 'old'").pluck().get(), 0);
});

t.test('heartbeats an older version kept in kv are carried over, then the kv rows are gone', async (t) => {
  const file = join(tempDir(t), 'upshift.db');
  const old = Store.open(file, () => 0);
  old.db.exec('DROP TABLE fleet_tracks; DROP TABLE fleet_nodes; DELETE FROM schema_migrations WHERE version = 8;');
  const hb = (node: string, extra: Record<string, unknown> = {}) => ({
    node, versions: { testnet: 'v2', production: 'v1' }, code_hash: { testnet: 'a'.repeat(64), production: null }, health: 'ok', error_rate: 0.02,
    apply_state: 'production=confirmed#1,testnet=rolled_back#6', apply_reason: { testnet: 'health failed', production: '' }, labels: { region: 'us' }, ...extra,
  });
  old.kv.set('gossip.heartbeat.web-1', JSON.stringify({ at: 5_000, heartbeat: hb('web-1', { smoke: { regressed: false, detail: 'ok' } }) }));
  old.kv.set('gossip.heartbeat.web-2', JSON.stringify({ at: 6_000, heartbeat: hb('web-2', { versions: { testnet: null }, apply_state: 'idle', code_hash: {} }) }));
  old.kv.set('gossip.heartbeat.relay', JSON.stringify({ at: 7_000, heartbeat: hb('relay', { versions: {}, apply_state: 'idle', code_hash: {} }) }));
  // rows no heartbeat could be: not JSON, a bad health, another node's id, 50,000 labels (kept before the bounds)
  old.kv.set('gossip.heartbeat.bad-json', '{not json');
  old.kv.set('gossip.heartbeat.bad-health', JSON.stringify({ at: 1, heartbeat: hb('bad-health', { health: 'great' }) }));
  old.kv.set('gossip.heartbeat.liar', JSON.stringify({ at: 1, heartbeat: hb('web-9') }));
  const labels = Object.fromEntries(Array.from({ length: 50_000 }, (_, i) => [`l${i}`, 'x']));
  old.kv.set('gossip.heartbeat.huge', JSON.stringify({ at: 1, heartbeat: hb('huge', { labels }) }));
  old.kv.set('gossip.manifest.testnet', 'kept');
  old.close();

  const store = Store.open(file, () => 0);
  t.teardown(() => store.close());
  t.same(await store.fleet.node('web-1'), {
    node: 'web-1', heardAt: 5_000, labels: { region: 'us' }, health: 'ok', errorRate: 0.02, smoke: { regressed: false, detail: 'ok' },
    tracks: {
      production: { version: 'v1', seq: 1, apply: 'confirmed', reason: null, codeHash: null },
      testnet: { version: 'v2', seq: 6, apply: 'rolled_back', reason: 'health failed', codeHash: 'a'.repeat(64) },
    },
  }, 'the packed apply state unpacked per track');
  t.same((await store.fleet.node('web-2'))?.tracks, { testnet: { version: null, seq: null, apply: 'idle', reason: 'health failed', codeHash: null } });
  t.same((await store.fleet.node('relay'))?.tracks, {}, 'a node without an app runs no track');
  t.same((await store.fleet.nodes()).map((n) => n.node), ['relay', 'web-1', 'web-2'], 'the rows no heartbeat could be are dropped');
  t.equal(store.db.prepare("SELECT COUNT(*) FROM kv WHERE key LIKE 'gossip.heartbeat.%'").pluck().get(), 0, 'no heartbeat kv row is left');
  t.equal((await store.kv.get('gossip.manifest.testnet')), 'kept', 'other kv rows are untouched');
});
