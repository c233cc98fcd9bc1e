// What `upshift authority status` and `status` say of an authority on PostgreSQL: the leader
// and its epoch, the replicas and their last renewal, and whether the primary waits for a
// synchronous standby (README: required, or a failover can lose a published seq).
import type { Config } from '../core/config.js';
import { connectPrimary } from '../adapters/postgres/connect.js';
import { readLeader } from '../adapters/postgres/leader.js';
import { listReplicas, replicationState, type ReplicationState } from '../adapters/postgres/replicas.js';
import type { Queryable } from '../adapters/postgres/session.js';
import { pgTarget, postgresStore } from './pg-target.js';

export interface AuthorityInfo {
  store: 'postgres';
  fleet: string;
  leader: { replica: string; epoch: number; renewed_ago_ms: number } | null;
  replicas: Array<{ replica: string; host: string; pid: number; leader: boolean; renewed_ago_ms: number; started_at: string }>;
  replication: { synchronous: boolean; synchronous_standby_names: string; standbys: ReplicationState['standbys'] };
}

export async function authorityInfo(q: Queryable, fleet: string): Promise<AuthorityInfo> {
  const leader = await readLeader(q, fleet);
  const replicas = await listReplicas(q, fleet);
  const repl = await replicationState(q);
  return {
    store: 'postgres',
    fleet,
    leader: leader ? { replica: leader.replica, epoch: leader.epoch, renewed_ago_ms: Math.round(leader.renewedAgoMs) } : null,
    replicas: replicas.map((r) => ({
      replica: r.replica, host: r.host, pid: r.pid, leader: r.replica === leader?.replica,
      renewed_ago_ms: r.renewedAgoMs, started_at: new Date(r.startedAt).toISOString(),
    })),
    replication: { synchronous: repl.synchronous, synchronous_standby_names: repl.synchronousStandbyNames, standbys: repl.standbys },
  };
}

/** For a process with no connection of its own (the CLI): connect to the primary, ask, disconnect. */
export async function readAuthorityInfo(config: Config): Promise<AuthorityInfo | null> {
  const st = postgresStore(config);
  if (!st) return null;
  const client = await connectPrimary(pgTarget(st, 'upshift-cli'));
  try {
    return await authorityInfo(client, config.fleet);
  } finally {
    await client.end().catch(() => undefined);
  }
}
