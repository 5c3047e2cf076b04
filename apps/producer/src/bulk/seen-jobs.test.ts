import { describe, expect, it } from "vitest";
import { createSeenJobs } from "./seen-jobs.ts";

/** Distinct ids (n in the second 32 bits), spread over the first 32 bits as SHA-256 would spread them. */
const jobId = (n: number) =>
  `op-${(Math.imul(n, 0x9e3779b1) >>> 0).toString(16).padStart(8, "0")}${n.toString(16).padStart(8, "0")}${"0".repeat(48)}`;

describe("createSeenJobs", () => {
  it("says true the first time an id is met and false for a repeat, past many growths", () => {
    const seen = createSeenJobs();
    const ids = Array.from({ length: 120_000 }, (_, n) => jobId(n));
    expect(ids.filter((id) => seen.add(id))).toHaveLength(120_000);
    expect(seen.size).toBe(120_000);
    expect(ids.filter((id, n) => n % 7 === 0 && seen.add(id))).toEqual([]);
    expect(seen.size).toBe(120_000);
  }, 30_000);

  it("refuses what is not a job id", () => {
    expect(() => createSeenJobs().add("bulk-0123")).toThrow(/not a job id/);
  });
});
