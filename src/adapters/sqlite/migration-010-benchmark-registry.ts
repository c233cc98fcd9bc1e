// Migration 10: the benchmark registry of the agent tools. `benchmark_repos` holds the
// benchmark repositories registered beside the project's own suites, each pinned to the
// commit fetched at registration; `benchmark_captures` holds snapshots taken on demand
// (`capture_benchmark`), outside any run, so BENCHMARK's run snapshots stay what they are.
export const MIGRATION_010_BENCHMARK_REGISTRY = {
  version: 10,
  name: 'benchmark-registry',
  sql: `
CREATE TABLE benchmark_repos (
  name TEXT PRIMARY KEY,
  repo_url TEXT NOT NULL,
  ref TEXT NOT NULL,
  commit_sha TEXT NOT NULL,
  command TEXT NOT NULL,
  tier TEXT NOT NULL CHECK (tier IN ('fast','heavy')),
  registered_at INTEGER NOT NULL,
  registered_by TEXT NOT NULL
);
CREATE TABLE benchmark_captures (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  suite TEXT NOT NULL,
  version TEXT NOT NULL,
  commit_sha TEXT NOT NULL,
  tier TEXT NOT NULL,
  metrics TEXT NOT NULL,
  samples TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  actor TEXT NOT NULL
);
CREATE INDEX benchmark_captures_version ON benchmark_captures(version, suite, id);
`,
};
