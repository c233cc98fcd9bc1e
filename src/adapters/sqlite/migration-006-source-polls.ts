// Migration 6: the outcome of the authority's last poll of its source, so readiness,
// status and metrics can show a source that cannot be fetched or a tracked branch that
// does not exist (issue 9: both used to be a log line at most). One row for the poll,
// one row per branch track for whether its branch was found by the last good poll.
export const MIGRATION_006_SOURCE_POLLS = {
  version: 6,
  name: 'source-polls',
  sql: `
CREATE TABLE source_poll (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  at INTEGER NOT NULL,
  ok INTEGER NOT NULL CHECK (ok IN (0, 1)),
  code TEXT,
  message TEXT,
  CHECK ((ok = 1) = (code IS NULL))
);
CREATE TABLE source_branches (
  track TEXT PRIMARY KEY,
  branch TEXT NOT NULL,
  present INTEGER NOT NULL CHECK (present IN (0, 1)),
  checked_at INTEGER NOT NULL
);
`,
};
