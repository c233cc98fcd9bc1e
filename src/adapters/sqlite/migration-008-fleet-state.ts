// Migration 8: the fleet read model (issue 7). The latest heartbeat of each node in typed
// rows instead of one JSON kv row per node (`gossip.heartbeat.<node>`) read back by a range
// scan: one row per node (when heard, labels, app health, error rate, smoke verdict) and one
// per node and track (version, seq, apply state, reason, code hash). Only the current state
// is kept, so the tables grow with the fleet, not with time; nodes long unheard are dropped
// (fleet-state.ts). The kv rows an older version kept are carried over, their packed apply
// state (`testnet=confirmed#4,...`) unpacked here, then deleted; a row past the size a
// heartbeat may have (one kept before the bounds existed) is dropped, not carried.
export const MIGRATION_008_FLEET_STATE = {
  version: 8,
  name: 'fleet-state',
  sql: `
CREATE TABLE fleet_nodes (
  node TEXT PRIMARY KEY,
  heard_at INTEGER NOT NULL,
  labels TEXT NOT NULL,
  health TEXT NOT NULL CHECK (health IN ('ok','failing','unknown')),
  error_rate REAL,
  -- NULL: the node runs no smoke benchmark
  smoke_regressed INTEGER CHECK (smoke_regressed IN (0, 1)),
  smoke_detail TEXT,
  CHECK ((smoke_regressed IS NULL) = (smoke_detail IS NULL))
);
CREATE INDEX fleet_nodes_heard ON fleet_nodes(heard_at);
CREATE TABLE fleet_tracks (
  node TEXT NOT NULL REFERENCES fleet_nodes(node) ON DELETE CASCADE,
  track TEXT NOT NULL,
  version TEXT,
  seq INTEGER,
  apply TEXT NOT NULL,
  reason TEXT,
  code_hash TEXT,
  PRIMARY KEY (node, track)
);

CREATE TEMP TABLE old_heartbeats AS
  SELECT json_extract(value, '$.at') AS at, json_extract(value, '$.heartbeat') AS hb
  FROM kv
  WHERE key >= 'gossip.heartbeat.' AND key < 'gossip.heartbeat/' AND length(value) <= 65536 AND json_valid(value)
    AND json_type(value, '$.at') = 'integer'
    AND json_extract(value, '$.heartbeat.node') = substr(key, length('gossip.heartbeat.') + 1)
    AND json_extract(value, '$.heartbeat.health') IN ('ok','failing','unknown')
    AND json_type(value, '$.heartbeat.versions') = 'object' AND json_type(value, '$.heartbeat.labels') = 'object'
    AND json_type(value, '$.heartbeat.apply_state') = 'text'
    AND (SELECT count(*) FROM json_each(value, '$.heartbeat.labels')) <= 32
    AND (SELECT count(*) FROM json_each(value, '$.heartbeat.versions')) <= 32;
INSERT INTO fleet_nodes (node, heard_at, labels, health, error_rate, smoke_regressed, smoke_detail)
  SELECT json_extract(hb, '$.node'), at, json_extract(hb, '$.labels'), json_extract(hb, '$.health'),
    json_extract(hb, '$.error_rate'), json_extract(hb, '$.smoke.regressed'), json_extract(hb, '$.smoke.detail')
  FROM old_heartbeats;
-- a slot per track the heartbeat names a version for; its state and seq from the packed string
INSERT INTO fleet_tracks (node, track, version, seq, apply, reason, code_hash)
  SELECT node, track, version,
    CASE WHEN entry LIKE '%#%' THEN CAST(substr(entry, instr(entry, '#') + 1) AS INTEGER) END,
    CASE WHEN entry IS NULL OR entry = '' THEN 'idle' WHEN entry LIKE '%#%' THEN substr(entry, 1, instr(entry, '#') - 1) ELSE entry END,
    reason, code_hash
  FROM (
    SELECT node, track, version, reason, code_hash,
      CASE WHEN pos > 0 THEN substr(rest, 1, instr(rest, ',') - 1) END AS entry
    FROM (
      SELECT json_extract(o.hb, '$.node') AS node, v.key AS track, v.value AS version,
        NULLIF(json_extract(o.hb, '$.apply_reason.' || json_quote(v.key)), '') AS reason,
        json_extract(o.hb, '$.code_hash.' || json_quote(v.key)) AS code_hash,
        instr(',' || json_extract(o.hb, '$.apply_state') || ',', ',' || v.key || '=') AS pos,
        substr(',' || json_extract(o.hb, '$.apply_state') || ',',
          instr(',' || json_extract(o.hb, '$.apply_state') || ',', ',' || v.key || '=') + length(v.key) + 2) AS rest
      FROM old_heartbeats o, json_each(o.hb, '$.versions') v
    )
  );
DROP TABLE old_heartbeats;
DELETE FROM kv WHERE key >= 'gossip.heartbeat.' AND key < 'gossip.heartbeat/';
-- the peers table kept a second copy of each heartbeat that nothing read
UPDATE peers SET heartbeat = NULL;
`,
};
