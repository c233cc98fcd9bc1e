// What /metrics reads from the store (http/metrics.ts), so the front door runs no SQL of its
// own. Stage results are read incrementally by rowid (they are insert-only), so a scrape
// costs the rows added since the last one, not the whole history.
import type { Db } from './db.js';
import type { StageTally, TallyStore } from '../../core/store-ports.js';

export type { StageTally } from '../../core/store-ports.js';

/** Apply journal states that end an apply (migration 2). */
const ENDED = ['confirmed', 'rolled_back', 'failed', 'abandoned'] as const;

export class Tallies implements TallyStore {
  constructor(private readonly db: Db) {}

  /** Stage results recorded after `after` (a rowid), oldest first, at most `limit`. */
  async stageResultsAfter(after: number, limit = 10_000): Promise<StageTally[]> {
    return this.db.prepare(`SELECT s.rowid AS rowid, r.track AS track, s.stage AS stage, s.outcome AS outcome,
      s.finished_at - s.started_at AS durationMs FROM stage_results s JOIN runs r ON r.id = s.run_id
      WHERE s.rowid > ? ORDER BY s.rowid LIMIT ?`).all(after, limit) as StageTally[];
  }

  /** Pipeline runs by track and status. */
  async runsByStatus(): Promise<Array<{ track: string; status: string; n: number }>> {
    const sql = 'SELECT track, status, COUNT(*) AS n FROM runs GROUP BY track, status';
    return this.db.prepare(sql).all() as Array<{ track: string; status: string; n: number }>;
  }

  /** Ended applies of this node by track and outcome (one journal row per apply, so a small table). */
  async appliesByOutcome(): Promise<Array<{ track: string; outcome: string; n: number }>> {
    const marks = ENDED.map(() => '?').join(',');
    return this.db.prepare(`SELECT track, state AS outcome, COUNT(*) AS n FROM applies WHERE state IN (${marks}) GROUP BY track, state`)
      .all(...ENDED) as Array<{ track: string; outcome: string; n: number }>;
  }
}
