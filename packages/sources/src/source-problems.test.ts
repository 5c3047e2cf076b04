import { EgressRefusedError } from "@reframe/egress";
import { ImageProblemError } from "@reframe/images";
import { describe, expect, it } from "vitest";
import { SourceHttpError, sourceProblemOf } from "./source-problems.ts";

const named = (name: string) => Object.assign(new Error(name), { name });

describe("sourceProblemOf", () => {
  it.each([
    [named("NoSuchKey"), "sourceNotFound"],
    [named("NotFound"), "sourceNotFound"],
    [named("AccessDenied"), "sourceUnreadable"],
    [new ImageProblemError("unreadable", "is not an image"), "sourceUnreadable"],
    [new ImageProblemError("unsupported", "is a BMP image"), "sourceUnsupported"],
    [new ImageProblemError("tooLarge", "is 40000×40000 px"), "sourceTooLarge"],
    [new SourceHttpError("https://x.example/a.jpg", 404), "sourceNotFound"],
    [new SourceHttpError("https://x.example/a.jpg", 410), "sourceNotFound"],
    [new SourceHttpError("https://x.example/a.jpg", 403), "sourceUnreadable"],
  ])("%s is a problem retrying cannot fix: %s", (error, code) => {
    expect(sourceProblemOf(error, "s3://lib/a.jpg")?.code).toBe(code);
  });

  it("an image problem names the source before what is wrong with it", () => {
    expect(
      sourceProblemOf(new ImageProblemError("unreadable", "is empty (0 bytes)"), "s3://lib/a.jpg"),
    ).toEqual({
      code: "sourceUnreadable",
      message: "the source s3://lib/a.jpg is empty (0 bytes)",
    });
  });

  it("a refused address keeps the guard's message", () => {
    expect(sourceProblemOf(new EgressRefusedError("169.254.169.254 is link-local"), "x")).toEqual({
      code: "sourceRefused",
      message: "169.254.169.254 is link-local",
    });
  });

  it.each([
    [new SourceHttpError("https://x.example/a.jpg", 503)],
    [new SourceHttpError("https://x.example/a.jpg", 429)],
    [new SourceHttpError("https://x.example/a.jpg", 408)],
    [named("SlowDown")],
    [new TypeError("fetch failed")],
    [undefined],
  ])("%s is transient: left to retries", (error) => {
    expect(sourceProblemOf(error, "x")).toBeUndefined();
  });
});
