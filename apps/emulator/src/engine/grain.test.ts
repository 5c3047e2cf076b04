import { describe, expect, it } from "vitest";
import { createGrainRandom } from "./grain.ts";

const take = (seed: number, count = 8) => {
  const random = createGrainRandom(seed);
  return Array.from({ length: count }, () => random());
};

describe("createGrainRandom", () => {
  it("repeats its sequence for a seed and stays within [0, 1)", () => {
    expect(take(123)).toEqual(take(123));
    for (const value of take(123, 1000)) {
      expect(value).toBeGreaterThanOrEqual(0);
      expect(value).toBeLessThan(1);
    }
  });

  it("differs between seeds, including seeds that share their low 32 bits", () => {
    expect(take(1)).not.toEqual(take(2));
    expect(take(5)).not.toEqual(take(5 + 2 ** 32));
  });
});
