import { OUTPUT_FORMATS, type OutputFormat } from "@reframe/runware";
import sharp from "sharp";
import { describe, expect, it } from "vitest";
import { encodeOutput } from "./encode.ts";
import { gradientImage, solidImage } from "./test-images.ts";

const MAGIC: Record<OutputFormat, (bytes: Buffer) => boolean> = {
  JPG: (bytes) => bytes.subarray(0, 3).equals(Buffer.from([0xff, 0xd8, 0xff])),
  PNG: (bytes) => bytes.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])),
  WEBP: (bytes) => bytes.toString("latin1", 0, 4) === "RIFF" && bytes.toString("latin1", 8, 12) === "WEBP",
};
const CONTENT_TYPE: Record<OutputFormat, string> = {
  JPG: "image/jpeg",
  PNG: "image/png",
  WEBP: "image/webp",
};

describe("encodeOutput", () => {
  const image = gradientImage(64, 48);

  it.each(OUTPUT_FORMATS)("writes %s with its magic bytes, content type and size", async (format) => {
    const { bytes, contentType } = await encodeOutput(image, { format, quality: 90 });
    expect(MAGIC[format](bytes)).toBe(true);
    expect(contentType).toBe(CONTENT_TYPE[format]);
    const meta = await sharp(bytes).metadata();
    expect({ width: meta.width, height: meta.height }).toEqual({ width: 64, height: 48 });
  });

  it("keeps PNG lossless", async () => {
    const { bytes } = await encodeOutput(image, { format: "PNG", quality: 20 });
    const decoded = await sharp(bytes).ensureAlpha().raw().toBuffer();
    expect(decoded.equals(image.data)).toBe(true);
  });

  it("keeps alpha in PNG and WEBP and flattens it onto white in JPG", async () => {
    const transparent = solidImage(16, 16, [255, 0, 0, 0]);
    for (const format of ["PNG", "WEBP"] as const) {
      const { bytes } = await encodeOutput(transparent, { format, quality: 90 });
      const { data, info } = await sharp(bytes).raw().toBuffer({ resolveWithObject: true });
      expect(info.channels).toBe(4);
      expect(data[3]).toBe(0);
    }
    const { bytes } = await encodeOutput(transparent, { format: "JPG", quality: 90 });
    const { data, info } = await sharp(bytes).raw().toBuffer({ resolveWithObject: true });
    expect(info.channels).toBe(3);
    for (const value of data.subarray(0, 3)) expect(value).toBeGreaterThan(250);
  });

  it("drops the alpha channel when alpha is false", async () => {
    const { bytes } = await encodeOutput(image, { format: "PNG", quality: 90, alpha: false });
    expect((await sharp(bytes).metadata()).channels).toBe(3);
  });

  it("produces a smaller JPG and WEBP at quality 20 than at quality 99", async () => {
    const detailed = gradientImage(256, 256);
    for (const format of ["JPG", "WEBP"] as const) {
      const low = await encodeOutput(detailed, { format, quality: 20 });
      const high = await encodeOutput(detailed, { format, quality: 99 });
      expect(low.bytes.length).toBeLessThan(high.bytes.length);
    }
  });

  it("rejects a quality outside 20–99", async () => {
    await expect(encodeOutput(image, { format: "JPG", quality: 19 })).rejects.toThrow(/outputQuality/);
    await expect(encodeOutput(image, { format: "JPG", quality: 100 })).rejects.toThrow(/outputQuality/);
  });
});
