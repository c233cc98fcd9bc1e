// After the timer applied a release, the daemon holds and gossips it: the manifest is stored
// where `pipeline run` from the CLI leaves one (the held list of its track), verified again
// by the source like any offer; the daemon's next round takes it up (refresh()), and its
// engine finds the floor already there, so nothing is applied twice.
import { toUpshiftError } from '../core/errors.js';
import { sourceNode, StoreManifestSource } from '../node/agent/manifest-source.js';
import type { VerifiedManifest } from '../trust/verify-manifest.js';
import type { OtaDeps } from './types.js';

export async function holdForDaemon(deps: OtaDeps, m: VerifiedManifest): Promise<void> {
  try {
    const source = await StoreManifestSource.open({ store: deps.store, keyset: deps.keyset, node: sourceNode(deps.config), clock: deps.clock, engine: null });
    await source.accept(m.text);
  } catch (err) {
    // Applied all the same: a held list with a newer manifest already (gossip was quicker) is fine.
    const e = toUpshiftError(err);
    deps.log?.warn({ module: 'ota', code: e.code }, `the applied manifest was not added to the held list: ${e.message}`);
  }
}
