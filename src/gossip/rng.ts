// Seeded randomness, injected everywhere the protocol picks peers, so a simulation with the
// same seed replays exactly. The daemon seeds it from crypto; predictability does not matter
// for peer choice, and nonces only need to be unique (the signature covers them).

import type { Rng } from '../core/rng.js';

export { seededRng, type Rng } from '../core/rng.js';

export function randomIndex(rng: Rng, n: number): number {
  return Math.floor(rng() * n);
}

/**
 * Nonces: a 64-bit random prefix drawn once, then a counter, so they are unique for the life of
 * the node and cost one small string each. A daemon must seed the rng from crypto (or pass
 * crypto.randomUUID as the node's `nonce` option), or a restart would repeat them.
 */
export function nonceFactory(rng: Rng): () => string {
  const hex = () => Math.floor(rng() * 0x100000000).toString(16).padStart(8, '0');
  const prefix = `${hex()}${hex()}.`;
  let counter = 0;
  return () => `${prefix}${(counter++).toString(36)}`;
}
