import { describe, expect, it } from "vitest";
import { type Margins, OUTPAINT_MODES, outpaintImage } from "./outpaint.ts";
import type { RawImage } from "./raw-image.ts";
import { countChanged, cropBytes, gradientImage, regionStats } from "./test-images.ts";

const sourceRect = (source: RawImage, margins: Margins) => ({
  left: margins.left,
  top: margins.top,
  width: source.width,
  height: source.height,
});

describe("outpaintImage", () => {
  const source = gradientImage(120, 80);

  it.each(OUTPAINT_MODES)(
    "in %s mode returns exactly source + margins with the source unchanged",
    async (mode) => {
      const cases: Margins[] = [
        { top: 10, right: 37, bottom: 3, left: 5 },
        { top: 0, right: 64, bottom: 0, left: 0 },
        { top: 0, right: 0, bottom: 23, left: 0 },
        { top: 17, right: 0, bottom: 0, left: 9 },
        { top: 200, right: 300, bottom: 150, left: 250 },
      ];
      for (const margins of cases) {
        const out = await outpaintImage({ source, margins, mode, seed: 1 });
        expect({ width: out.width, height: out.height }).toEqual({
          width: 120 + margins.left + margins.right,
          height: 80 + margins.top + margins.bottom,
        });
        expect(out.data.length).toBe(out.width * out.height * 4);
        expect(cropBytes(out, sourceRect(source, margins)).equals(source.data)).toBe(true);
      }
    },
  );

  it("with all margins zero returns a copy of the source", async () => {
    const out = await outpaintImage({
      source,
      margins: { top: 0, right: 0, bottom: 0, left: 0 },
      mode: "high",
      seed: 1,
    });
    expect(out.data.equals(source.data)).toBe(true);
    expect(out.data).not.toBe(source.data);
  });

  it("rejects a negative or fractional margin naming the side", async () => {
    const bad = (margins: Margins) => outpaintImage({ source, margins, mode: "fast", seed: 1 });
    await expect(bad({ top: -1, right: 0, bottom: 0, left: 0 })).rejects.toThrow(/outpaint\.top/);
    await expect(bad({ top: 0, right: 2.5, bottom: 0, left: 0 })).rejects.toThrow(/outpaint\.right/);
  });

  it.each(OUTPAINT_MODES)("in %s mode fills the new area with texture, not a flat colour", async (mode) => {
    const margins = { top: 0, right: 200, bottom: 0, left: 0 };
    const out = await outpaintImage({ source, margins, mode, seed: 5 });
    const { lumaStd } = regionStats(out, { left: 120, top: 0, width: 200, height: 80 });
    expect(lumaStd).toBeGreaterThan(5);
  });

  it.each(OUTPAINT_MODES)("in %s mode continues the edge colour across every seam", async (mode) => {
    const margins = { top: 40, right: 60, bottom: 30, left: 50 };
    const out = await outpaintImage({ source, margins, mode, seed: 9 });
    const strip = 4;
    const pairs = [
      [
        { left: 50 - strip, top: 40, width: strip, height: 80 },
        { left: 50, top: 40, width: strip, height: 80 },
      ],
      [
        { left: 170, top: 40, width: strip, height: 80 },
        { left: 170 - strip, top: 40, width: strip, height: 80 },
      ],
      [
        { left: 50, top: 40 - strip, width: 120, height: strip },
        { left: 50, top: 40, width: 120, height: strip },
      ],
      [
        { left: 50, top: 120, width: 120, height: strip },
        { left: 50, top: 120 - strip, width: 120, height: strip },
      ],
    ];
    for (const [outside, inside] of pairs) {
      const a = regionStats(out, outside!).mean;
      const b = regionStats(out, inside!).mean;
      for (let c = 0; c < 3; c++) expect(Math.abs(a[c]! - b[c]!)).toBeLessThan(8);
    }
  });

  it("is deterministic per seed and differs between seeds only outside the source", async () => {
    const margins = { top: 12, right: 40, bottom: 0, left: 25 };
    const first = await outpaintImage({ source, margins, mode: "high", seed: 42 });
    const again = await outpaintImage({ source, margins, mode: "high", seed: 42 });
    const other = await outpaintImage({ source, margins, mode: "high", seed: 43 });
    expect(again.data.equals(first.data)).toBe(true);
    expect(other.data.equals(first.data)).toBe(false);
    expect(countChanged(first, other, sourceRect(source, margins))).toBe(0);
    const newPixels = first.width * first.height - source.width * source.height;
    expect(countChanged(first, other)).toBeGreaterThan(newPixels / 2);
  });

  it("carries a transparent source's alpha into the new area", async () => {
    const translucent = gradientImage(60, 40, { alpha: true });
    const out = await outpaintImage({
      source: translucent,
      margins: { top: 0, right: 0, bottom: 0, left: 30 },
      mode: "fast",
      seed: 1,
    });
    const nearSeam = regionStats(out, { left: 26, top: 0, width: 4, height: 40 }).mean[3]!;
    expect(nearSeam).toBeLessThan(70);
  });
});
