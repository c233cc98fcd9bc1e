// What CANARY and DEPLOY keep so a restarted (or newly elected) authority continues the same
// soak with the same canaries and deadlines, on PostgreSQL. Each is written once; the
// tables' triggers refuse a rewrite, as in SQLite (adapters/sqlite/run-plans.ts).
import type { CanaryPlan } from '../../core/records.js';
import type { PgSession, Queryable } from './session.js';
import { all, num, numOrNull, one } from './sql.js';

async function canaryPlan(q: Queryable, runId: string): Promise<CanaryPlan | null | undefined> {
  const r = await one(q, 'SELECT canaries, selection, selected_at, confirm_by FROM canary_plans WHERE run_id = $1', [runId]);
  if (!r) return undefined;
  const canaries = JSON.parse(r.canaries as string) as string[];
  return canaries.length === 0 ? null
    : { canaries, selection: r.selection as string, selectedAt: num(r.selected_at), confirmBy: num(r.confirm_by) };
}

async function deadline(q: Queryable, runId: string, purpose: string): Promise<number | null> {
  return numOrNull((await one(q, 'SELECT at FROM run_deadlines WHERE run_id = $1 AND purpose = $2', [runId, purpose]))?.at);
}

export class PgRunPlans {
  constructor(private readonly s: PgSession) {}

  /** The stored plan; `null` when the stage found no candidates; `undefined` when none was chosen yet. */
  canaryPlan(runId: string): Promise<CanaryPlan | null | undefined> {
    return this.s.read((q) => canaryPlan(q, runId));
  }

  /** Keep the first plan chosen for a run (or its absence); returns what is stored. */
  fixCanaryPlan(runId: string, plan: CanaryPlan | null, at: number): Promise<CanaryPlan | null> {
    return this.s.write(async (q) => {
      await q.query(`INSERT INTO canary_plans (run_id, canaries, selection, selected_at, confirm_by)
        VALUES ($1, $2, $3, $4, $5) ON CONFLICT (run_id) DO NOTHING`,
      [runId, JSON.stringify(plan?.canaries ?? []), plan?.selection ?? 'no candidates', plan?.selectedAt ?? at,
        plan?.confirmBy ?? at]);
      return (await canaryPlan(q, runId)) ?? null;
    });
  }

  /** When each canary of a run confirmed the release, by node. */
  canaryConfirms(runId: string): Promise<Record<string, number>> {
    return this.s.read(async (q) => Object.fromEntries((await all(q,
      'SELECT node, confirmed_at FROM canary_confirms WHERE run_id = $1', [runId]))
      .map((r) => [r.node as string, num(r.confirmed_at)])));
  }

  async recordCanaryConfirms(runId: string, confirmed: Record<string, number>): Promise<void> {
    await this.s.write(async (q) => {
      for (const [node, at] of Object.entries(confirmed)) {
        await q.query(`INSERT INTO canary_confirms (run_id, node, confirmed_at) VALUES ($1, $2, $3)
          ON CONFLICT (run_id, node) DO NOTHING`, [runId, node, at]);
      }
    });
  }

  deadline(runId: string, purpose: string): Promise<number | null> {
    return this.s.read((q) => deadline(q, runId, purpose));
  }

  /** Set a run's deadline once; a restart gets the stored one back. */
  fixDeadline(runId: string, purpose: string, at: number): Promise<number> {
    return this.s.write(async (q) => {
      await q.query(`INSERT INTO run_deadlines (run_id, purpose, at) VALUES ($1, $2, $3)
        ON CONFLICT (run_id, purpose) DO NOTHING`, [runId, purpose, at]);
      return await deadline(q, runId, purpose) as number;
    });
  }
}
