// The database-side proof of fencing (migration 5): every epoch whose fenced writes kept
// counting after its successor took over. Empty when no write of an old epoch committed
// after a newer epoch was taken. Epochs taken before migration 5 have no row and are skipped.
import type { Queryable } from './leader.js';

export interface FenceBreach {
  epoch: number;
  replica: string;
  /** Writes the epoch committed in all. */
  writes: number;
  /** Writes its successor saw committed when it took over. */
  seenBySuccessor: number;
}

export async function fenceBreaches(q: Queryable, fleet: string): Promise<FenceBreach[]> {
  const { rows } = await q.query<{ epoch: string; replica: string; writes: string; seen: string }>(
    `SELECT e.epoch, e.replica, e.writes, n.prior_writes AS seen
       FROM upshift_epochs e JOIN upshift_epochs n ON n.fleet = e.fleet AND n.epoch = e.epoch + 1
      WHERE e.fleet = $1 AND n.prior_writes IS NOT NULL AND e.writes <> n.prior_writes
      ORDER BY e.epoch`, [fleet]);
  return rows.map((r) => ({
    epoch: Number(r.epoch), replica: r.replica, writes: Number(r.writes), seenBySuccessor: Number(r.seen),
  }));
}
