// How long a node may be unheard before it counts as silent, read where `status` and
// `fleet ls` need it: one kv lookup, and the settings' signature checked (held-settings.ts,
// zod and the keyset) only when the store holds signed fleet settings at all.
import type { Config } from '../../core/config.js';
import type { StateStore } from '../../core/ports.js';
import { silentAfterMs } from '../../core/decisions/heartbeat-interval.js';

export const FLEET_SETTINGS_KV = 'gossip.fleet-settings';

/**
 * `configuredMs`, or three of the intervals the fleet was told when that is longer
 * (heartbeat-interval.ts silentAfterMs).
 */
export async function silentAfterHeld(
  config: Pick<Config, 'trust' | 'fleet'>, store: Pick<StateStore, 'kv'>, configuredMs: number,
): Promise<number> {
  if (await store.kv.get(FLEET_SETTINGS_KV) === null) return configuredMs;
  const [{ heldInterval }, { keysetOf }] = await Promise.all([import('./held-settings.js'), import('../../trust/keyset.js')]);
  return silentAfterMs(configuredMs, await heldInterval(store, keysetOf(config), config.fleet));
}
