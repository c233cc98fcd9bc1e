// Migration 3: fleet identity. One-time join tokens (stored hashed), the certificates the
// authority issued (and revoked), and the peers a node knows.
export const MIGRATION_003_IDENTITY = {
  version: 3,
  name: 'identity',
  sql: `
CREATE TABLE join_tokens (
  token_hash TEXT PRIMARY KEY,
  labels TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  used_at INTEGER,
  used_by TEXT
);

CREATE TABLE node_certs (
  node_id TEXT PRIMARY KEY,
  public_key TEXT NOT NULL,
  serial INTEGER NOT NULL,
  cert TEXT NOT NULL,
  issued_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  revoked_at INTEGER,
  revoke_reason TEXT
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
