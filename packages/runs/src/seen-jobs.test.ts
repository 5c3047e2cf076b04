import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { createSeenJobs } from "./seen-jobs.ts";

/** Distinct ids (n in the second 32 bits), spread over the first 32 bits as SHA-256 would spread them. */
const jobId = (n: number) =>
  `op-${(Math.imul(n, 0x9e3779b1) >>> 0).toString(16).padStart(8, "0")}${n.toString(16).padStart(8, "0")}${"0".repeat(48)}`;

const directory = mkdtempSync(join(tmpdir(), "seen-jobs-test-"));
afterAll(() => rmSync(directory, { recursive: true, force: true }));

describe("createSeenJobs", () => {
  it("says true the first time an id is met and false for a repeat, past many growths", () => {
    const seen = createSeenJobs();
    const ids = Array.from({ length: 120_000 }, (_, n) => jobId(n));
    expect(ids.filter((id) => seen.add(id))).toHaveLength(120_000);
    expect(seen.size).toBe(120_000);
    expect(ids.filter((id, n) => n % 7 === 0 && seen.add(id))).toEqual([]);
    expect(seen.size).toBe(120_000);
    seen.close();
  }, 30_000);

  it("finds repeats among the ids written out to runs, and removes the runs when closed", () => {
    const seen = createSeenJobs({ runSize: 1_000, directory });
    const ids = Array.from({ length: 25_000 }, (_, n) => jobId(n));
    expect(ids.filter((id) => seen.add(id))).toHaveLength(25_000);
    expect(seen.spilled).toBe(25_000);
    expect(readdirSync(directory).length).toBe(1);
    // Every id again: each is in a run's file now, found through its filter and its block.
    expect(ids.filter((id) => seen.add(id))).toEqual([]);
    // Ids close to the ones held (neighbours in the sorted runs) are new.
    const near = Array.from({ length: 2_000 }, (_, n) => jobId(25_000 + n));
    expect(near.filter((id) => seen.add(id))).toHaveLength(2_000);
    expect(seen.size).toBe(27_000);
    seen.close();
    expect(readdirSync(directory)).toEqual([]);
  }, 30_000);

  it("answers as a set of every id met would, whatever the order of repeats and the runs' size", () => {
    fc.assert(
      fc.property(
        fc.array(fc.nat({ max: 3_000 }), { maxLength: 4_000 }),
        fc.integer({ min: 1, max: 700 }),
        (numbers, runSize) => {
          const seen = createSeenJobs({ runSize, directory });
          const reference = new Set<number>();
          try {
            for (const n of numbers) {
              const first = !reference.has(n);
              reference.add(n);
              if (seen.add(jobId(n)) !== first) return false;
            }
            return seen.size === reference.size;
          } finally {
            seen.close();
          }
        },
      ),
      { numRuns: 60 },
    );
    expect(existsSync(directory)).toBe(true);
    expect(readdirSync(directory)).toEqual([]);
  }, 60_000);

  it("refuses what is not a job id", () => {
    const seen = createSeenJobs();
    expect(() => seen.add("bulk-0123")).toThrow(/not a job id/);
    seen.close();
  });
});
