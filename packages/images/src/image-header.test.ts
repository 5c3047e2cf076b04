import sharp from "sharp";
import { describe, expect, it } from "vitest";
import { probeImageHeader, readImageHeader } from "./image-header.ts";
import { ImageProblemError } from "./image-problem.ts";

const image = (format: "png" | "jpeg" | "webp", options: { lossless?: boolean; alpha?: boolean } = {}) =>
  sharp({ create: { width: 120, height: 80, channels: options.alpha ? 4 : 3, background: "#369" } })
    .toFormat(format, format === "webp" ? { lossless: options.lossless ?? false } : {})
    .toBuffer();

describe("readImageHeader", () => {
  it.each([
    ["png", {}],
    ["jpeg", {}],
    ["webp", {}],
    ["webp", { lossless: true }],
    ["webp", { alpha: true }],
  ] as const)("reads %s %j", async (format, options) => {
    expect(readImageHeader(await image(format, options))).toMatchObject({ format, width: 120, height: 80 });
  });

  it("applies a JPEG's EXIF orientation: 6 swaps width and height", async () => {
    const rotated = await sharp(await image("jpeg"))
      .withMetadata({ orientation: 6 })
      .jpeg()
      .toBuffer();
    expect(readImageHeader(rotated)).toEqual({ format: "jpeg", width: 80, height: 120, orientation: 6 });
  });

  it("refuses bytes that are no image, and says whether more bytes could help", async () => {
    expect(() => readImageHeader(Buffer.from("hello, not an image"))).toThrowError(ImageProblemError);
    expect(probeImageHeader(Buffer.from("hello, not an image"))).toMatchObject({
      ok: false,
      recognized: false,
    });
    const png = await image("png");
    expect(probeImageHeader(png.subarray(0, 12))).toMatchObject({ ok: false, recognized: true });
  });
});
