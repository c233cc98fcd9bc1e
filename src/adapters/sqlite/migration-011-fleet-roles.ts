// Migration 11: a node's role on a track as its heartbeat says (`canary` while the manifest it
// runs names it a canary wave of a deployment), kept with the rest of the read model so
// `fleet ls` and status can mark canaries. NULL: no role.
export const MIGRATION_011_FLEET_ROLES = {
  version: 11,
  name: 'fleet-roles',
  sql: `ALTER TABLE fleet_tracks ADD COLUMN role TEXT CHECK (role IS NULL OR role IN ('canary'));`,
};
