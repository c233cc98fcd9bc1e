// Migration 5: one approval, one retry. A run that failed its audit is retried at most
// once, whoever approves it and however many processes approve it at the same instant.
//
// The rule lives in its own table rather than a unique index on runs.retry_of: a database
// written before it may already hold two retries of one run (the bug this fixes), and runs
// are history that is never rewritten. The first retry of each run is taken over as its
// one retry; every retry inserted from now on claims its slot through the trigger, so a
// second one aborts its own INSERT with a constraint error, whichever code path made it.
export const MIGRATION_005_RETRIES = {
  version: 5,
  name: 'one-retry',
  sql: `
CREATE TABLE run_retries (
  retry_of TEXT PRIMARY KEY REFERENCES runs(id),
  run_id TEXT NOT NULL UNIQUE REFERENCES runs(id)
);
INSERT INTO run_retries (retry_of, run_id)
  SELECT r.retry_of, r.id FROM runs r
  WHERE r.retry_of IS NOT NULL
    AND r.rowid = (SELECT x.rowid FROM runs x WHERE x.retry_of = r.retry_of
                   ORDER BY x.created_at, x.rowid LIMIT 1);
CREATE TRIGGER runs_one_retry AFTER INSERT ON runs WHEN NEW.retry_of IS NOT NULL
  BEGIN INSERT INTO run_retries (retry_of, run_id) VALUES (NEW.retry_of, NEW.id); END;
CREATE TRIGGER runs_retry_of_fixed BEFORE UPDATE OF retry_of ON runs WHEN NEW.retry_of IS NOT OLD.retry_of
  BEGIN SELECT RAISE(ABORT, 'runs.retry_of is fixed at creation'); END;
`,
};
