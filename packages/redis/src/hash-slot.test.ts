import { describe, expect, it } from "vitest";
import { hashTagOf, inOneSlot, slotOf } from "./hash-slot.ts";

describe("hash tags and slots", () => {
  it("finds the tag as Redis Cluster does: the first {…} with something inside", () => {
    expect(hashTagOf("{reframe}:outpaint:wait")).toBe("reframe");
    expect(hashTagOf("x{a}{b}")).toBe("a");
    expect(hashTagOf("{}{reframe}")).toBeUndefined();
    expect(hashTagOf("reframe:outpaint")).toBeUndefined();
    expect(hashTagOf("{reframe")).toBeUndefined();
  });

  it("hashes keys with one tag to one slot, and the slot of a tag is the slot of its text", () => {
    // 12182 is CLUSTER KEYSLOT foo in Redis's own documentation.
    expect(slotOf("foo")).toBe(12182);
    expect(slotOf("{foo}:bar")).toBe(12182);
    expect(inOneSlot(["{reframe}:task:a", "{reframe}:tasks:pending", "{reframe}:batch:x:jobs"])).toBe(true);
    expect(inOneSlot(["reframe:task:a", "reframe:tasks:pending"])).toBe(false);
  });
});
