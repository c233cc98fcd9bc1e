// The parts of `upshift daemon` that only an authority replica on PostgreSQL has, loaded by
// daemon.ts only then (so other nodes never load pg): the replica (campaign, fencing) and
// what status says of the store. The leader's executor of queued commands and the follower's
// tool door call services and tools, so the CLI hands them in (daemon.ts ReplicaParts).
import type { Config } from '../core/config.js';
import type { Logger } from '../adapters/logger.js';
import type { ReplicaSession } from '../adapters/postgres/replica-session.js';
import { authorityInfo, type AuthorityInfo } from './authority-info.js';
import { pgTarget, postgresStore, replicaName } from './pg-target.js';
import { Replica } from './replica.js';

export function createReplica(config: Config, session: ReplicaSession, log: Logger): Replica | null {
  const pg = postgresStore(config);
  if (!pg) return null;
  return new Replica({
    target: pgTarget(pg), fleet: config.fleet, replica: replicaName(config, pg), stallTimeoutMs: pg.stall_timeout, session, log,
  });
}

/** For /v1/status: the leader, replicas and standbys, with this replica's own name. */
export function storeStatus(config: Config, session: ReplicaSession): () => Promise<AuthorityInfo & { replica: string | null }> {
  const pg = postgresStore(config);
  return async () => ({ ...await authorityInfo(session.pool, config.fleet), replica: pg ? replicaName(config, pg) : null });
}
