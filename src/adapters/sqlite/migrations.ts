// Numbered migrations. Append only: never edit a migration that has shipped.
import { MIGRATION_002_NODE } from './migration-002-node.js';
import { MIGRATION_003_IDENTITY } from './migration-003-identity.js';
import { MIGRATION_004_RUN_FACTS } from './migration-004-run-facts.js';
import { MIGRATION_005_RETRIES } from './migration-005-retries.js';
import { MIGRATION_006_SOURCE_POLLS } from './migration-006-source-polls.js';
import { MIGRATION_007_RUN_PLANS } from './migration-007-run-plans.js';
import { MIGRATION_008_FLEET_STATE } from './migration-008-fleet-state.js';
import { MIGRATION_009_DEPLOYMENTS } from './migration-009-deployments.js';
import { MIGRATION_010_BENCHMARK_REGISTRY } from './migration-010-benchmark-registry.js';
import { MIGRATION_011_FLEET_ROLES } from './migration-011-fleet-roles.js';
import { MIGRATION_012_FLEET_CHANNEL } from './migration-012-fleet-channel.js';

export const MIGRATIONS: ReadonlyArray<{ version: number; name: string; sql: string }> = [
  {
    version: 1,
    name: 'pipeline',
    sql: `
CREATE TABLE runs (
  id TEXT PRIMARY KEY,
  track TEXT NOT NULL,
  version TEXT NOT NULL,
  ref TEXT NOT NULL,
  commit_sha TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('pending','running','completed','failed','rolled_back')),
  stage TEXT NOT NULL,
  reason TEXT,
  code TEXT,
  retry_of TEXT REFERENCES runs(id),
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  finished_at INTEGER,
  lease_owner TEXT,
  lease_pid INTEGER,
  lease_until INTEGER
);
-- a version runs once per track; a retry (after approval) is the only second run
CREATE UNIQUE INDEX runs_track_version ON runs(track, version) WHERE retry_of IS NULL;
CREATE INDEX runs_track_finished ON runs(track, status, finished_at);

CREATE TABLE snapshots (
  run_id TEXT PRIMARY KEY REFERENCES runs(id),
  machine_version INTEGER NOT NULL,
  state TEXT NOT NULL,
  snapshot TEXT NOT NULL,
  updated_at INTEGER NOT NULL
);

CREATE TABLE stage_results (
  run_id TEXT NOT NULL REFERENCES runs(id),
  stage TEXT NOT NULL,
  outcome TEXT NOT NULL CHECK (outcome IN ('passed','failed','rolled_back','skipped')),
  reason TEXT NOT NULL,
  code TEXT,
  evidence TEXT NOT NULL,
  started_at INTEGER NOT NULL,
  finished_at INTEGER NOT NULL,
  attempts INTEGER NOT NULL,
  PRIMARY KEY (run_id, stage)
);

CREATE TABLE stage_attempts (
  run_id TEXT NOT NULL REFERENCES runs(id),
  stage TEXT NOT NULL,
  attempt INTEGER NOT NULL,
  started_at INTEGER NOT NULL,
  pid INTEGER,
  PRIMARY KEY (run_id, stage, attempt)
);

CREATE TABLE events (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  at INTEGER NOT NULL,
  run_id TEXT,
  stage TEXT,
  kind TEXT NOT NULL,
  actor TEXT NOT NULL,
  data TEXT NOT NULL
);
CREATE INDEX events_run ON events(run_id, seq);
CREATE TRIGGER events_no_update BEFORE UPDATE ON events BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
CREATE TRIGGER events_no_delete BEFORE DELETE ON events BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;

CREATE TABLE benchmark_snapshots (
  run_id TEXT NOT NULL REFERENCES runs(id),
  suite TEXT NOT NULL,
  track TEXT NOT NULL,
  version TEXT NOT NULL,
  commit_sha TEXT NOT NULL,
  metrics TEXT NOT NULL,
  samples TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (run_id, suite)
);

CREATE TABLE manifests (
  track TEXT NOT NULL,
  seq INTEGER NOT NULL,
  run_id TEXT NOT NULL REFERENCES runs(id),
  kind TEXT NOT NULL CHECK (kind IN ('release','rollback')),
  -- why the run signed it: the release (SIGN), its canary-targeted copy (CANARY), the
  -- fleet-wide copy after a canary (DEPLOY, so its seq is above the canary's), a rollback
  purpose TEXT NOT NULL CHECK (purpose IN ('release','canary','deploy','rollback')),
  version TEXT NOT NULL,
  commit_sha TEXT NOT NULL,
  payload BLOB NOT NULL,
  envelope TEXT,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (track, seq),
  UNIQUE (run_id, purpose)
);
-- the bytes of a reserved manifest never change once written
CREATE TRIGGER manifests_payload_fixed BEFORE UPDATE OF payload, track, seq ON manifests BEGIN SELECT RAISE(ABORT, 'manifest payload is immutable'); END;
CREATE TRIGGER manifests_envelope_once BEFORE UPDATE OF envelope ON manifests WHEN OLD.envelope IS NOT NULL AND NEW.envelope IS NOT OLD.envelope BEGIN SELECT RAISE(ABORT, 'manifest envelope is immutable'); END;

CREATE TABLE floors (
  track TEXT PRIMARY KEY,
  seq INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);

CREATE TABLE approvals (
  run_id TEXT PRIMARY KEY REFERENCES runs(id),
  by TEXT NOT NULL,
  reason TEXT NOT NULL,
  at INTEGER NOT NULL
);

CREATE TABLE run_commands (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  run_id TEXT NOT NULL REFERENCES runs(id),
  kind TEXT NOT NULL,
  reason TEXT NOT NULL,
  by TEXT NOT NULL,
  at INTEGER NOT NULL,
  consumed_at INTEGER
);

CREATE TABLE kv (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
`,
  },
  MIGRATION_002_NODE,
  MIGRATION_003_IDENTITY,
  MIGRATION_004_RUN_FACTS,
  MIGRATION_005_RETRIES,
  MIGRATION_006_SOURCE_POLLS,
  MIGRATION_007_RUN_PLANS,
  MIGRATION_008_FLEET_STATE,
  MIGRATION_009_DEPLOYMENTS,
  MIGRATION_010_BENCHMARK_REGISTRY,
  MIGRATION_011_FLEET_ROLES,
  MIGRATION_012_FLEET_CHANNEL,
];
