import sharp from "sharp";
import { describe, expect, it } from "vitest";
import { blankImage } from "./blank.ts";

describe("blankImage", () => {
  it.each(["JPG", "PNG", "WEBP"] as const)("encodes a %s of exactly the requested size", async (format) => {
    const { bytes, contentType } = await blankImage(format, 1366, 768);
    const meta = await sharp(bytes).metadata();
    expect({ width: meta.width, height: meta.height, type: contentType }).toEqual({
      width: 1366,
      height: 768,
      type: { JPG: "image/jpeg", PNG: "image/png", WEBP: "image/webp" }[format],
    });
  });

  it("returns the same bytes for the same format and size without encoding again", async () => {
    const first = await blankImage("PNG", 300, 200);
    const second = await blankImage("PNG", 300, 200);
    expect(second.bytes).toBe(first.bytes);
  });
});
