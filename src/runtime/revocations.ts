// On the authority: sign the fleet's revocation list again after a revocation and keep it
// where the daemon's gossip source takes it up (StoreManifestSource.refresh), so every node
// learns of it by gossip.
import type { Store } from '../adapters/sqlite/store.js';
import { REVOCATIONS_STORE_KEY } from '../node/agent/manifest-source.js';
import type { Signer } from '../trust/keyfile.js';
import { signRevocations } from '../trust/revocation-list.js';

const SEQ_KEY = 'authority.revocations.seq';

/** A new list with every revocation this authority recorded; returns its seq. Call inside or outside a transaction. */
export function publishRevocations(store: Store, signers: readonly Signer[], fleet: string, now: number): { seq: number; revoked: number } {
  return store.tx(() => {
    const seq = Number(store.kv.get(SEQ_KEY) ?? '0') + 1;
    const revoked = store.identity.revocations().map((r) => ({ node_id: r.nodeId, serial: r.serial, reason: r.reason.slice(0, 500), revoked_at: new Date(r.revokedAt).toISOString() }));
    const envelope = signRevocations({ fleet, seq, issued_at: new Date(now).toISOString(), revoked }, signers);
    store.kv.set(SEQ_KEY, String(seq));
    store.kv.set(REVOCATIONS_STORE_KEY, envelope);
    return { seq, revoked: revoked.length };
  });
}
