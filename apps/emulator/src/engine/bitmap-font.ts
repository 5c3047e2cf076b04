/**
 * A built-in 5×7 bitmap font for printable ASCII (32–126), drawn for this project, so watermark text
 * renders identically on machines without any system font (librsvg's <text> would draw nothing there).
 * Each glyph is 7 rows top to bottom, one base-32 digit per row; bit 4 is the leftmost column.
 */
const GLYPH_WIDTH = 5;
export const GLYPH_HEIGHT = 7;
/** One blank column between glyphs. */
export const GLYPH_ADVANCE = 6;

const FIRST_CODE = 32;
/** Characters outside printable ASCII draw as a hollow box. */
const UNKNOWN_GLYPH = "vhhhhhv";
const GLYPHS = [
  "0000000",
  "4444404",
  "aa00000",
  "aavavaa",
  "4fke5u4",
  "op248j3",
  "cik8lid",
  "4480000",
  "2488842",
  "8422248",
  "04lel40",
  "044v440",
  "0000c48",
  "000v000",
  "00000cc",
  "01248g0",
  "ehjlphe",
  "4c4444e",
  "eh1248v",
  "v2421he",
  "26aiv22",
  "vgu11he",
  "68guhhe",
  "v124888",
  "ehhehhe",
  "ehhf12c",
  "0cc0cc0",
  "0cc0c48",
  "248g842",
  "00v0v00",
  "8421248",
  "eh12404",
  "eh1dlle",
  "ehhvhhh",
  "uhhuhhu",
  "ehggghe",
  "sihhhis",
  "vgguggv",
  "vgguggg",
  "ehgnhhf",
  "hhhvhhh",
  "e44444e",
  "72222ic",
  "hikokih",
  "ggggggv",
  "hrllhhh",
  "hhpljhh",
  "ehhhhhe",
  "uhhuggg",
  "ehhhlid",
  "uhhukih",
  "fgge11u",
  "v444444",
  "hhhhhhe",
  "hhhhha4",
  "hhhllla",
  "hha4ahh",
  "hhha444",
  "v1248gv",
  "e88888e",
  "0g84210",
  "e22222e",
  "4ah0000",
  "000000v",
  "8420000",
  "00e1fhf",
  "ggmphhu",
  "00egghe",
  "11djhhf",
  "00ehvge",
  "698s888",
  "0fhhf1e",
  "ggmphhh",
  "40c444e",
  "20622ic",
  "ggikoki",
  "c44444e",
  "00qllhh",
  "00mphhh",
  "00ehhhe",
  "00uhugg",
  "00djf11",
  "00mpggg",
  "00ege1u",
  "88s8896",
  "00hhhjd",
  "00hhha4",
  "00hhlla",
  "00ha4ah",
  "00hhf1e",
  "00v248v",
  "2448442",
  "4444444",
  "8442448",
  "008l200",
];

export type GlyphRect = { x: number; y: number; width: number; height: number };

/** Row bitmasks of one character (a code point); unknown characters give the box. */
export function glyphRows(char: string): number[] {
  const code = char.codePointAt(0) ?? 0;
  const encoded = GLYPHS[code - FIRST_CODE] ?? UNKNOWN_GLYPH;
  return Array.from(encoded, (digit) => Number.parseInt(digit, 32));
}

/**
 * Lit pixels of `text` as rectangles in glyph units (1 unit = 1 font pixel), horizontal runs merged
 * so a 32-character string stays a few hundred rectangles.
 */
export function layoutText(text: string): { width: number; height: number; rects: GlyphRect[] } {
  const chars = Array.from(text);
  const rects: GlyphRect[] = [];
  chars.forEach((char, index) => {
    const rows = glyphRows(char);
    rows.forEach((bits, y) => {
      let runStart = -1;
      for (let column = 0; column <= GLYPH_WIDTH; column++) {
        const lit = column < GLYPH_WIDTH && (bits >> (GLYPH_WIDTH - 1 - column)) & 1;
        if (lit && runStart < 0) runStart = column;
        if (!lit && runStart >= 0) {
          rects.push({ x: index * GLYPH_ADVANCE + runStart, y, width: column - runStart, height: 1 });
          runStart = -1;
        }
      }
    });
  });
  const width = chars.length > 0 ? chars.length * GLYPH_ADVANCE - 1 : 0;
  return { width, height: GLYPH_HEIGHT, rects };
}
