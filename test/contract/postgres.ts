// The PostgreSQL adapter under the store contract: one real server per test file, started
// the first time a store is asked for, and a fresh database per store (CREATE DATABASE, the
// migrations, a PgStore on a pool with plain transactions, a local SQLite for the journal).
import tap from 'tap';
import { join } from 'node:path';
import type pg from 'pg';
import { Store } from '../../src/adapters/sqlite/store.js';
import { PgStore, type FleetPorts } from '../../src/adapters/postgres/store.js';
import { UpshiftError } from '../../src/core/errors.js';
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
 * The fleet-side ports (identity, fleet state, tallies, deployments, benchmark registry) are
 * another branch's; until they are wired here, using one fails loudly rather than quietly
 * reaching some other store.
 */
export const unwiredFleetPorts = (): FleetPorts => {
  const port = <T extends object>(name: string): T => new Proxy({} as T, {
    get: (_, key) => (key === 'then' ? undefined : () => Promise.reject(
      new UpshiftError('E_INTERNAL', `${name}.${String(key)} is not wired on PostgreSQL in this build`))),
  });
  return {
    identity: port('identity'), fleet: port('fleet'), tallies: port('tallies'),
    deployments: port('deployments'), benchmarkRegistry: port('benchmarkRegistry'),
  };
};

/**
 * A fresh, migrated PostgreSQL store (and its local SQLite) that the test's teardown closes.
 * `fleet: 'local'` takes the fleet-side ports from the local SQLite store instead of failing:
 * a stand-in for tests that drive the pipeline, until those ports are wired on PostgreSQL.
 * `localDir`: where the local SQLite goes (a node's state dir; a temp dir unless given).
 */
export async function openPgStore(t: Tap.Test, now: () => number, opts: { fleet?: 'unwired' | 'local'; localDir?: string } = {}): Promise<{ store: PgStore; local: Store }> {
  const { db, admin } = await postgres();
  const database = `contract_${process.pid}_${++databases}`;
  await admin.query(`CREATE DATABASE ${database}`);
  const local = Store.open(join(opts.localDir ?? tempDir(t, 'upshift-pg-local-'), 'upshift.db'), now);
  const fleetPorts = opts.fleet === 'local'
    ? (): FleetPorts => ({ identity: local.identity, fleet: local.fleet, tallies: local.tallies, deployments: local.deployments, benchmarkRegistry: local.benchmarkRegistry })
    : unwiredFleetPorts;
  const store = await PgStore.open({ hosts: [db.host], database, user: db.user }, { now, local, fleetPorts });
  t.teardown(() => store.close());
  return { store, local };
}

registerAdapter({
  name: 'postgres',
  open: async (t, clock): Promise<StateStore> => (await openPgStore(t, () => clock.now())).store,
});
