// PostgreSQL migration 4: the replicas of an authority and the commands they accept for the
// leader. Each replica upserts its row every second (`authority status` shows who is there);
// a command accepted by any replica or CLI is queued here and carried out once by the leader,
// which stamps the epoch it ran under (so which leader executed it is checked on the database).
import type { PgMigration } from './migrate.js';

export const PG_MIGRATION_004_REPLICAS: PgMigration = {
  version: 4,
  name: 'replicas',
  sql: `
CREATE TABLE upshift_replicas (
  fleet text NOT NULL,
  replica text NOT NULL,
  host text NOT NULL,
  pid integer NOT NULL,
  started_at timestamptz NOT NULL,
  renewed_at timestamptz NOT NULL,
  PRIMARY KEY (fleet, replica)
);

CREATE TABLE upshift_commands (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  fleet text NOT NULL,
  kind text NOT NULL CHECK (kind IN ('approve', 'rollback', 'abort', 'revoke')),
  target text NOT NULL,
  reason text NOT NULL,
  by text NOT NULL,
  accepted_by text NOT NULL,
  accepted_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  done_at timestamptz,
  done_epoch bigint,
  done_by text,
  outcome text CHECK (outcome IN ('ok', 'failed')),
  result text,
  CHECK ((done_at IS NULL) = (outcome IS NULL))
);
CREATE INDEX upshift_commands_pending ON upshift_commands (fleet, id) WHERE done_at IS NULL;
`,
};
