import { describe, expect, it } from "vitest";
import { GLYPH_ADVANCE, GLYPH_HEIGHT, glyphRows, layoutText } from "./bitmap-font.ts";

describe("bitmap font", () => {
  it("has a glyph for every printable ASCII character and a box for anything else", () => {
    const box = glyphRows("é");
    expect(box).toEqual([31, 17, 17, 17, 17, 17, 31]);
    for (let code = 33; code <= 126; code++) {
      const rows = glyphRows(String.fromCharCode(code));
      expect(rows).toHaveLength(GLYPH_HEIGHT);
      expect(rows.some((bits) => bits > 0)).toBe(true);
      expect(rows.every((bits) => bits >= 0 && bits < 32)).toBe(true);
    }
    expect(glyphRows(" ").every((bits) => bits === 0)).toBe(true);
  });

  it("lays text out one advance per code point with merged runs", () => {
    const layout = layoutText("T©");
    expect(layout.width).toBe(2 * GLYPH_ADVANCE - 1);
    // "T": a 5-wide top bar then six single-pixel stem rows; "©" draws as the box (2 bars + 10 sides).
    expect(layout.rects.filter((rect) => rect.x < GLYPH_ADVANCE)).toHaveLength(7);
    expect(layout.rects[0]).toEqual({ x: 0, y: 0, width: 5, height: 1 });
    expect(layout.rects.filter((rect) => rect.x >= GLYPH_ADVANCE)).toHaveLength(12);
  });
});
