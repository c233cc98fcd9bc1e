// PostgreSQL migration 3: the fleet side of the authority's state, with SQLite's table and
// column names (migrations 3, 8, 9, 10, 11 there): identity, the fleet read model, deployments
// and the benchmark registry. Times are epoch ms (bigint). Signed bytes are kept byte for byte:
// payloads as bytea, envelopes and certificates as text, never jsonb (which would reorder keys).
// The immutability rules SQLite keeps in triggers are triggers here too.
import type { PgMigration } from './migrate.js';

export const PG_MIGRATION_003_FLEET: PgMigration = {
  version: 3,
  name: 'fleet',
  sql: `
CREATE FUNCTION fleet_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '%', TG_ARGV[0] USING ERRCODE = 'restrict_violation';
END $$;

CREATE TABLE join_tokens (
  -- sha256 (hex) of the token text; the token itself is printed once and never stored
  token_hash text PRIMARY KEY,
  labels text NOT NULL,
  -- when set, only this node id may redeem the token
  node_id text,
  created_at bigint NOT NULL,
  expires_at bigint NOT NULL,
  used_at bigint,
  used_by text,
  CHECK ((used_at IS NULL) = (used_by IS NULL))
);
-- a token is spent once: nothing may un-spend it or spend it again
CREATE TRIGGER join_tokens_spent_once BEFORE UPDATE OF used_at, used_by ON join_tokens
  FOR EACH ROW WHEN (OLD.used_at IS NOT NULL) EXECUTE FUNCTION fleet_refuse('join token already used');

CREATE TABLE node_certs (
  -- fleet-wide and increasing; never reused
  serial bigint PRIMARY KEY,
  node_id text NOT NULL,
  public_key text NOT NULL,
  labels text NOT NULL,
  cert text NOT NULL,
  issued_at bigint NOT NULL,
  expires_at bigint NOT NULL,
  token_hash text REFERENCES join_tokens(token_hash)
);
CREATE INDEX node_certs_node ON node_certs(node_id, serial);
CREATE TRIGGER node_certs_immutable BEFORE UPDATE ON node_certs
  FOR EACH ROW EXECUTE FUNCTION fleet_refuse('issued certificates are immutable');

CREATE TABLE cert_revocations (
  node_id text NOT NULL,
  -- every certificate of node_id with a serial up to and including this one is revoked
  serial bigint NOT NULL,
  revoked_at bigint NOT NULL,
  reason text NOT NULL,
  PRIMARY KEY (node_id, serial)
);

CREATE TABLE peers (
  node_id text PRIMARY KEY,
  url text NOT NULL,
  cert text,
  labels text NOT NULL,
  state text NOT NULL CHECK (state IN ('alive','suspect','dead')),
  last_seen bigint NOT NULL,
  heartbeat text
);

CREATE TABLE fleet_nodes (
  node text PRIMARY KEY,
  heard_at bigint NOT NULL,
  labels text NOT NULL,
  health text NOT NULL CHECK (health IN ('ok','failing','unknown')),
  error_rate double precision,
  -- NULL: the node runs no smoke benchmark
  smoke_regressed boolean,
  smoke_detail text,
  -- the channel the node was last heard on (gossip, nats); NULL: not said
  channel text,
  CHECK ((smoke_regressed IS NULL) = (smoke_detail IS NULL))
);
CREATE INDEX fleet_nodes_heard ON fleet_nodes(heard_at);
CREATE TABLE fleet_tracks (
  node text NOT NULL REFERENCES fleet_nodes(node) ON DELETE CASCADE,
  track text NOT NULL,
  version text,
  seq bigint,
  apply text NOT NULL,
  reason text,
  code_hash text,
  role text CHECK (role IS NULL OR role IN ('canary')),
  PRIMARY KEY (node, track)
);

CREATE TABLE deployments (
  id text PRIMARY KEY,
  key text NOT NULL,
  number integer NOT NULL,
  track text NOT NULL,
  -- the pipeline run whose DEPLOY made it; NULL for one started by an operator or agent
  run_id text,
  kind text NOT NULL CHECK (kind IN ('release','rollback')),
  source_version text,
  source_commit text,
  target_version text NOT NULL,
  target_commit text NOT NULL,
  target_code_hash text NOT NULL,
  target_run text NOT NULL,
  strategy text NOT NULL,
  policy text NOT NULL,
  urgent boolean NOT NULL DEFAULT false,
  status text NOT NULL CHECK (status IN ('running','paused','waiting_promote','succeeded','failed','reverted')),
  state text NOT NULL,
  health text NOT NULL,
  rollback_target text,
  rollback_of integer,
  reason text,
  rev integer NOT NULL DEFAULT 0,
  created_at bigint NOT NULL,
  updated_at bigint NOT NULL,
  finished_at bigint,
  UNIQUE (key, number)
);
CREATE UNIQUE INDEX deployments_run ON deployments(run_id) WHERE run_id IS NOT NULL;
CREATE INDEX deployments_active ON deployments(status) WHERE status IN ('running','paused','waiting_promote');
-- what a deployment is, once written, stays: only its progress moves
CREATE TRIGGER deployments_fixed
  BEFORE UPDATE OF id, key, number, track, kind, target_commit, target_version, policy, rollback_target ON deployments
  FOR EACH ROW EXECUTE FUNCTION fleet_refuse('a deployment''s identity, target and policy are fixed');

CREATE TABLE deployment_events (
  seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  deployment_id text,
  at bigint NOT NULL,
  kind text NOT NULL,
  actor text NOT NULL,
  -- control actions: accepted | refused
  outcome text NOT NULL,
  data text NOT NULL
);
CREATE INDEX deployment_events_of ON deployment_events(deployment_id, seq);
CREATE TRIGGER deployment_events_append_only BEFORE UPDATE OR DELETE ON deployment_events
  FOR EACH ROW EXECUTE FUNCTION fleet_refuse('deployment events are append-only');

CREATE TABLE deployment_manifests (
  deployment_id text NOT NULL REFERENCES deployments(id),
  -- canary, wave-N, complete, revert
  step text NOT NULL,
  track text NOT NULL,
  seq bigint NOT NULL,
  targets text NOT NULL,
  payload bytea NOT NULL,
  envelope text,
  created_at bigint NOT NULL,
  PRIMARY KEY (track, seq),
  UNIQUE (deployment_id, step)
);
CREATE TRIGGER deployment_manifests_payload_fixed BEFORE UPDATE OF payload, track, seq, targets ON deployment_manifests
  FOR EACH ROW EXECUTE FUNCTION fleet_refuse('manifest payload is immutable');
CREATE TRIGGER deployment_manifests_envelope_once BEFORE UPDATE OF envelope ON deployment_manifests
  FOR EACH ROW WHEN (OLD.envelope IS NOT NULL AND NEW.envelope IS DISTINCT FROM OLD.envelope)
  EXECUTE FUNCTION fleet_refuse('manifest envelope is immutable');

CREATE TABLE benchmark_repos (
  name text PRIMARY KEY,
  repo_url text NOT NULL,
  ref text NOT NULL,
  commit_sha text NOT NULL,
  command text NOT NULL,
  tier text NOT NULL CHECK (tier IN ('fast','heavy')),
  registered_at bigint NOT NULL,
  registered_by text NOT NULL
);
CREATE TABLE benchmark_captures (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  suite text NOT NULL,
  version text NOT NULL,
  commit_sha text NOT NULL,
  tier text NOT NULL,
  metrics text NOT NULL,
  samples text NOT NULL,
  created_at bigint NOT NULL,
  actor text NOT NULL
);
CREATE INDEX benchmark_captures_version ON benchmark_captures(version, suite, id);

-- /metrics reads stage results incrementally by position, as SQLite's rowid (tallies.ts);
-- the leader's writes are serialized, so positions are handed out in commit order
ALTER TABLE stage_results ADD COLUMN IF NOT EXISTS rowid bigint GENERATED ALWAYS AS IDENTITY;
CREATE UNIQUE INDEX IF NOT EXISTS stage_results_rowid ON stage_results(rowid);
`,
};
