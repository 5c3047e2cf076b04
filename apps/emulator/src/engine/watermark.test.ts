import { WATERMARK_POSITIONS } from "@reframe/runware";
import { describe, expect, it } from "vitest";
import type { DecodedImage } from "./decode.ts";
import { EngineInputError } from "./errors.ts";
import type { RawImage } from "./raw-image.ts";
import { changedBounds, countChanged, solidImage } from "./test-images.ts";
import { applyWatermark, type WatermarkSpec } from "./watermark.ts";

const base = solidImage(400, 300, [60, 90, 120, 255]);
const noImages = {
  resolveImage: (): Promise<DecodedImage> => Promise.reject(new Error("no image watermark expected")),
};
const mark = (spec: WatermarkSpec, image: RawImage = base) => applyWatermark(image, spec, noImages);

describe("applyWatermark", () => {
  it("draws text in the bottom-right corner by default and nowhere else", async () => {
    const out = await mark({ text: "(c) Reframe" });
    const bounds = changedBounds(base, out)!;
    expect(bounds.left).toBeGreaterThan(200);
    expect(bounds.top).toBeGreaterThan(150);
    expect(bounds.left + bounds.width).toBeLessThanOrEqual(400 - 5);
    expect(bounds.top + bounds.height).toBeLessThanOrEqual(300 - 5);
  });

  it.each(WATERMARK_POSITIONS)(
    "places %s text in the matching third of the image",
    async (displayPosition) => {
      const out = await mark({ text: "PREVIEW", displayPosition });
      const bounds = changedBounds(base, out)!;
      const third = (centre: number, size: number) => Math.floor((3 * centre) / size);
      const [vertical, horizontal] = displayPosition.split("-");
      const expected = { top: 0, left: 0, center: 1, bottom: 2, right: 2 } as Record<string, number>;
      expect(third(bounds.left + bounds.width / 2, 400)).toBe(expected[horizontal!]);
      expect(third(bounds.top + bounds.height / 2, 300)).toBe(expected[vertical!]);
    },
  );

  it("tiles text across all four quadrants when tiled", async () => {
    const out = await mark({ text: "PREVIEW", tiled: true, opacity: 0.4 });
    for (const [left, top] of [
      [0, 0],
      [200, 0],
      [0, 150],
      [200, 150],
    ] as const) {
      expect(countChanged(base, out, { left, top, width: 200, height: 150 })).toBeGreaterThan(100);
    }
  });

  it("changes pixels more at opacity 1 than at opacity 0.1", async () => {
    const strong = await mark({ text: "PREVIEW", opacity: 1 });
    const faint = await mark({ text: "PREVIEW", opacity: 0.1 });
    expect(strong.data.equals(faint.data)).toBe(false);
    const maxDelta = (image: RawImage) =>
      image.data.reduce((max, value, i) => Math.max(max, Math.abs(value - base.data[i]!)), 0);
    expect(maxDelta(strong)).toBeGreaterThan(maxDelta(faint) * 5);
  });

  it("draws a padded bgColor box behind the text", async () => {
    const plain = await mark({ text: "PREVIEW", fontColor: "#ffffff" });
    const boxed = await mark({ text: "PREVIEW", fontColor: "#ffffff", bgColor: "#000000" });
    expect(countChanged(base, boxed)).toBeGreaterThan(countChanged(base, plain) * 1.5);
  });

  it("is deterministic", async () => {
    const first = await mark({ text: "Same every time", tiled: true });
    const second = await mark({ text: "Same every time", tiled: true });
    expect(second.data.equals(first.data)).toBe(true);
  });

  it("decodes an image watermark through resolveImage and draws it at the position", async () => {
    const logo: DecodedImage = { ...solidImage(40, 20, [255, 0, 255, 255]), hasAlpha: false };
    const requested: string[] = [];
    const resolveImage = async (input: string) => {
      requested.push(input);
      return logo;
    };
    const out = await applyWatermark(
      base,
      { image: "logo-ref", displayPosition: "top-left", opacity: 1 },
      {
        resolveImage,
      },
    );
    expect(requested).toEqual(["logo-ref"]);
    const bounds = changedBounds(base, out)!;
    expect(bounds).toMatchObject({ left: 6, top: 6 });
    expect(bounds.width).toBe(60); // fitted inside 20 % of the short side (60 px), aspect 2:1
    expect([...out.data.subarray((10 * 400 + 10) * 4, (10 * 400 + 10) * 4 + 3)]).toEqual([255, 0, 255]);
  });

  it("rejects invalid watermarks as invalidWatermark naming the field", async () => {
    const cases: [WatermarkSpec, string][] = [
      [{ text: "ab", image: "x" }, "advancedFeatures.watermark"],
      [{}, "advancedFeatures.watermark"],
      [{ text: "a" }, "advancedFeatures.watermark.text"],
      [{ text: "x".repeat(33) }, "advancedFeatures.watermark.text"],
      [{ text: "ok", opacity: 0.05 }, "advancedFeatures.watermark.opacity"],
      [{ text: "ok", fontColor: "white" }, "advancedFeatures.watermark.fontColor"],
      [{ text: "ok", bgColor: "#12345" }, "advancedFeatures.watermark.bgColor"],
      [{ text: "ok", displayPosition: "middle" }, "advancedFeatures.watermark.displayPosition"],
    ];
    for (const [spec, field] of cases) {
      const error = await mark(spec).catch((thrown: unknown) => thrown);
      expect(error).toBeInstanceOf(EngineInputError);
      expect(error).toMatchObject({ code: "invalidWatermark", field });
    }
  });

  it("shrinks text that is wider than a small image instead of failing", async () => {
    const small = solidImage(64, 48, [0, 0, 0, 255]);
    const out = await mark(
      { text: "A much longer watermark text!!", displayPosition: "center-center" },
      small,
    );
    expect(out.width).toBe(64);
    expect(countChanged(small, out)).toBeGreaterThan(0);
  });
});
