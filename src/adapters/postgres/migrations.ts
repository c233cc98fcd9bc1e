// The PostgreSQL store's schema, append-only like the SQLite one (never edit a shipped one).
import type { PgMigration } from './migrate.js';
import { PG_MIGRATION_002_PIPELINE } from './migration-002-pipeline.js';
import { PG_MIGRATION_003_FLEET } from './migration-003-fleet.js';
import { PG_MIGRATION_004_REPLICAS } from './migration-004-replicas.js';
import { PG_MIGRATION_005_COMMAND_KINDS } from './migration-005-command-kinds.js';
import { PG_MIGRATION_006_EPOCHS } from './migration-006-epochs.js';
import { PG_MIGRATION_007_LEASE_EPOCH } from './migration-007-lease-epoch.js';

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
  PG_MIGRATION_002_PIPELINE,
  PG_MIGRATION_003_FLEET,
  PG_MIGRATION_004_REPLICAS,
  PG_MIGRATION_005_COMMAND_KINDS,
  PG_MIGRATION_006_EPOCHS,
  PG_MIGRATION_007_LEASE_EPOCH,
];
