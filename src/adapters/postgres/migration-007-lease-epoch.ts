// PostgreSQL migration 7: the leader epoch a run's driver lease was taken under. A new leader
// takes over the lease of a deposed one at once (its writes are fenced anyway) instead of
// waiting out the lease, which a live but cut-off process holds for up to 30 s.
import type { PgMigration } from './migrate.js';

export const PG_MIGRATION_007_LEASE_EPOCH: PgMigration = {
  version: 7,
  name: 'lease-epoch',
  sql: 'ALTER TABLE runs ADD COLUMN lease_epoch bigint',
};
