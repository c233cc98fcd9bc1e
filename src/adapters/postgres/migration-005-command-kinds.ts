// PostgreSQL migration 5: every mutating CLI command on replicas goes through the leader's
// queue, so the queue takes more kinds, their arguments (JSON), and a claim: the leader
// claims a command before carrying it out, and a caller that gave up waiting may withdraw
// only an unclaimed one (then nothing was, or will be, changed).
import type { PgMigration } from './migrate.js';

export const PG_MIGRATION_005_COMMAND_KINDS: PgMigration = {
  version: 5,
  name: 'command-kinds',
  sql: `
ALTER TABLE upshift_commands DROP CONSTRAINT upshift_commands_kind_check;
ALTER TABLE upshift_commands ADD CONSTRAINT upshift_commands_kind_check CHECK (kind IN (
  'approve', 'rollback', 'abort', 'revoke', 'start',
  'deploy', 'promote', 'pause', 'resume', 'fail', 'deploy_rollback', 'bench_register'));
ALTER TABLE upshift_commands ADD COLUMN args text NOT NULL DEFAULT '{}';
ALTER TABLE upshift_commands ADD COLUMN claimed_at timestamptz;
ALTER TABLE upshift_commands ADD COLUMN claimed_epoch bigint;
`,
};
