// What /metrics reads from the PostgreSQL store (as adapters/sqlite/tallies.ts). Stage
// results are read incrementally by their `rowid` column (migration 3 gives stage_results
// one, as SQLite's rowid), so a scrape costs the rows added since the last one.
import type { StageTally, TallyStore } from '../../core/store-ports.js';
import type { PgSession } from './session.js';
import { num } from './seq-line.js';

/** Apply journal states that end an apply (SQLite migration 2). */
const ENDED = ['confirmed', 'rolled_back', 'failed', 'abandoned'];

export class PgTallies implements TallyStore {
  constructor(private readonly session: PgSession, readonly now: () => number) {}

  async stageResultsAfter(after: number, limit = 10_000): Promise<StageTally[]> {
    return this.session.read(async (q) => {
      const { rows } = await q.query<{ rowid: string; track: string; stage: string; outcome: string; duration_ms: string }>(
        `SELECT s.rowid, r.track, s.stage, s.outcome, s.finished_at - s.started_at AS duration_ms
           FROM stage_results s JOIN runs r ON r.id = s.run_id WHERE s.rowid > $1 ORDER BY s.rowid LIMIT $2`, [after, limit]);
      return rows.map((r) => ({ rowid: num(r.rowid), track: r.track, stage: r.stage, outcome: r.outcome, durationMs: num(r.duration_ms) }));
    });
  }

  async runsByStatus(): Promise<Array<{ track: string; status: string; n: number }>> {
    return this.session.read(async (q) => {
      const { rows } = await q.query<{ track: string; status: string; n: string }>('SELECT track, status, COUNT(*) AS n FROM runs GROUP BY track, status');
      return rows.map((r) => ({ track: r.track, status: r.status, n: num(r.n) }));
    });
  }

  /**
   * Ended applies of this node. The apply journal is a node's own and stays in its local
   * store: a PostgreSQL database without an `applies` table has none to count.
   */
  async appliesByOutcome(): Promise<Array<{ track: string; outcome: string; n: number }>> {
    return this.session.read(async (q) => {
      const { rows: has } = await q.query<{ t: string | null }>("SELECT to_regclass('applies')::text AS t");
      if (has[0]?.t == null) return [];
      const { rows } = await q.query<{ track: string; outcome: string; n: string }>(
        'SELECT track, state AS outcome, COUNT(*) AS n FROM applies WHERE state = ANY($1) GROUP BY track, state', [ENDED]);
      return rows.map((r) => ({ track: r.track, outcome: r.outcome, n: num(r.n) }));
    });
  }
}
