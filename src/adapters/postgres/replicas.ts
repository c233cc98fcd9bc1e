// The replicas table and the command queue of migration 4, and what the primary says of its
// standbys. Plain functions over a connection: the daemon calls them on its own client, a
// leader finishes a command inside its fenced transaction.
import type { Queryable } from './session.js';

export type QueuedKind = 'approve' | 'rollback' | 'abort' | 'revoke' | 'start'
  | 'deploy' | 'promote' | 'pause' | 'resume' | 'fail' | 'deploy_rollback' | 'bench_register';

export interface QueuedCommand {
  id: number;
  kind: QueuedKind;
  /** A run id (approve, rollback, abort), a node id (revoke), a ref (start), a deployment key or ref, a suite. */
  target: string;
  /** What else the command needs (policy flags, a track, ...): migration 5. */
  args: Record<string, unknown>;
  reason: string;
  by: string;
  acceptedBy: string;
  acceptedAt: number;
  claimedEpoch: number | null;
  doneAt: number | null;
  doneEpoch: number | null;
  doneBy: string | null;
  outcome: 'ok' | 'failed' | null;
  result: Record<string, unknown> | null;
}

export interface ReplicaRow {
  replica: string;
  host: string;
  pid: number;
  startedAt: number;
  renewedAgoMs: number;
}

export interface ReplicationState {
  /** synchronous_standby_names on the primary ('' when none is configured). */
  synchronousStandbyNames: string;
  standbys: Array<{ name: string; state: string; syncState: string }>;
  /** At least one standby is streaming with sync_state sync or quorum. */
  synchronous: boolean;
}

const COLS = `id, kind, target, args, claimed_epoch, reason, by, accepted_by, (extract(epoch FROM accepted_at) * 1000)::float8 AS accepted_at,
  (extract(epoch FROM done_at) * 1000)::float8 AS done_at, done_epoch, done_by, outcome, result`;

const toCommand = (r: Record<string, unknown>): QueuedCommand => ({
  id: Number(r.id), kind: r.kind as QueuedKind, target: r.target as string, args: JSON.parse(r.args as string) as Record<string, unknown>,
  claimedEpoch: r.claimed_epoch === null ? null : Number(r.claimed_epoch), reason: r.reason as string, by: r.by as string,
  acceptedBy: r.accepted_by as string, acceptedAt: Math.round(Number(r.accepted_at)),
  doneAt: r.done_at === null ? null : Math.round(Number(r.done_at)), doneEpoch: r.done_epoch === null ? null : Number(r.done_epoch),
  doneBy: r.done_by as string | null, outcome: r.outcome as QueuedCommand['outcome'],
  result: r.result === null ? null : JSON.parse(r.result as string) as Record<string, unknown>,
});

export async function enqueueCommand(q: Queryable, fleet: string,
  c: { kind: QueuedKind; target: string; args?: Record<string, unknown>; reason: string; by: string; acceptedBy: string },
): Promise<number> {
  const { rows } = await q.query<{ id: string }>(
    `INSERT INTO upshift_commands (fleet, kind, target, args, reason, by, accepted_by)
          VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
    [fleet, c.kind, c.target, JSON.stringify(c.args ?? {}), c.reason, c.by, c.acceptedBy]);
  return Number(rows[0]?.id);
}

/** Commands not carried out yet, oldest first. */
export async function pendingCommands(q: Queryable, fleet: string, limit = 20): Promise<QueuedCommand[]> {
  const { rows } = await q.query(`SELECT ${COLS} FROM upshift_commands WHERE fleet = $1 AND done_at IS NULL ORDER BY id LIMIT $2`, [fleet, limit]);
  return rows.map(toCommand);
}

export async function getCommand(q: Queryable, id: number): Promise<QueuedCommand | null> {
  const { rows } = await q.query(`SELECT ${COLS} FROM upshift_commands WHERE id = $1`, [id]);
  return rows[0] ? toCommand(rows[0]) : null;
}

/** The leader takes a command before carrying it out: false when the caller withdrew it first. */
export async function claimCommand(q: Queryable, id: number, epoch: number): Promise<boolean> {
  const { rowCount } = await q.query(
    'UPDATE upshift_commands SET claimed_at = clock_timestamp(), claimed_epoch = $2 WHERE id = $1 AND done_at IS NULL',
    [id, epoch]);
  return rowCount === 1;
}

/**
 * A caller that gave up waiting withdraws its command: only one no leader has claimed (so
 * nothing was changed and nothing will be). False when a leader claimed or finished it.
 */
export async function withdrawCommand(q: Queryable, id: number, by: string, result: Record<string, unknown>): Promise<boolean> {
  const { rowCount } = await q.query(
    `UPDATE upshift_commands SET done_at = clock_timestamp(), done_by = $2, outcome = 'failed', result = $3
      WHERE id = $1 AND done_at IS NULL AND claimed_at IS NULL`, [id, by, JSON.stringify(result)]);
  return rowCount === 1;
}

/** Record a command's outcome once; false when it was already done (by this or an earlier leader). */
export async function finishCommand(q: Queryable, id: number,
  done: { epoch: number; replica: string; outcome: 'ok' | 'failed'; result: Record<string, unknown> }): Promise<boolean> {
  const { rowCount } = await q.query(
    `UPDATE upshift_commands SET done_at = clock_timestamp(), done_epoch = $2, done_by = $3, outcome = $4, result = $5
      WHERE id = $1 AND done_at IS NULL`, [id, done.epoch, done.replica, done.outcome, JSON.stringify(done.result)]);
  return rowCount === 1;
}

export async function touchReplica(q: Queryable, fleet: string,
  r: { replica: string; host: string; pid: number; startedAt: number }): Promise<void> {
  await q.query(
    `INSERT INTO upshift_replicas (fleet, replica, host, pid, started_at, renewed_at)
          VALUES ($1, $2, $3, $4, to_timestamp($5 / 1000.0), clock_timestamp())
     ON CONFLICT (fleet, replica) DO UPDATE SET host = $3, pid = $4, started_at = to_timestamp($5 / 1000.0), renewed_at = clock_timestamp()`,
    [fleet, r.replica, r.host, r.pid, r.startedAt]);
}

export async function listReplicas(q: Queryable, fleet: string): Promise<ReplicaRow[]> {
  const { rows } = await q.query<{ replica: string; host: string; pid: number; started: number; ago: number }>(
    `SELECT replica, host, pid, (extract(epoch FROM started_at) * 1000)::float8 AS started,
            (extract(epoch FROM clock_timestamp() - renewed_at) * 1000)::float8 AS ago
       FROM upshift_replicas WHERE fleet = $1 ORDER BY replica`, [fleet]);
  return rows.map((r) => ({ replica: r.replica, host: r.host, pid: r.pid, startedAt: Math.round(r.started), renewedAgoMs: Math.round(r.ago) }));
}

/** Whether the primary waits for a standby before a commit returns (README: required for replicas). */
export async function replicationState(q: Queryable): Promise<ReplicationState> {
  const names = await q.query<{ v: string }>("SELECT current_setting('synchronous_standby_names') AS v");
  const { rows } = await q.query<{ name: string; state: string; sync_state: string }>(
    'SELECT application_name AS name, state, sync_state FROM pg_stat_replication ORDER BY application_name');
  const standbys = rows.map((r) => ({ name: r.name, state: r.state, syncState: r.sync_state }));
  return {
    synchronousStandbyNames: names.rows[0]?.v ?? '',
    standbys,
    synchronous: standbys.some((s) => s.state === 'streaming' && (s.syncState === 'sync' || s.syncState === 'quorum')),
  };
}
