// PostgreSQL migration 5: the fence log, one row per leader epoch. Every fenced write of a
// leader bumps its epoch's `writes` in the same transaction; a takeover records, when it
// bumps the epoch, how many writes the epoch before it had committed (`prior_writes`).
// Fencing holds when, for every epoch, `writes` still equals its successor's `prior_writes`:
// a larger count is a write of an old epoch that committed after a newer one was taken.
// One row per epoch, one small update per write (in the fenced statement that already runs).
import type { PgMigration } from './migrate.js';

export const PG_MIGRATION_006_EPOCHS: PgMigration = {
  version: 6,
  name: 'epochs',
  sql: `
CREATE TABLE upshift_epochs (
  fleet text NOT NULL,
  epoch bigint NOT NULL,
  replica text NOT NULL,
  taken_at timestamptz NOT NULL,
  writes bigint NOT NULL DEFAULT 0,
  prior_writes bigint,
  PRIMARY KEY (fleet, epoch)
);
`,
};
