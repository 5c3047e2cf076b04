import sharp from "sharp";
import { describe, expect, it } from "vitest";
import { EngineInputError } from "./errors.ts";
import { renderOutpaint } from "./render.ts";
import { cropBytes, encodePng, gradientImage } from "./test-images.ts";

describe("renderOutpaint", () => {
  it("returns an encoded image of source + margins with the source pixels intact", async () => {
    const source = gradientImage(90, 60, { alpha: true });
    const png = await encodePng(source);
    const margins = { top: 7, right: 0, bottom: 21, left: 33 };
    const result = await renderOutpaint({
      input: `data:image/png;base64,${png.toString("base64")}`,
      margins,
      mode: "high",
      seed: 77,
      format: "PNG",
      quality: 95,
    });
    expect(result).toMatchObject({ contentType: "image/png", width: 123, height: 88 });
    const { data, info } = await sharp(result.bytes).raw().toBuffer({ resolveWithObject: true });
    expect(info.channels).toBe(4);
    const region = cropBytes({ data, width: 123, height: 88 }, { left: 33, top: 7, width: 90, height: 60 });
    expect(region.equals(source.data)).toBe(true);
  });

  it("resolves a UUID input, applies the watermark and encodes an opaque source without alpha", async () => {
    const png = await encodePng(gradientImage(80, 80));
    const imageUUID = "6f1c1b52-8f0e-4b7e-9a52-3c2d1e0f9a8b";
    const plain = await renderOutpaint({
      input: imageUUID,
      resolveUUID: () => png,
      margins: { top: 0, right: 80, bottom: 0, left: 0 },
      mode: "fast",
      seed: 1,
      format: "WEBP",
      quality: 90,
    });
    const marked = await renderOutpaint({
      input: imageUUID,
      resolveUUID: () => png,
      margins: { top: 0, right: 80, bottom: 0, left: 0 },
      mode: "fast",
      seed: 1,
      format: "WEBP",
      quality: 90,
      watermark: { text: "PREVIEW", tiled: true, opacity: 1 },
    });
    expect(marked).toMatchObject({ contentType: "image/webp", width: 160, height: 80 });
    expect((await sharp(plain.bytes).metadata()).hasAlpha).toBe(false);
    expect(marked.bytes.equals(plain.bytes)).toBe(false);
  });

  it("reports a watermark image that cannot be decoded against the watermark field", async () => {
    const png = await encodePng(gradientImage(32, 32));
    const error = await renderOutpaint({
      input: png.toString("base64"),
      margins: { top: 8, right: 8, bottom: 8, left: 8 },
      mode: "fast",
      seed: 1,
      format: "JPG",
      quality: 80,
      watermark: { image: "not-an-image!" },
    }).catch((thrown: unknown) => thrown);
    expect(error).toBeInstanceOf(EngineInputError);
    expect(error).toMatchObject({ code: "invalidImage", field: "advancedFeatures.watermark.image" });
  });
});
