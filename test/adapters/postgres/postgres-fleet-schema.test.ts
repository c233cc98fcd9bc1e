// PostgreSQL migration 3 on a real server: the rules SQLite keeps in triggers hold here too
// (a token spent once, issued certificates and signed manifest bytes immutable, a
// deployment's identity fixed, its events append-only), and the fleet read model keeps the
// channel a node was last heard on.
import t, { type Test } from 'tap';
import { migrate } from '../../../src/adapters/postgres/migrate.js';
import { poolSession } from '../../../src/adapters/postgres/session.js';
import { PgFleetState } from '../../../src/adapters/postgres/fleet-state.js';
import type { HeardOn, NodeState } from '../../../src/core/node-state.js';
import pg from 'pg';
import { startPostgres } from '../../helpers/postgres.js';
import { PG_MIGRATIONS } from '../../../src/adapters/postgres/migrations.js';

const db = await startPostgres(t);
const admin = await db.client();
t.teardown(() => admin.end());
const applied = await migrate(admin, PG_MIGRATIONS);

t.test('every migration applies in order, once', async (t) => {
  t.same(applied, PG_MIGRATIONS.map((m) => m.version));
  t.same(await migrate(admin, PG_MIGRATIONS), []);
});

const refused = async (t: Test, sql: string, why: RegExp): Promise<void> => {
  await t.rejects(admin.query(sql), why, sql.slice(0, 60));
};

t.test('a join token is spent once and certificates never change', async (t) => {
  await admin.query(`INSERT INTO join_tokens (token_hash, labels, created_at, expires_at) VALUES ('h', '{}', 1, 2)`);
  await admin.query(`UPDATE join_tokens SET used_at = 1, used_by = 'web-1' WHERE token_hash = 'h'`);
  await refused(t, `UPDATE join_tokens SET used_at = NULL, used_by = NULL WHERE token_hash = 'h'`, /already used/);
  await refused(t, `UPDATE join_tokens SET used_by = NULL WHERE token_hash = 'h'`, /already used/);
  await admin.query(`INSERT INTO node_certs (serial, node_id, public_key, labels, cert, issued_at, expires_at)
    VALUES (1, 'web-1', 'pk', '{}', '{"c":1}', 1, 2)`);
  await refused(t, `UPDATE node_certs SET cert = '{"c":2}'`, /immutable/);
  await refused(t, `INSERT INTO node_certs (serial, node_id, public_key, labels, cert, issued_at, expires_at)
    VALUES (1, 'web-2', 'pk', '{}', '{}', 1, 2)`, /duplicate key/);
});

t.test('a deployment keeps what it is, its events and its manifests\' bytes', async (t) => {
  await admin.query(`INSERT INTO deployments (id, key, number, track, kind, target_version, target_commit, target_code_hash,
    target_run, strategy, policy, status, state, health, created_at, updated_at)
    VALUES ('d1', 'k', 1, 'testnet', 'release', 'v2', 'c', 'h', 'r', 'canary', '{}', 'running', '{}', '{}', 1, 1)`);
  await admin.query(`UPDATE deployments SET status = 'paused', rev = rev + 1 WHERE id = 'd1'`);
  await refused(t, `UPDATE deployments SET target_version = 'v3' WHERE id = 'd1'`, /fixed/);
  await refused(t, `UPDATE deployments SET status = 'gone' WHERE id = 'd1'`, /check constraint/);
  await admin.query(`INSERT INTO deployment_events (deployment_id, at, kind, actor, outcome, data) VALUES ('d1', 1, 'k', 'a', 'accepted', '{}')`);
  await refused(t, `UPDATE deployment_events SET kind = 'x'`, /append-only/);
  await refused(t, 'DELETE FROM deployment_events', /append-only/);
  await admin.query(`INSERT INTO deployment_manifests (deployment_id, step, track, seq, targets, payload, created_at)
    VALUES ('d1', 'canary', 'testnet', 1, '"all"', '\\x7b7d', 1)`);
  await refused(t, `UPDATE deployment_manifests SET payload = '\\x00'`, /immutable/);
  await refused(t, 'UPDATE deployment_manifests SET seq = 2', /immutable/);
  await admin.query(`UPDATE deployment_manifests SET envelope = 'e1'`);
  await admin.query(`UPDATE deployment_manifests SET envelope = 'e1'`);
  await refused(t, `UPDATE deployment_manifests SET envelope = 'e2'`, /immutable/);
  await refused(t, 'UPDATE deployment_manifests SET envelope = NULL', /immutable/);
  await refused(t, `INSERT INTO deployment_manifests (deployment_id, step, track, seq, targets, payload, created_at)
    VALUES ('d1', 'wave-1', 'testnet', 1, '"all"', '\\x00', 1)`, /duplicate key/);
});

t.test('the fleet read model keeps the channel a node was last heard on', async (t) => {
  const pool = new pg.Pool({ host: db.host, port: db.port, user: db.user, database: db.database, max: 2 });
  t.teardown(() => pool.end());
  const fleet = new PgFleetState(poolSession(pool), () => 0);
  const state = (channel?: HeardOn): NodeState => ({
    node: 'web-1', heardAt: 5, labels: {}, health: 'ok', errorRate: null, smoke: null, tracks: {},
    ...(channel ? { channel } : {}),
  });
  await fleet.record([state('nats')]);
  t.match(await fleet.node('web-1'), { channel: 'nats' });
  await fleet.record([state()]);
  t.same(await fleet.node('web-1'), state(), 'a state that names none has none');
});
