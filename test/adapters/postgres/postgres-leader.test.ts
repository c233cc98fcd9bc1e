// Leader election and fencing on a real PostgreSQL server (issue 13's foundation).
import t from 'tap';
import { connectPrimary, type PgTarget } from '../../../src/adapters/postgres/connect.js';
import { Leadership, readLeader } from '../../../src/adapters/postgres/leader.js';
import { migrate } from '../../../src/adapters/postgres/migrate.js';
import { PG_MIGRATIONS } from '../../../src/adapters/postgres/migrations.js';
import { isUpshiftError } from '../../../src/core/errors.js';
import { startPostgres } from '../../helpers/postgres.js';

const db = await startPostgres(t);
const target: PgTarget = { hosts: [db.host], database: db.database, user: db.user };
const admin = await db.client();
t.teardown(() => admin.end());
await migrate(admin, PG_MIGRATIONS);

const pending = async (p: Promise<unknown>, ms = 700): Promise<boolean> =>
  Promise.race([p.then(() => false, () => false), new Promise<boolean>((r) => setTimeout(() => r(true), ms))]);

t.test('connectPrimary skips a host that does not answer and names every failure', async (t) => {
  const c = await connectPrimary({ ...target, hosts: ['127.0.0.1:1', db.host], connectTimeoutMs: 2000 });
  t.equal((await c.query('SELECT 1 AS one')).rows[0].one, 1);
  await c.end();
  const err = await connectPrimary({ ...target, hosts: ['127.0.0.1:1'], connectTimeoutMs: 2000 }).catch((e: unknown) => e);
  t.ok(isUpshiftError(err, 'E_STORE_UNAVAILABLE'));
  t.match((err as Error).message, /127\.0\.0\.1:1/);
});

t.test('migrations run once however many replicas start together', async (t) => {
  const clients = await Promise.all([1, 2, 3].map(() => db.client()));
  const applied = await Promise.all(clients.map((c) => migrate(c, PG_MIGRATIONS)));
  t.same(applied.flat(), [], 'already at the newest version: nothing applied twice');
  const { rows } = await admin.query('SELECT count(*)::int AS n FROM upshift_migrations');
  t.equal(rows[0].n, PG_MIGRATIONS.length);
  await Promise.all(clients.map((c) => c.end()));
});

t.test('a replica older than the schema refuses to migrate', async (t) => {
  const c = await db.client();
  const err = await migrate(c, []).catch((e: unknown) => e);
  t.ok(isUpshiftError(err, 'E_SCHEMA_NEWER'));
  await c.end();
});

t.test('one leader at a time; a follower blocks until the leader resigns, then bumps the epoch', async (t) => {
  const fleet = 'resign';
  const a = await Leadership.campaign({ target, fleet, replica: 'a', stallTimeoutMs: 60_000 });
  const bWaits = Leadership.campaign({ target, fleet, replica: 'b', stallTimeoutMs: 60_000 });
  t.ok(await pending(bWaits), 'b waits while a leads');
  t.equal((await a.fenced(async (q) => (await q.query('SELECT 42 AS x')).rows[0].x)), 42);
  await a.resign();
  const b = await bWaits;
  t.equal(b.epoch, a.epoch + 1);
  t.equal((await readLeader(admin, fleet))?.replica, 'b');
  const err = await a.fenced(async () => 1).catch((e: unknown) => e);
  t.ok(isUpshiftError(err, 'E_FENCED'), 'the resigned replica writes nothing');
  await b.resign();
});

t.test('a leader whose session is terminated is fenced and the follower takes over', async (t) => {
  const fleet = 'terminated';
  const a = await Leadership.campaign({ target, fleet, replica: 'a', stallTimeoutMs: 60_000 });
  const lost = new Promise((r) => a.onLost(r));
  const bWaits = Leadership.campaign({ target, fleet, replica: 'b', stallTimeoutMs: 60_000 });
  const row = await readLeader(admin, fleet);
  await admin.query('SELECT pg_terminate_backend($1)', [row?.pid]);
  const b = await bWaits;
  t.equal(b.epoch, a.epoch + 1);
  await admin.query('CREATE TABLE IF NOT EXISTS fenced_probe (v text)');
  const err = await a.fenced((q) => q.query("INSERT INTO fenced_probe VALUES ('from a')")).catch((e: unknown) => e);
  t.ok(isUpshiftError(err, 'E_FENCED'));
  t.ok(isUpshiftError(await lost, 'E_FENCED'), 'the lost handler fired');
  await b.fenced((q) => q.query("INSERT INTO fenced_probe VALUES ('from b')"));
  t.same((await admin.query('SELECT v FROM fenced_probe')).rows, [{ v: 'from b' }]);
  t.notOk(a.fresh());
  await b.resign();
  await a.resign();
});

t.test('a stalled holder (no renewals) is deposed after stall_timeout; its later write changes nothing', async (t) => {
  const fleet = 'stalled';
  // renewals far apart stand in for a SIGSTOPped process
  const a = await Leadership.campaign({ target, fleet, replica: 'a', stallTimeoutMs: 60_000, renewEveryMs: 3_600_000 });
  const b = await Leadership.campaign({ target, fleet, replica: 'b', stallTimeoutMs: 1500 });
  t.equal(b.epoch, a.epoch + 1);
  const err = await a.fenced(async () => 'written').catch((e: unknown) => e);
  t.ok(isUpshiftError(err, 'E_FENCED'), `the deposed holder is fenced (${String(err)})`);
  t.ok(b.fresh());
  await b.resign();
  await a.resign();
});

t.test('a write in flight on the old leader is ordered before the takeover', async (t) => {
  const fleet = 'ordered';
  const a = await Leadership.campaign({ target, fleet, replica: 'a', stallTimeoutMs: 60_000 });
  let release!: () => void;
  let entered!: () => void;
  const gate = new Promise<void>((r) => { release = r; });
  const inside = new Promise<void>((r) => { entered = r; });
  const write = a.fenced(async (q) => {
    entered();
    await gate;
    await q.query("INSERT INTO fenced_probe VALUES ('a in flight')");
  });
  await inside;
  // the row lock the write holds keeps any epoch bump behind it
  const bump = admin.query("UPDATE upshift_leader SET epoch = epoch + 1 WHERE fleet = $1", [fleet]);
  t.ok(await pending(bump), 'the takeover waits for the write');
  release();
  await write;
  await bump;
  const err = await a.fenced(async () => 1).catch((e: unknown) => e);
  t.ok(isUpshiftError(err, 'E_FENCED'), 'after the bump, the old epoch writes nothing');
  t.ok((await admin.query("SELECT 1 FROM fenced_probe WHERE v = 'a in flight'")).rowCount === 1);
  await a.resign();
});
