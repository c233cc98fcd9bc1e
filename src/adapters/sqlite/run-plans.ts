// What CANARY and DEPLOY keep so that a restarted authority continues the same soak with
// the same canaries and the same deadlines (migration 7). Each is written once.
import type { Db } from './db.js';

import type { CanaryPlan } from '../../core/records.js';

export type { CanaryPlan } from '../../core/records.js';

export class RunPlanTables {
  constructor(private readonly db: Db) {}

  /** The stored plan; `null` when the stage found no candidates; `undefined` when none was chosen yet. */
  canaryPlan(runId: string): CanaryPlan | null | undefined {
    const r = this.db.prepare('SELECT * FROM canary_plans WHERE run_id = ?').get(runId) as
      { canaries: string; selection: string; selected_at: number; confirm_by: number } | undefined;
    if (!r) return undefined;
    const canaries = JSON.parse(r.canaries) as string[];
    return canaries.length === 0 ? null : { canaries, selection: r.selection, selectedAt: r.selected_at, confirmBy: r.confirm_by };
  }

  /** Keep the first plan chosen for a run (or its absence); returns what is stored. */
  fixCanaryPlan(runId: string, plan: CanaryPlan | null, at: number): CanaryPlan | null {
    this.db.prepare('INSERT INTO canary_plans (run_id, canaries, selection, selected_at, confirm_by) VALUES (?, ?, ?, ?, ?) ON CONFLICT(run_id) DO NOTHING')
      .run(runId, JSON.stringify(plan?.canaries ?? []), plan?.selection ?? 'no candidates', plan?.selectedAt ?? at, plan?.confirmBy ?? at);
    return this.canaryPlan(runId) ?? null;
  }

  /** When each canary of a run confirmed the release, by node. */
  canaryConfirms(runId: string): Record<string, number> {
    const rows = this.db.prepare('SELECT node, confirmed_at FROM canary_confirms WHERE run_id = ?').all(runId) as Array<{ node: string; confirmed_at: number }>;
    return Object.fromEntries(rows.map((r) => [r.node, r.confirmed_at]));
  }

  recordCanaryConfirms(runId: string, confirmed: Record<string, number>): void {
    const insert = this.db.prepare('INSERT INTO canary_confirms (run_id, node, confirmed_at) VALUES (?, ?, ?) ON CONFLICT(run_id, node) DO NOTHING');
    this.db.transaction(() => {
      for (const [node, at] of Object.entries(confirmed)) insert.run(runId, node, at);
    })();
  }

  deadline(runId: string, purpose: string): number | null {
    return (this.db.prepare('SELECT at FROM run_deadlines WHERE run_id = ? AND purpose = ?').pluck().get(runId, purpose) as number | undefined) ?? null;
  }

  /** Set a run's deadline once; a restart gets the stored one back. */
  fixDeadline(runId: string, purpose: string, at: number): number {
    this.db.prepare('INSERT INTO run_deadlines (run_id, purpose, at) VALUES (?, ?, ?) ON CONFLICT(run_id, purpose) DO NOTHING').run(runId, purpose, at);
    return this.deadline(runId, purpose) as number;
  }
}
