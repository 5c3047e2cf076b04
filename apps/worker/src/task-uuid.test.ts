import { describe, expect, it } from "vitest";
import { taskUUIDFor } from "./task-uuid.ts";

describe("taskUUIDFor", () => {
  it("is a version-5 RFC 4122 UUID", () => {
    expect(taskUUIDFor("op-abc", 0, 0)).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
  });

  it("is the same for the same job, variant and generation", () => {
    expect(taskUUIDFor("op-abc", 1, 2)).toBe(taskUUIDFor("op-abc", 1, 2));
  });

  it("differs when the job, the variant or the generation differs", () => {
    const ids = new Set([
      taskUUIDFor("op-abc", 0, 0),
      taskUUIDFor("op-abd", 0, 0),
      taskUUIDFor("op-abc", 1, 0),
      taskUUIDFor("op-abc", 0, 1),
    ]);
    expect(ids.size).toBe(4);
  });
});
