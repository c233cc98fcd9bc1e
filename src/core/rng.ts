// Seeded randomness for decisions that must replay exactly (canary selection, simulations).

/** A source of floats in [0, 1). */
export type Rng = () => number;

/** mulberry32: tiny and fast; plenty for choosing peers and canaries, never for secrets. */
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

/** An Rng seeded by a string (FNV-1a), e.g. a run id. */
export function rngFromString(seed: string): Rng {
  let h = 0x811c9dc5;
  for (let i = 0; i < seed.length; i++) h = Math.imul(h ^ seed.charCodeAt(i), 0x01000193) >>> 0;
  return seededRng(h);
}
