// What the composition root hands buildServer for /v1/status and /metrics, for tests that
// build a server over a store of their own.
import type { Config } from '../../src/core/config.js';
import type { StateStore } from '../../src/core/ports.js';
import { heldManifest, nodeStatus } from '../../src/runtime/status.js';

export function serverViews(config: Config, store: StateStore) {
  return {
    status: () => nodeStatus(config, store),
    heldSeq: async (track: string) => (await heldManifest(config, store, track))?.seq ?? null,
  };
}
