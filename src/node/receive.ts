// A node receiving a signed manifest: verify the exact bytes with its keyset, then the
// floor, expiry, fleet and track; only then raise the floor and keep the manifest.
// Anything refused changes nothing. Applying the release (fetch, switch, probation) is
// the apply engine's job and is not part of receiving.
import { checkManifestAcceptable } from '../core/manifest.js';
import { toUpshiftError } from '../core/errors.js';
import type { Delivery } from '../core/ports.js';
import type { Store } from '../adapters/sqlite/store.js';
import type { Keyset } from '../trust/keyset.js';
import { verifyManifest } from '../trust/verify-manifest.js';

export interface NodeIdentity {
  id: string;
  fleet: string;
  tracks: string[];
}

export interface ReceivedManifest {
  seq: number;
  version: string;
  commit: string;
  envelope: string;
}

const key = (track: string) => `node.manifest.${track}`;

export function receiveManifest(node: NodeIdentity, store: Store, keyset: Keyset, now: number, envelope: string): Delivery {
  try {
    const { payload } = verifyManifest(envelope, keyset);
    if (!node.tracks.includes(payload.track)) {
      return { node: node.id, accepted: false, reason: `this node does not follow track ${payload.track}`, code: 'E_WRONG_TRACK' };
    }
    if (payload.targets !== 'all' && !payload.targets.includes(node.id)) {
      return { node: node.id, accepted: false, reason: `manifest ${payload.track}#${payload.seq} targets other nodes` };
    }
    const verdict = checkManifestAcceptable(payload, { now, fleet: node.fleet, track: payload.track, floorSeq: store.floors.get(payload.track) });
    if (verdict === 'same') return { node: node.id, accepted: true, reason: `already at ${payload.track}#${payload.seq}` };
    store.tx(() => {
      store.floors.raise(payload.track, payload.seq, now);
      store.kv.set(key(payload.track), JSON.stringify({ seq: payload.seq, version: payload.version, commit: payload.commit, envelope } satisfies ReceivedManifest));
    });
    return { node: node.id, accepted: true, reason: `verified ${payload.track}#${payload.seq} (${payload.version}); floor raised to ${payload.seq}` };
  } catch (err) {
    const e = toUpshiftError(err);
    return { node: node.id, accepted: false, reason: e.message, code: e.code };
  }
}

export function receivedManifest(store: Store, track: string): ReceivedManifest | null {
  const raw = store.kv.get(key(track));
  return raw ? (JSON.parse(raw) as ReceivedManifest) : null;
}
