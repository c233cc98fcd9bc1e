// What the composition root hands buildServer for /v1/status and /metrics, for tests that
// build a server over a store of their own.
import type { Config } from '../../src/core/config.js';
import type { Store } from '../../src/adapters/sqlite/store.js';
import { heldManifest, nodeStatus } from '../../src/runtime/status.js';

export function serverViews(config: Config, store: Store) {
  return {
    status: () => nodeStatus(config, store),
    heldSeq: (track: string) => heldManifest(config, store, track)?.seq ?? null,
  };
}
