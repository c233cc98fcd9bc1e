// Migration 3: fleet identity. One-time join tokens (stored hashed), the certificates the
// authority issued, revocations (by node and serial, so gossip can carry them to nodes
// that never saw the certificates), and the peers a node knows.
export const MIGRATION_003_IDENTITY = {
  version: 3,
  name: 'identity',
  sql: `
CREATE TABLE join_tokens (
  -- sha256 (hex) of the token text; the token itself is printed once and never stored
  token_hash TEXT PRIMARY KEY,
  labels TEXT NOT NULL,
  -- when set, only this node id may redeem the token
  node_id TEXT,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  used_at INTEGER,
  used_by TEXT,
  CHECK ((used_at IS NULL) = (used_by IS NULL))
);
-- a token is spent once: nothing may un-spend it or spend it again
CREATE TRIGGER join_tokens_spent_once BEFORE UPDATE OF used_at, used_by ON join_tokens WHEN OLD.used_at IS NOT NULL
  BEGIN SELECT RAISE(ABORT, 'join token already used'); END;

CREATE TABLE node_certs (
  -- fleet-wide and increasing; never reused
  serial INTEGER PRIMARY KEY,
  node_id TEXT NOT NULL,
  public_key TEXT NOT NULL,
  labels TEXT NOT NULL,
  cert TEXT NOT NULL,
  issued_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  token_hash TEXT REFERENCES join_tokens(token_hash)
);
CREATE INDEX node_certs_node ON node_certs(node_id, serial);
CREATE TRIGGER node_certs_immutable BEFORE UPDATE ON node_certs BEGIN SELECT RAISE(ABORT, 'issued certificates are immutable'); END;

CREATE TABLE cert_revocations (
  node_id TEXT NOT NULL,
  -- every certificate of node_id with a serial up to and including this one is revoked
  serial INTEGER NOT NULL,
  revoked_at INTEGER NOT NULL,
  reason TEXT NOT NULL,
  PRIMARY KEY (node_id, serial)
);

CREATE TABLE peers (
  node_id TEXT PRIMARY KEY,
  url TEXT NOT NULL,
  cert TEXT,
  labels TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('alive','suspect','dead')),
  last_seen INTEGER NOT NULL,
  heartbeat TEXT
);
`,
};
