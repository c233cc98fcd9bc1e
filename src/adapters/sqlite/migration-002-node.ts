// Migration 2: the node side. The apply journal (SPEC "Node agent": verified → staged →
// switching → probation → confirmed | rolled_back), versions marked bad on this node, and
// the manifest each track last received.
//
// Beyond SPEC's five states the journal has `rolling_back` (written before switching back,
// so a crash mid-rollback is finished by reconciliation), `failed` (refused or broken
// before the switch: nothing ran) and `abandoned` (left in verified/staged by a crash).
// Probation deadlines are absolute timestamps so a restarted node continues the same
// probation (SPEC step 5) instead of starting it over.
export const MIGRATION_002_NODE = {
  version: 2,
  name: 'node-apply',
  sql: `
CREATE TABLE applies (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  track TEXT NOT NULL,
  seq INTEGER NOT NULL,
  version TEXT NOT NULL,
  commit_sha TEXT NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('release','rollback')),
  -- what the signed manifest pins, and what this node computed from its checkout
  code_hash TEXT NOT NULL,
  actual_code_hash TEXT,
  -- names under <app.dir>/releases/; previous_dir is what current pointed at when the apply began
  release_dir TEXT NOT NULL,
  previous_dir TEXT,
  state TEXT NOT NULL CHECK (state IN ('verified','staged','switching','probation','rolling_back','confirmed','rolled_back','failed','abandoned')),
  reason TEXT,
  code TEXT,
  healthy_by INTEGER,
  healthy_since INTEGER,
  stable_until INTEGER,
  envelope TEXT NOT NULL,
  started_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  finished_at INTEGER
);
CREATE INDEX applies_track ON applies(track, id);
-- one open apply per node, whatever started it (OTA timer or gossip): the lock file is the
-- first guard, this is the last
CREATE UNIQUE INDEX applies_one_open ON applies((1)) WHERE state IN ('verified','staged','switching','probation','rolling_back');

CREATE TABLE apply_steps (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  apply_id INTEGER NOT NULL REFERENCES applies(id),
  at INTEGER NOT NULL,
  state TEXT NOT NULL,
  note TEXT NOT NULL
);
CREATE INDEX apply_steps_apply ON apply_steps(apply_id, seq);
CREATE TRIGGER apply_steps_no_update BEFORE UPDATE ON apply_steps BEGIN SELECT RAISE(ABORT, 'apply_steps are append-only'); END;
CREATE TRIGGER apply_steps_no_delete BEFORE DELETE ON apply_steps BEGIN SELECT RAISE(ABORT, 'apply_steps are append-only'); END;

CREATE TABLE bad_versions (
  track TEXT NOT NULL,
  commit_sha TEXT NOT NULL,
  version TEXT NOT NULL,
  reason TEXT NOT NULL,
  at INTEGER NOT NULL,
  PRIMARY KEY (track, commit_sha)
);
`,
};
