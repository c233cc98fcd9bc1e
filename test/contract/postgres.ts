// The PostgreSQL adapter under the store contract: one real server per test file, started
// the first time a store is asked for, and a fresh database per store (CREATE DATABASE, the
// migrations, a PgStore on a pool with plain transactions, a local SQLite for the journal).
import tap from 'tap';
import { join } from 'node:path';
import type pg from 'pg';
import { Store } from '../../src/adapters/sqlite/store.js';
import { PgStore } from '../../src/adapters/postgres/store.js';
import type { StateStore } from '../../src/core/store-ports.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { tempDir } from '../helpers/tmp.js';
import { registerAdapter } from './stores.js';

let server: Promise<{ db: TestPostgres; admin: pg.Client }> | null = null;
let databases = 0;

/** The server of this test file, started once and stopped with the file's root test. */
function postgres(): Promise<{ db: TestPostgres; admin: pg.Client }> {
  server ??= (async () => {
    const db = await startPostgres(tap);
    const admin = await db.client();
    tap.teardown(() => admin.end());
    return { db, admin };
  })();
  return server;
}

/**
 * A fresh, migrated PostgreSQL store (and its local SQLite) that the test's teardown closes.
 * `localDir`: where the local SQLite goes (a node's state dir; a temp dir unless given).
 */
export async function openPgStore(t: Tap.Test, now: () => number, opts: { localDir?: string } = {}): Promise<{ store: PgStore; local: Store }> {
  const { db, admin } = await postgres();
  const database = `contract_${process.pid}_${++databases}`;
  await admin.query(`CREATE DATABASE ${database}`);
  const local = Store.open(join(opts.localDir ?? tempDir(t, 'upshift-pg-local-'), 'upshift.db'), now);
  const store = await PgStore.open({ hosts: [db.host], database, user: db.user }, { now, local });
  t.teardown(() => store.close());
  return { store, local };
}

registerAdapter({
  name: 'postgres',
  open: async (t, clock): Promise<StateStore> => (await openPgStore(t, () => clock.now())).store,
});
