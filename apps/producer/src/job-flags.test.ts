import { describe, expect, it } from "vitest";
import { parseBulkRequest } from "./bulk/bulk-request.ts";
import { UsageError } from "./cli/usage-error.ts";
import { type JobFlags, jobFromFlags, targetOf } from "./job-flags.ts";

const enqueueMessage = (flags: JobFlags): string => {
  try {
    jobFromFlags(flags, {
      source: { kind: "s3", bucket: "sources", key: "a.jpg" },
      target: targetOf("16:9"),
      bucket: flags.bucket ?? "outputs",
      labels: { requester: "cli" },
    });
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    return (error as Error).message;
  }
  throw new Error("expected a UsageError");
};

const bulkMessage = (flags: JobFlags): string => {
  try {
    parseBulkRequest(
      { ...flags, source: "s3://sources/photos/", target: ["16:9"] },
      { OUTPUT_BUCKET: "outputs" },
    );
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    return (error as Error).message;
  }
  throw new Error("expected a UsageError");
};

describe("the flags that shape a job", () => {
  it.each<[JobFlags, string]>([
    [{ quality: "5" }, "--quality: must be at least 20"],
    [{ variants: "9" }, "--variants: must be at most 8"],
    [{ format: "gif" }, "--format: must be one of JPG, PNG, WEBP"],
    [{ anchor: "middle" }, "--anchor middle: must be one of"],
    [{ route: "a:b" }, "--route: must be a queue name"],
    [{ bucket: "X" }, "--bucket (or OUTPUT_BUCKET): must be an S3 bucket name"],
    [{ "max-upscale": "twice" }, "--max-upscale: must be a number"],
    [{ "max-generated-share": "200%" }, "--max-generated-share: "],
    [{ fit: "stretch" }, "--fit: "],
  ])("%o: enqueue and bulk say the same, in the flag's name", (flags, message) => {
    expect(enqueueMessage(flags)).toContain(message);
    expect(bulkMessage(flags)).toBe(enqueueMessage(flags));
  });

  it("names every bad flag at once", () => {
    expect(enqueueMessage({ quality: "5", variants: "0" })).toBe(
      "--quality: must be at least 20; --variants: must be at least 1",
    );
  });

  it("puts the anchor into the target, except for margins", () => {
    const parts = {
      source: { kind: "s3" as const, bucket: "sources", key: "a.jpg" },
      bucket: "outputs",
      labels: {},
    };
    expect(jobFromFlags({ anchor: "top" }, { ...parts, target: targetOf("4:5") }).target).toMatchObject({
      anchor: "top",
    });
    expect(
      jobFromFlags({ anchor: "top" }, { ...parts, target: targetOf("margins:0,8,0,8") }).target,
    ).not.toHaveProperty("anchor");
  });
});
