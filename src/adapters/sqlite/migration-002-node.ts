// Migration 2: the node side. The apply journal (SPEC "Node agent": verified → staged →
// switching → probation → confirmed | rolled_back), versions marked bad on this node, and
// the manifest each track last received.
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
  kind TEXT NOT NULL,
  release_dir TEXT NOT NULL,
  previous_dir TEXT,
  state TEXT NOT NULL CHECK (state IN ('verified','staged','switching','probation','confirmed','rolled_back','failed')),
  reason TEXT,
  code TEXT,
  started_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  finished_at INTEGER
);
CREATE INDEX applies_track ON applies(track, id);

CREATE TABLE apply_steps (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  apply_id INTEGER NOT NULL REFERENCES applies(id),
  at INTEGER NOT NULL,
  state TEXT NOT NULL,
  note TEXT NOT NULL
);
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
