/**
 * A tiny seedable PRNG (mulberry32) so the sandbox's simulated outcomes are reproducible: the same
 * seed and the same send order give the same bounces, opens and clicks. Not for anything secret.
 */

/** Returns a generator of floats in [0, 1) fully determined by `seed` (a 32-bit integer). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
