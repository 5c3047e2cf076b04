import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { createSeenJobs } from "./seen-jobs.ts";

const jobId = (n: number) => `op-${createHash("sha256").update(String(n)).digest("hex")}`;

describe("createSeenJobs", () => {
  it("says true the first time an id is met and false for a repeat, past many growths", () => {
    const seen = createSeenJobs();
    const ids = Array.from({ length: 150_000 }, (_, n) => jobId(n));
    expect(ids.filter((id) => seen.add(id))).toHaveLength(150_000);
    expect(seen.size).toBe(150_000);
    expect(ids.filter((id, n) => n % 7 === 0 && seen.add(id))).toEqual([]);
    expect(seen.size).toBe(150_000);
  });

  it("refuses what is not a job id", () => {
    expect(() => createSeenJobs().add("bulk-0123")).toThrow(/not a job id/);
  });
});
