// What a node holds for gossip, as the store keeps it, apart from the verifying source
// (manifest-source.ts): `status` and `fleet ls` read these without loading zod and Ed25519
// when nothing is held.
import type { Config } from '../../core/config.js';
import type { StateStore } from '../../core/ports.js';

/** The newest manifest held per track (what `status` shows). */
export const MANIFEST_KEY_PREFIX = 'gossip.manifest.';
/** Every manifest held per track, a JSON array of envelopes, newest first. */
export const HELD_KEY_PREFIX = 'gossip.held.';
/**
 * `tracks`: what this node's app runs (a manifest of these may be applied). `relay`: tracks
 * it only holds and forwards, never applies: on the authority, every track it releases.
 */
export interface SourceNode { id: string; fleet: string; tracks: readonly string[]; relay?: readonly string[] }

/**
 * This node as its gossip source sees it. The authority's own source takes every track it
 * releases, whatever its app runs: a release is published by handing it to that source, so
 * a track missing there could be signed but never published (E_WRONG_TRACK at DEPLOY).
 */
export function sourceNode(
  config: Pick<Config, 'fleet' | 'node' | 'authority'>,
  id: string = config.node.id,
): SourceNode {
  const relay = Object.keys(config.authority?.tracks ?? {}).filter((t) => !config.node.tracks.includes(t));
  return { id, fleet: config.fleet, tracks: config.node.tracks, ...(relay.length > 0 ? { relay } : {}) };
}

/** The envelopes held for a track as the store keeps them, newest first (older stores: just the newest). */
export async function storedHeld(store: StateStore, track: string): Promise<string[]> {
  const list = await store.kv.get(HELD_KEY_PREFIX + track);
  if (list !== null) {
    try {
      const parsed = JSON.parse(list) as unknown;
      if (Array.isArray(parsed)) return parsed.filter((e): e is string => typeof e === 'string');
    } catch {
      // unreadable: fall back to the newest alone
    }
  }
  const newest = await store.kv.get(MANIFEST_KEY_PREFIX + track);
  return newest === null ? [] : [newest];
}
