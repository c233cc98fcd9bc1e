// Seeded randomness, injected everywhere the protocol picks peers, so a simulation with the
// same seed replays exactly. The daemon seeds it from crypto; predictability does not matter
// for peer choice, and nonces only need to be unique (the signature covers them).

/** A source of floats in [0, 1). */
export type Rng = () => number;

/** mulberry32: tiny and fast, plenty for choosing peers. */
export function seededRng(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

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
