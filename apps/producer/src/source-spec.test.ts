import { describe, expect, it } from "vitest";
import { UsageError } from "./cli/usage-error.ts";
import { parseSourceSpec } from "./source-spec.ts";

describe("parseSourceSpec", () => {
  it("reads s3://bucket/key, keeping slashes and spaces in the key", () => {
    expect(parseSourceSpec("s3://assets/shoes/red shoe.jpg")).toEqual({
      kind: "s3",
      bucket: "assets",
      key: "shoes/red shoe.jpg",
    });
  });

  it("reads an http(s) URL", () => {
    expect(parseSourceSpec("https://example.com/a.png")).toEqual({
      kind: "url",
      url: "https://example.com/a.png",
    });
  });

  it.each(["s3://bucket", "s3://bucket/", "s3:///key", "ftp://x/y", "a.jpg"])(
    "refuses %s with the expected forms",
    (spec) => {
      expect(() => parseSourceSpec(spec)).toThrowError(UsageError);
      expect(() => parseSourceSpec(spec)).toThrowError(/expected s3:\/\/bucket\/key/);
    },
  );
});
