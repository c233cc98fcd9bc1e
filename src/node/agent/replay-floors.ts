// The gossip replay table lives in memory; what the next run must still refuse is, per
// sender, the newest message time this run accepted (gossip/replay.ts). Kept in one kv row,
// written with the membership every anti-entropy round and at shutdown.
import type { StateStore } from '../../core/ports.js';
import type { ApplyLog } from '../apply/context.js';

const KEY = 'gossip.replay_floors';

/** What the previous run saved; anything unreadable is no floor (the start-time floor still holds). */
export async function loadReplayFloors(store: StateStore): Promise<Record<string, number>> {
  try {
    const saved = JSON.parse(await store.kv.get(KEY) ?? '{}') as unknown;
    if (typeof saved !== 'object' || saved === null) return {};
    return Object.fromEntries(Object.entries(saved).filter((e): e is [string, number] => Number.isSafeInteger(e[1])));
  } catch {
    return {};
  }
}

export async function saveReplayFloors(store: StateStore, floors: Record<string, number>, log?: ApplyLog): Promise<void> {
  try {
    await store.kv.set(KEY, JSON.stringify(floors));
  } catch (err) {
    log?.warn({ module: 'gossip' }, `replay floors not saved: ${(err as Error).message}`);
  }
}
