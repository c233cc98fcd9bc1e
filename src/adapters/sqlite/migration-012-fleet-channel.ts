// Migration 12: how the authority last heard each node (core/node-state.ts HeardOn): `nats`,
// `gossip` or `local`, for `fleet ls` and /metrics. NULL: a row written before it was kept.
export const MIGRATION_012_FLEET_CHANNEL = {
  version: 12,
  name: 'fleet-channel',
  sql: `ALTER TABLE fleet_nodes ADD COLUMN channel TEXT CHECK (channel IS NULL OR channel IN ('gossip', 'nats', 'local'));`,
};
