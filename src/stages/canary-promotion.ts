// The manual promotion gate of CANARY (authority.canary.promotion: manual): once the soak
// passes, the stage records that it awaits promotion and waits, judging the canaries again
// at every check, until someone promotes the run (advance_upgrade_pipeline). Both marks are
// append-only events, so a restarted authority finds the gate where it was.
import type { Store } from '../adapters/sqlite/store.js';

export const AWAITING = 'canary.awaiting_promotion';
export const PROMOTED = 'run.promoted';

export type PromotionState = 'none' | 'awaiting' | 'promoted';

export function promotionState(store: Store, runId: string): PromotionState {
  const kinds = new Set(store.eventsOfKind([AWAITING, PROMOTED], 10_000).filter((e) => e.runId === runId).map((e) => e.kind));
  return kinds.has(PROMOTED) ? 'promoted' : kinds.has(AWAITING) ? 'awaiting' : 'none';
}

export function markAwaiting(store: Store, runId: string, at: number, data: Record<string, unknown>): void {
  if (promotionState(store, runId) !== 'none') return;
  store.appendEvent({ at, runId, stage: 'canary', kind: AWAITING, actor: 'pipeline', data });
}

/** Promote a run waiting at the gate; false when it is not waiting there. */
export function promote(store: Store, runId: string, by: string, reason: string, at: number): boolean {
  return store.tx(() => {
    if (promotionState(store, runId) !== 'awaiting') return false;
    store.appendEvent({ at, runId, stage: 'canary', kind: PROMOTED, actor: by, data: { reason } });
    return true;
  });
}
