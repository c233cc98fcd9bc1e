// The PostgreSQL store's schema, append-only like the SQLite one (never edit a shipped one).
import type { PgMigration } from './migrate.js';
import { PG_MIGRATION_003_FLEET } from './migration-003-fleet.js';

export { PG_MIGRATION_003_FLEET };

export const PG_MIGRATIONS: readonly PgMigration[] = [
  {
    version: 1,
    name: 'leader',
    sql: `CREATE TABLE upshift_leader (
      fleet text PRIMARY KEY,
      epoch bigint NOT NULL CHECK (epoch > 0),
      replica text NOT NULL,
      pid integer NOT NULL,
      renewed_at timestamptz NOT NULL,
      acquired_at timestamptz NOT NULL)`,
  },
  // ---- MERGE: version 2 (runs, events, manifests, kv, ...: store.ts's tables) goes here; the
  // migrator wants contiguous numbers, so the fleet tables (version 3) join the list with it:
  // PG_MIGRATION_003_FLEET,
];
// Until then PG_MIGRATION_003_FLEET is exported on its own (its tests put a stand-in version 2 first).
