// The fleet-side ports of the PostgreSQL store (identity, fleet read model, tallies,
// deployments, benchmark registry), each over the store's session.
import type { FleetPorts } from '../adapters/postgres/store.js';
import type { PgSession } from '../adapters/postgres/session.js';
import { PgIdentity } from '../adapters/postgres/identity.js';
import { PgFleetState } from '../adapters/postgres/fleet-state.js';
import { PgTallies } from '../adapters/postgres/tallies.js';
import { PgDeployments } from '../adapters/postgres/deployments.js';
import { PgBenchmarkRegistry } from '../adapters/postgres/benchmark-registry.js';

export function pgFleetPorts(session: PgSession, now: () => number): FleetPorts {
  return {
    identity: new PgIdentity(session, now), fleet: new PgFleetState(session, now), tallies: new PgTallies(session, now),
    deployments: new PgDeployments(session, now), benchmarkRegistry: new PgBenchmarkRegistry(session, now),
  };
}
