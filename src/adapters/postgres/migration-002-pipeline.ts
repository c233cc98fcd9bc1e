// PostgreSQL migration 2: the pipeline's state, mirroring the SQLite schema (migrations 1 and
// 4-7) table for table and column for column, so a query reads the same on both. Times are
// epoch-ms bigints; JSON and every signed envelope stay text, so their bytes round-trip
// exactly (jsonb would re-order keys and drop whitespace). The uniqueness rules the
// guarantees rest on live here as they do in SQLite: one manifest per (track, seq), one
// reservation per (run, purpose), one result per (run, stage), one retry per run.
// `rowid` columns stand in for SQLite's implicit rowid where a query orders by insertion.
// Text keys that are sorted or range-scanned use the "C" collation: byte order, as SQLite.
const fixed = (name: string, table: string, message: string, when = 'true', of = ''): string => `
CREATE FUNCTION ${name}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF ${when} THEN RAISE EXCEPTION '${message}' USING ERRCODE = 'restrict_violation'; END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER ${name} BEFORE ${of || 'UPDATE'} ON ${table} FOR EACH ROW EXECUTE FUNCTION ${name}();`;

export const PG_MIGRATION_002_PIPELINE = {
  version: 2,
  name: 'pipeline',
  sql: `
CREATE TABLE runs (
  rowid bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
  id text PRIMARY KEY,
  track text COLLATE "C" NOT NULL,
  version text NOT NULL,
  ref text NOT NULL,
  commit_sha text NOT NULL,
  status text NOT NULL CHECK (status IN ('pending','running','completed','failed','rolled_back')),
  stage text NOT NULL,
  reason text,
  code text,
  retry_of text REFERENCES runs(id),
  created_at bigint NOT NULL,
  updated_at bigint NOT NULL,
  finished_at bigint,
  lease_owner text,
  lease_pid integer,
  lease_until bigint
);
-- a version runs once per track; a retry (after approval) is the only second run
CREATE UNIQUE INDEX runs_track_version ON runs(track, version) WHERE retry_of IS NULL;
CREATE INDEX runs_track_finished ON runs(track, status, finished_at);

-- one retry per run, whichever path inserts it (SQLite migration 5)
CREATE TABLE run_retries (
  retry_of text PRIMARY KEY REFERENCES runs(id),
  run_id text NOT NULL UNIQUE REFERENCES runs(id)
);
CREATE FUNCTION runs_one_retry() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO run_retries (retry_of, run_id) VALUES (NEW.retry_of, NEW.id);
  RETURN NEW;
END $$;
CREATE TRIGGER runs_one_retry AFTER INSERT ON runs FOR EACH ROW WHEN (NEW.retry_of IS NOT NULL)
  EXECUTE FUNCTION runs_one_retry();
${fixed('runs_retry_of_fixed', 'runs', 'runs.retry_of is fixed at creation', 'NEW.retry_of IS DISTINCT FROM OLD.retry_of')}

CREATE TABLE snapshots (
  run_id text PRIMARY KEY REFERENCES runs(id),
  machine_version integer NOT NULL,
  state text NOT NULL,
  snapshot text NOT NULL,
  updated_at bigint NOT NULL
);

CREATE TABLE stage_results (
  rowid bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
  run_id text NOT NULL REFERENCES runs(id),
  stage text NOT NULL,
  outcome text NOT NULL CHECK (outcome IN ('passed','failed','rolled_back','skipped')),
  reason text NOT NULL,
  code text,
  evidence text NOT NULL,
  started_at bigint NOT NULL,
  finished_at bigint NOT NULL,
  attempts integer NOT NULL,
  PRIMARY KEY (run_id, stage)
);

CREATE TABLE stage_attempts (
  run_id text NOT NULL REFERENCES runs(id),
  stage text NOT NULL,
  attempt integer NOT NULL,
  started_at bigint NOT NULL,
  pid integer,
  PRIMARY KEY (run_id, stage, attempt)
);

CREATE TABLE run_facts (
  run_id text PRIMARY KEY REFERENCES runs(id),
  code_hash text CHECK (code_hash IS NULL OR length(code_hash) = 64),
  test_passed integer,
  test_failed integer,
  test_skipped integer,
  test_pass_rate double precision,
  -- JSON: { baseline_version, metrics: { "suite.metric": { value, better, baseline, change, worse } } }
  benchmark text,
  CHECK ((test_passed IS NULL) = (test_pass_rate IS NULL))
);

CREATE TABLE events (
  seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at bigint NOT NULL,
  run_id text,
  stage text,
  kind text NOT NULL,
  actor text NOT NULL,
  data text NOT NULL
);
CREATE INDEX events_run ON events(run_id, seq);
CREATE INDEX events_kind ON events(kind, seq);
${fixed('events_append_only', 'events', 'events are append-only', 'true', 'UPDATE OR DELETE')}

CREATE TABLE benchmark_snapshots (
  run_id text NOT NULL REFERENCES runs(id),
  suite text COLLATE "C" NOT NULL,
  track text NOT NULL,
  version text NOT NULL,
  commit_sha text NOT NULL,
  metrics text NOT NULL,
  samples text NOT NULL,
  created_at bigint NOT NULL,
  PRIMARY KEY (run_id, suite)
);

CREATE TABLE manifests (
  track text COLLATE "C" NOT NULL,
  seq bigint NOT NULL CHECK (seq > 0),
  run_id text NOT NULL REFERENCES runs(id),
  kind text NOT NULL CHECK (kind IN ('release','rollback')),
  purpose text NOT NULL CHECK (purpose IN ('release','canary','deploy','rollback')),
  version text NOT NULL,
  commit_sha text NOT NULL,
  payload bytea NOT NULL,
  envelope text,
  created_at bigint NOT NULL,
  CONSTRAINT manifests_track_seq PRIMARY KEY (track, seq),
  CONSTRAINT manifests_run_purpose UNIQUE (run_id, purpose)
);
-- the bytes of a reserved manifest never change once written; its envelope is set once
${fixed('manifests_payload_fixed', 'manifests', 'manifest payload is immutable',
    'NEW.payload IS DISTINCT FROM OLD.payload OR NEW.track IS DISTINCT FROM OLD.track OR NEW.seq IS DISTINCT FROM OLD.seq')}
${fixed('manifests_envelope_once', 'manifests', 'manifest envelope is immutable',
    'OLD.envelope IS NOT NULL AND NEW.envelope IS DISTINCT FROM OLD.envelope')}

CREATE TABLE floors (
  track text COLLATE "C" PRIMARY KEY,
  seq bigint NOT NULL,
  updated_at bigint NOT NULL
);

CREATE TABLE approvals (
  run_id text PRIMARY KEY REFERENCES runs(id),
  "by" text NOT NULL,
  reason text NOT NULL,
  at bigint NOT NULL
);

CREATE TABLE run_commands (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  run_id text NOT NULL REFERENCES runs(id),
  kind text NOT NULL,
  reason text NOT NULL,
  "by" text NOT NULL,
  at bigint NOT NULL,
  consumed_at bigint
);
CREATE INDEX run_commands_pending ON run_commands(run_id, id) WHERE consumed_at IS NULL;

CREATE TABLE kv (
  key text COLLATE "C" PRIMARY KEY,
  value text NOT NULL
);

CREATE TABLE source_poll (
  id integer PRIMARY KEY CHECK (id = 1),
  at bigint NOT NULL,
  ok integer NOT NULL CHECK (ok IN (0, 1)),
  code text,
  message text,
  CHECK ((ok = 1) = (code IS NULL))
);
CREATE TABLE source_branches (
  track text COLLATE "C" PRIMARY KEY,
  branch text NOT NULL,
  present integer NOT NULL CHECK (present IN (0, 1)),
  checked_at bigint NOT NULL
);

CREATE TABLE canary_plans (
  run_id text PRIMARY KEY REFERENCES runs(id),
  -- JSON array of node ids; [] when there were no candidates (the stage was skipped)
  canaries text NOT NULL,
  selection text NOT NULL,
  selected_at bigint NOT NULL,
  confirm_by bigint NOT NULL
);
CREATE TABLE canary_confirms (
  run_id text NOT NULL REFERENCES runs(id),
  node text NOT NULL,
  confirmed_at bigint NOT NULL,
  PRIMARY KEY (run_id, node)
);
CREATE TABLE run_deadlines (
  run_id text NOT NULL REFERENCES runs(id),
  purpose text NOT NULL,
  at bigint NOT NULL,
  PRIMARY KEY (run_id, purpose)
);
-- a plan, a confirmation and a deadline are fixed once: a restart reads them, never rewrites them
${fixed('canary_plans_fixed', 'canary_plans', 'canary plans are fixed once chosen')}
${fixed('canary_confirms_fixed', 'canary_confirms', 'canary confirmations are fixed')}
${fixed('run_deadlines_fixed', 'run_deadlines', 'deadlines are fixed once set')}
`,
};
