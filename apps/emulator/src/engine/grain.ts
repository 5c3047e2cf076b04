/**
 * Deterministic uniform [0, 1) generator (mulberry32) for the outpaint grain: same seed, same bytes.
 * Seeds beyond 32 bits (Runware returns up to 2^53) fold their high word in, so they still differ.
 * The testkit's `seededRandom` is the same generator on 32-bit seeds; the emulator keeps its own
 * because it is a product users run (it must not depend on the test harness), and because of the fold.
 */
export function createGrainRandom(seed: number): () => number {
  const low = seed >>> 0;
  const high = Math.floor(Math.abs(seed) / 2 ** 32) >>> 0;
  let state = (low ^ Math.imul(high, 0x9e3779b1)) >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
