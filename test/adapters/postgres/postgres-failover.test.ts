// PostgreSQL failover under a leader: with a synchronous standby, kill the primary and
// promote the standby; the next leader finds the new primary by walking the host list and
// continues with no write lost or doubled, and the old leader's session is fenced.
import t from 'tap';
import type { PgTarget } from '../../../src/adapters/postgres/connect.js';
import { Leadership } from '../../../src/adapters/postgres/leader.js';
import { migrate } from '../../../src/adapters/postgres/migrate.js';
import { PG_MIGRATIONS } from '../../../src/adapters/postgres/migrations.js';
import { isUpshiftError } from '../../../src/core/errors.js';
import { startPostgres } from '../../helpers/postgres.js';

t.test('a synchronous standby promoted after the primary dies loses and doubles nothing', async (t) => {
  const primary = await startPostgres(t);
  const admin = await primary.client();
  await migrate(admin, PG_MIGRATIONS);
  await admin.query('CREATE TABLE seqs (track text NOT NULL, seq integer NOT NULL, epoch bigint NOT NULL, PRIMARY KEY (track, seq))');
  await admin.end();
  const standby = await primary.standbyOf(t, { sync: true });
  const target: PgTarget = { hosts: [primary.host, standby.host], database: 'postgres', user: 'postgres', connectTimeoutMs: 2000 };
  const opts = { target, fleet: 'f1', stallTimeoutMs: 4000 };

  const first = await Leadership.campaign({ ...opts, replica: 'a' });
  t.teardown(() => first.resign());
  const reserve = (l: Leadership, seq: number) => l.fenced(async (q) => {
    await q.query('INSERT INTO seqs (track, seq, epoch) VALUES ($1, $2, $3)', ['stable', seq, l.epoch]);
  });
  for (let seq = 1; seq <= 20; seq++) await reserve(first, seq);

  await primary.kill();
  const lost = await reserve(first, 21).catch((e: unknown) => e);
  t.ok(isUpshiftError(lost, 'E_FENCED'), 'the old leader cannot write once its session is gone');
  await standby.promote();

  const second = await Leadership.campaign({ ...opts, replica: 'b' });
  t.teardown(() => second.resign());
  t.ok(second.epoch > first.epoch, `a new epoch on the new primary (${first.epoch} -> ${second.epoch})`);
  const { rows } = await second.fenced((q) => q.query<{ seq: number }>("SELECT seq FROM seqs WHERE track = 'stable' ORDER BY seq"));
  t.same(rows.map((r) => r.seq), Array.from({ length: 20 }, (_, i) => i + 1), 'every committed seq survived the failover, once');
  for (let seq = 21; seq <= 25; seq++) await reserve(second, seq);
  const doubled = await reserve(second, 25).catch((e: unknown) => e);
  t.equal((doubled as { code?: string }).code, '23505', 'the schema refuses a second row for a (track, seq)');
  const after = await second.fenced((q) => q.query<{ n: number; top: number }>('SELECT count(*)::int AS n, max(seq) AS top FROM seqs'));
  t.same(after.rows[0], { n: 25, top: 25 });
});
