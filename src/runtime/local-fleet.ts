// The fleet as the authority sees it before any peer is known: its own node only.
// It never reports a result it did not observe: no canary candidates, one delivery.
import type { FleetNode, FleetPort, NodeTrackState } from '../core/ports.js';
import type { Clock } from '../core/ports.js';
import type { Store } from '../adapters/sqlite/store.js';
import type { Keyset } from '../trust/keyset.js';
import { receiveManifest, receivedManifest, type NodeIdentity } from '../node/receive.js';

export function createLocalFleet(node: NodeIdentity, store: Store, keyset: Keyset, clock: Clock): FleetPort {
  return {
    async reports() {
      return [];
    },
    async canaryCandidates(): Promise<FleetNode[]> {
      return [];
    },
    async publish(envelope) {
      return [receiveManifest(node, store, keyset, clock.now(), envelope)];
    },
    async convergence(track): Promise<NodeTrackState[]> {
      const got = receivedManifest(store, track);
      return [{
        node: node.id,
        seq: got?.seq ?? null,
        version: got?.version ?? null,
        state: got ? 'accepted' : 'none',
        note: 'the authority\'s own node verified and recorded the manifest; the pipeline does not reach peers or apply releases yet',
      }];
    },
  };
}
