// Migration 9: deployments (issue 12). Each deployment is one version under its key: what
// it moves from and to, its strategy and policy, its status and rollout state, a health
// summary and its rollback target. Its events (every wave, every control action with who
// and its outcome) are append-only, and so are the bytes of the manifests it signs: a
// rollback is a new deployment, never an edit of an old one.
export const MIGRATION_009_DEPLOYMENTS = {
  version: 9,
  name: 'deployments',
  sql: `
CREATE TABLE deployments (
  id TEXT PRIMARY KEY,
  key TEXT NOT NULL,
  number INTEGER NOT NULL,
  track TEXT NOT NULL,
  -- the pipeline run whose DEPLOY made it; NULL for one started by an operator or agent
  run_id TEXT,
  kind TEXT NOT NULL CHECK (kind IN ('release','rollback')),
  source_version TEXT,
  source_commit TEXT,
  target_version TEXT NOT NULL,
  target_commit TEXT NOT NULL,
  target_code_hash TEXT NOT NULL,
  -- the run that built and signed the target (its evidence)
  target_run TEXT NOT NULL,
  strategy TEXT NOT NULL,
  policy TEXT NOT NULL,
  urgent INTEGER NOT NULL DEFAULT 0,
  status TEXT NOT NULL CHECK (status IN ('running','paused','waiting_promote','succeeded','failed','reverted')),
  state TEXT NOT NULL,
  health TEXT NOT NULL,
  -- JSON {number, version, commit, code_hash}: the stable release a revert returns to
  rollback_target TEXT,
  -- a rollback deployment: the version number it brings back
  rollback_of INTEGER,
  reason TEXT,
  rev INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  finished_at INTEGER,
  UNIQUE (key, number)
);
CREATE UNIQUE INDEX deployments_run ON deployments(run_id) WHERE run_id IS NOT NULL;
CREATE INDEX deployments_active ON deployments(status) WHERE status IN ('running','paused','waiting_promote');
-- what a deployment is, once written, stays: only its progress moves
CREATE TRIGGER deployments_fixed BEFORE UPDATE OF id, key, number, track, kind, target_commit, target_version, policy, rollback_target ON deployments
  BEGIN SELECT RAISE(ABORT, 'a deployment''s identity, target and policy are fixed'); END;

CREATE TABLE deployment_events (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  deployment_id TEXT,
  at INTEGER NOT NULL,
  kind TEXT NOT NULL,
  actor TEXT NOT NULL,
  -- control actions: accepted | refused
  outcome TEXT NOT NULL,
  data TEXT NOT NULL
);
CREATE INDEX deployment_events_of ON deployment_events(deployment_id, seq);
CREATE TRIGGER deployment_events_no_update BEFORE UPDATE ON deployment_events BEGIN SELECT RAISE(ABORT, 'deployment events are append-only'); END;
CREATE TRIGGER deployment_events_no_delete BEFORE DELETE ON deployment_events BEGIN SELECT RAISE(ABORT, 'deployment events are append-only'); END;

CREATE TABLE deployment_manifests (
  deployment_id TEXT NOT NULL REFERENCES deployments(id),
  -- canary, wave-N, complete, revert
  step TEXT NOT NULL,
  track TEXT NOT NULL,
  seq INTEGER NOT NULL,
  targets TEXT NOT NULL,
  payload BLOB NOT NULL,
  envelope TEXT,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (track, seq),
  UNIQUE (deployment_id, step)
);
CREATE TRIGGER deployment_manifests_payload_fixed BEFORE UPDATE OF payload, track, seq, targets ON deployment_manifests
  BEGIN SELECT RAISE(ABORT, 'manifest payload is immutable'); END;
CREATE TRIGGER deployment_manifests_envelope_once BEFORE UPDATE OF envelope ON deployment_manifests
  WHEN OLD.envelope IS NOT NULL AND NEW.envelope IS NOT OLD.envelope BEGIN SELECT RAISE(ABORT, 'manifest envelope is immutable'); END;
`,
};
