// On the authority: sign the fleet's revocation list again after a revocation and keep it
// where the daemon's gossip source takes it up (StoreManifestSource.refresh), so every node
// learns of it by gossip.
import type { RevocationSigner, StateStore } from '../core/ports.js';
import type { Signer } from '../trust/keyfile.js';
import { signRevocations } from '../trust/revocation-list.js';

/** Signs the list the store hands over (inside its transaction) with every revocation recorded. */
export function revocationSigner(signers: readonly Signer[], fleet: string, now: number): RevocationSigner {
  return (seq, records) => {
    const revoked = records.map((r) => ({ node_id: r.nodeId, serial: r.serial, reason: r.reason.slice(0, 500), revoked_at: new Date(r.revokedAt).toISOString() }));
    return signRevocations({ fleet, seq, issued_at: new Date(now).toISOString(), revoked }, signers);
  };
}

/** A new list with every revocation this authority recorded; returns its seq. */
export async function publishRevocations(store: StateStore, signers: readonly Signer[], fleet: string, now: number): Promise<{ seq: number; revoked: number }> {
  return store.identity.publishRevocationList(revocationSigner(signers, fleet, now));
}
