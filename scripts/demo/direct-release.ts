// Releases that skip the pipeline, for the fleet benchmark and tests that need a manifest
// at one exact node and moment: signed with the authority's key and stored in its store the
// way `pipeline run` from the CLI does, so the running authority daemon gossips it. Commit
// them on a branch the authority does not track, or its own pipeline takes the same seqs.
import { join } from 'node:path';
import { codeHash } from '../../src/adapters/code-hash-files.js';
import { MANIFEST_SCHEMA } from '../../src/core/manifest.js';
import { StoreManifestSource } from '../../src/node/agent/manifest-source.js';
import { loadConfig } from '../../src/runtime/config-load.js';
import { openStore } from '../../src/runtime/open-store.js';
import { keysetOf } from '../../src/trust/keyset.js';
import { serializeEnvelope } from '../../src/trust/envelope.js';
import { loadSigners } from '../../src/trust/keyfile.js';
import { signManifest } from '../../src/trust/verify-manifest.js';
import type { Daemon, LoopbackFleet } from './fleet.js';

/**
 * A testnet release of `commit`, signed with the authority's key. Call it right after
 * fleet.commit(): the source work tree is then a clean checkout of that commit (out/ is
 * ignored), so it hashes exactly as a node's fresh checkout will.
 */
export async function signRelease(fleet: LoopbackFleet, seq: number, commit: string, targets: 'all' | string[]): Promise<string> {
  const { hash } = await codeHash(fleet.repoDir);
  const now = Date.now();
  const signers = await loadSigners([join(fleet.authority.dir, 'keys', 'release.key')]);
  const envelope = signManifest({
    schema: MANIFEST_SCHEMA, fleet: 'demo', track: 'testnet', seq, version: commit, commit, code_hash: hash,
    created_at: new Date(now).toISOString(), expires_at: new Date(now + 86_400_000).toISOString(), kind: 'release', targets,
    evidence: { run_id: `direct-${seq}`, test: null, benchmark: null, notes: [] },
  }, signers);
  return serializeEnvelope(envelope);
}

/** Verify and store it where the authority daemon's gossip takes it up on its next round. */
export async function publish(authority: Daemon, envelope: string): Promise<void> {
  const { config } = loadConfig(authority.configPath);
  const store = openStore(authority.stateDir);
  try {
    const node = { id: config.node.id, fleet: config.fleet, tracks: config.node.tracks };
    await (await StoreManifestSource.open({ store, keyset: keysetOf(config), node, clock: { now: () => Date.now() }, engine: null })).accept(envelope);
  } finally {
    store.close();
  }
}
