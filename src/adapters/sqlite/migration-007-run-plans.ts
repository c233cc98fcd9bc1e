// Migration 7: what CANARY and DEPLOY store for a restart to continue where they were, in
// typed tables instead of kv strings: the canary plan (the chosen canaries, or none), when
// each canary confirmed, and each stage's absolute deadlines. Plans and deadlines stored by
// an older version in kv are carried over.
export const MIGRATION_007_RUN_PLANS = {
  version: 7,
  name: 'run-plans',
  sql: `
CREATE TABLE canary_plans (
  run_id TEXT PRIMARY KEY REFERENCES runs(id),
  -- JSON array of node ids; [] when there were no candidates (the stage was skipped)
  canaries TEXT NOT NULL,
  selection TEXT NOT NULL,
  selected_at INTEGER NOT NULL,
  -- a canary that has not confirmed the release by then fails
  confirm_by INTEGER NOT NULL
);
CREATE TABLE canary_confirms (
  run_id TEXT NOT NULL REFERENCES runs(id),
  node TEXT NOT NULL,
  confirmed_at INTEGER NOT NULL,
  PRIMARY KEY (run_id, node)
);
CREATE TABLE run_deadlines (
  run_id TEXT NOT NULL REFERENCES runs(id),
  purpose TEXT NOT NULL,
  at INTEGER NOT NULL,
  PRIMARY KEY (run_id, purpose)
);
-- a plan, a confirmation and a deadline are fixed once: a restart reads them, never rewrites them
CREATE TRIGGER canary_plans_fixed BEFORE UPDATE ON canary_plans BEGIN SELECT RAISE(ABORT, 'canary plans are fixed once chosen'); END;
CREATE TRIGGER canary_confirms_fixed BEFORE UPDATE ON canary_confirms BEGIN SELECT RAISE(ABORT, 'canary confirmations are fixed'); END;
CREATE TRIGGER run_deadlines_fixed BEFORE UPDATE ON run_deadlines BEGIN SELECT RAISE(ABORT, 'deadlines are fixed once set'); END;

INSERT INTO canary_plans (run_id, canaries, selection, selected_at, confirm_by)
  SELECT r.id,
    CASE WHEN kv.value = 'null' THEN '[]' ELSE json_extract(kv.value, '$.canaries') END,
    CASE WHEN kv.value = 'null' THEN 'no candidates' ELSE COALESCE(json_extract(kv.value, '$.selection'), '') END,
    COALESCE(json_extract(kv.value, '$.selectedAt'), json_extract(kv.value, '$.deadline'), 0),
    COALESCE(json_extract(kv.value, '$.confirmDeadline'), json_extract(kv.value, '$.deadline'), 0)
  FROM kv JOIN runs r ON kv.key = 'run:' || r.id || ':canary';
INSERT INTO canary_confirms (run_id, node, confirmed_at)
  SELECT r.id, j.key, j.value FROM kv JOIN runs r ON kv.key = 'run:' || r.id || ':canary:confirmed', json_each(kv.value) j;
INSERT INTO run_deadlines (run_id, purpose, at)
  SELECT r.id, 'deploy.progress', CAST(kv.value AS INTEGER) FROM kv JOIN runs r ON kv.key = 'run:' || r.id || ':deploy:deadline';
DELETE FROM kv WHERE key LIKE 'run:%:canary' OR key LIKE 'run:%:canary:confirmed' OR key LIKE 'run:%:deploy:deadline';
`,
};
