// The fence log (migration 5): each fenced write is counted under its epoch, a takeover
// records what the old epoch had committed, and fenceBreaches finds a write of an old epoch
// that committed after a newer epoch was taken.
import t from 'tap';
import type { PgTarget } from '../../../src/adapters/postgres/connect.js';
import { fenceBreaches } from '../../../src/adapters/postgres/fence-log.js';
import { Leadership } from '../../../src/adapters/postgres/leader.js';
import { migrate } from '../../../src/adapters/postgres/migrate.js';
import { PG_MIGRATIONS } from '../../../src/adapters/postgres/migrations.js';
import { isUpshiftError } from '../../../src/core/errors.js';
import { startPostgres } from '../../helpers/postgres.js';

const db = await startPostgres(t);
const target: PgTarget = { hosts: [db.host], database: db.database, user: db.user };
const admin = await db.client();
t.teardown(() => admin.end());
await migrate(admin, PG_MIGRATIONS);
await admin.query('CREATE TABLE probe (epoch bigint NOT NULL)');

const epochs = async (fleet: string) => (await admin.query(
  'SELECT epoch::int, replica, writes::int, prior_writes::int FROM upshift_epochs WHERE fleet = $1 ORDER BY epoch', [fleet])).rows;

t.test('a takeover after a terminated session records every write the old epoch committed', async (t) => {
  const fleet = 'counted';
  const a = await Leadership.campaign({ target, fleet, replica: 'a', stallTimeoutMs: 60_000 });
  for (let i = 0; i < 3; i++) await a.fenced((q) => q.query('INSERT INTO probe VALUES ($1)', [a.epoch]));
  const bWaits = Leadership.campaign({ target, fleet, replica: 'b', stallTimeoutMs: 60_000 });
  // a write in flight while the session is terminated is rolled back, and not counted
  const inFlight = a.fenced(async (q) => {
    await q.query('INSERT INTO probe VALUES ($1)', [a.epoch]);
    await admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'upshift-leader:a'");
    await q.query('SELECT pg_sleep(0.2)');
  }).catch((e: unknown) => e);
  t.ok(isUpshiftError(await inFlight, 'E_FENCED'), 'the write in flight fails E_FENCED');
  const b = await bWaits;
  await b.fenced((q) => q.query('INSERT INTO probe VALUES ($1)', [b.epoch]));
  t.same(await epochs(fleet), [
    { epoch: a.epoch, replica: 'a', writes: 3, prior_writes: null },
    { epoch: b.epoch, replica: 'b', writes: 1, prior_writes: 3 },
  ]);
  t.same(await fenceBreaches(admin, fleet), [], 'no write of epoch 1 committed after epoch 2 was taken');
  const probe = (await admin.query('SELECT epoch::int, count(*)::int AS n FROM probe GROUP BY epoch ORDER BY epoch')).rows;
  t.same(probe, [{ epoch: a.epoch, n: 3 }, { epoch: b.epoch, n: 1 }], 'the rows agree with the counts');
  await b.resign();
});

t.test('a write of an old epoch that bypasses the fence is found on the database', async (t) => {
  const fleet = 'breached';
  const a = await Leadership.campaign({ target, fleet, replica: 'a', stallTimeoutMs: 60_000 });
  await a.fenced((q) => q.query('SELECT 1'));
  await a.resign();
  const b = await Leadership.campaign({ target, fleet, replica: 'b', stallTimeoutMs: 60_000 });
  t.same(await fenceBreaches(admin, fleet), []);
  // what a leader without the epoch check would do: count a write under its old epoch
  await admin.query('UPDATE upshift_epochs SET writes = writes + 1 WHERE fleet = $1 AND epoch = $2', [fleet, a.epoch]);
  t.same(await fenceBreaches(admin, fleet), [{ epoch: a.epoch, replica: 'a', writes: 2, seenBySuccessor: 1 }]);
  const refused = await a.fenced((q) => q.query('SELECT 1')).catch((e: unknown) => e);
  t.ok(isUpshiftError(refused, 'E_FENCED'), 'the real fenced path refuses instead');
  await b.resign();
});
