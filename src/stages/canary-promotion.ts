// The manual promotion gate of CANARY (authority.canary.promotion: manual): once the soak
// passes, the stage records that it awaits promotion and waits, judging the canaries again
// at every check, until someone promotes the run (advance_upgrade_pipeline). Both marks are
// append-only events, so a restarted authority finds the gate where it was.
import type { RunStore } from '../core/store-ports.js';

export const AWAITING = 'canary.awaiting_promotion';
export const PROMOTED = 'run.promoted';

export type PromotionState = 'none' | 'awaiting' | 'promoted';

export async function promotionState(store: RunStore, runId: string): Promise<PromotionState> {
  // the run's own events (indexed by run), not a scan of the whole log
  const kinds = new Set((await store.events({ runId, limit: 100_000 })).map((e) => e.kind));
  return kinds.has(PROMOTED) ? 'promoted' : kinds.has(AWAITING) ? 'awaiting' : 'none';
}

export async function markAwaiting(store: RunStore, runId: string, at: number, data: Record<string, unknown>): Promise<void> {
  // once: the check and the append are one transaction
  await store.appendEventGuarded({ at, runId, stage: 'canary', kind: AWAITING, actor: 'pipeline', data }, { unless: [AWAITING, PROMOTED] });
}

/** Promote a run waiting at the gate; false when it is not waiting there. */
export async function promote(store: RunStore, runId: string, by: string, reason: string, at: number): Promise<boolean> {
  return store.appendEventGuarded({ at, runId, stage: 'canary', kind: PROMOTED, actor: by, data: { reason } },
    { unless: [PROMOTED], requires: [AWAITING] });
}
