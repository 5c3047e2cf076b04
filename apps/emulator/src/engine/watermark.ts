import { WATERMARK_POSITIONS } from "@reframe/runware";
import sharp from "sharp";
import { layoutText } from "./bitmap-font.ts";
import type { DecodedImage } from "./decode.ts";
import { EngineInputError } from "./errors.ts";
import { type RawImage, RGBA_CHANNELS, rawInput } from "./raw-image.ts";

/**
 * advancedFeatures.watermark (docs/provider-protocol.md §2.5). Sizes are relative to the image's short side
 * so a watermark looks the same at any resolution: text cap height 4 %, image fitted inside 20 %,
 * margin from the edges 2 %. Text uses the built-in bitmap font (no system fonts needed).
 */
// The nine positions are the protocol's (packages/runware); the engine only draws them.
/** The request object as the server validated it; `displayPosition` is one of WATERMARK_POSITIONS. */
export type WatermarkSpec = {
  text?: string;
  image?: string;
  displayPosition?: string;
  tiled?: boolean;
  opacity?: number;
  fontColor?: string;
  bgColor?: string;
};

export type WatermarkDependencies = {
  /** Decodes `watermark.image` (UUID, URL, data URI or base64), normally via decodeInputImage. */
  resolveImage: (input: string) => Promise<DecodedImage>;
};

const FIELD = "advancedFeatures.watermark";
const TEXT_HEIGHT_RATIO = 0.04;
const IMAGE_BOX_RATIO = 0.2;
const MARGIN_RATIO = 0.02;
/** Padding of the bgColor box around the text, in font pixels. */
const BOX_PADDING_UNITS = 2;
const DEFAULTS = {
  displayPosition: "bottom-right",
  opacity: 0.6,
  fontColor: "#ffffff",
  bgColor: "transparent",
};
const HEX_COLOR = /^#(?:[0-9a-f]{3}|[0-9a-f]{6})$/i;
const TRANSPARENT = { r: 0, g: 0, b: 0, alpha: 0 };

export async function applyWatermark(
  image: RawImage,
  watermark: WatermarkSpec,
  { resolveImage }: WatermarkDependencies,
): Promise<RawImage> {
  const spec = validateWatermark(watermark);
  const shortSide = Math.min(image.width, image.height);
  const stamp =
    spec.text !== undefined
      ? await renderTextStamp(spec.text, shortSide, spec.fontColor, spec.bgColor)
      : await fitInside(await resolveImage(spec.image), Math.max(1, Math.round(shortSide * IMAGE_BOX_RATIO)));
  scaleAlpha(stamp, spec.opacity);
  const overlay: sharp.OverlayOptions = spec.tiled
    ? await tileCell(stamp, image).then((cell) => ({ input: cell.data, ...rawInput(cell), tile: true }))
    : await placeStamp(stamp, image, spec.displayPosition).then((placed) => ({
        input: placed.data,
        ...rawInput(placed),
        left: placed.left,
        top: placed.top,
      }));
  const data = await sharp(image.data, rawInput(image)).composite([overlay]).raw().toBuffer();
  return { data, width: image.width, height: image.height };
}

type ValidWatermark = Required<Omit<WatermarkSpec, "text" | "image">> &
  ({ text: string; image?: undefined } | { text?: undefined; image: string });

function validateWatermark(watermark: WatermarkSpec): ValidWatermark {
  const reject = (field: string, rule: string) =>
    new EngineInputError("invalidWatermark", `${FIELD}${field}`, rule);
  const spec = { ...DEFAULTS, tiled: false, ...stripUndefined(watermark) };
  if ((spec.text === undefined) === (spec.image === undefined))
    throw reject("", "set exactly one of text or image");
  if (spec.text !== undefined && (Array.from(spec.text).length < 2 || Array.from(spec.text).length > 32)) {
    throw reject(".text", "must be 2 to 32 characters");
  }
  if (!(WATERMARK_POSITIONS as readonly string[]).includes(spec.displayPosition)) {
    throw reject(".displayPosition", `must be one of ${WATERMARK_POSITIONS.join(", ")}`);
  }
  if (!(spec.opacity >= 0.1 && spec.opacity <= 1)) throw reject(".opacity", "must be between 0.1 and 1");
  if (!HEX_COLOR.test(spec.fontColor)) throw reject(".fontColor", "must be a hex colour like #ffffff");
  if (spec.bgColor !== "transparent" && !HEX_COLOR.test(spec.bgColor)) {
    throw reject(".bgColor", 'must be a hex colour or "transparent"');
  }
  return spec as ValidWatermark;
}

function stripUndefined(watermark: WatermarkSpec): WatermarkSpec {
  return Object.fromEntries(Object.entries(watermark).filter(([, value]) => value !== undefined));
}

/** Bitmap-font text as one SVG path (crisp edges), with an optional padded bgColor box behind it. */
async function renderTextStamp(text: string, shortSide: number, fontColor: string, bgColor: string) {
  const layout = layoutText(text);
  const unit = Math.max(1, Math.round((shortSide * TEXT_HEIGHT_RATIO) / layout.height));
  const pad = bgColor === "transparent" ? 0 : BOX_PADDING_UNITS;
  const width = (layout.width + 2 * pad) * unit;
  const height = (layout.height + 2 * pad) * unit;
  const path = layout.rects
    .map((r) => `M${(r.x + pad) * unit} ${(r.y + pad) * unit}h${r.width * unit}v${unit}h${-r.width * unit}z`)
    .join("");
  const box = pad > 0 ? `<rect width="${width}" height="${height}" fill="${bgColor}"/>` : "";
  const svg =
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" shape-rendering="crispEdges">` +
    `${box}<path fill="${fontColor}" d="${path}"/></svg>`;
  return toRaw(sharp(Buffer.from(svg)).ensureAlpha());
}

async function toRaw(pipeline: sharp.Sharp): Promise<RawImage> {
  const { data, info } = await pipeline.raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height };
}

/** Scales to the largest size inside the box, keeping the aspect ratio (enlarges small logos). */
async function fitInside(image: RawImage, maxWidth: number, maxHeight = maxWidth): Promise<RawImage> {
  return toRaw(sharp(image.data, rawInput(image)).resize(maxWidth, maxHeight, { fit: "inside" }));
}

function scaleAlpha(stamp: RawImage, opacity: number): void {
  for (let p = 3; p < stamp.data.length; p += RGBA_CHANNELS) {
    stamp.data[p] = Math.round(stamp.data[p]! * opacity);
  }
}

async function placeStamp(stamp: RawImage, image: RawImage, position: string) {
  const margin = Math.round(Math.min(image.width, image.height) * MARGIN_RATIO);
  const room = {
    width: Math.max(1, image.width - 2 * margin),
    height: Math.max(1, image.height - 2 * margin),
  };
  const fitted =
    stamp.width > room.width || stamp.height > room.height
      ? await fitInside(stamp, room.width, room.height)
      : stamp;
  const [vertical, horizontal] = position.split("-");
  const offset = (side: string | undefined, free: number) =>
    Math.max(0, side === "top" || side === "left" ? margin : side === "center" ? free / 2 : free - margin);
  return {
    ...fitted,
    left: Math.floor(offset(horizontal, image.width - fitted.width)),
    top: Math.floor(offset(vertical, image.height - fitted.height)),
  };
}

/** The stamp with spacing around it, turned −45° (rising left to right), cropped to the image if larger. */
async function tileCell(stamp: RawImage, image: RawImage): Promise<RawImage> {
  const padX = Math.max(stamp.height, Math.round(stamp.width / 4));
  const padY = Math.round(stamp.height * 1.5);
  const spaced = await toRaw(
    sharp(stamp.data, rawInput(stamp)).extend({
      top: padY,
      bottom: padY,
      left: padX,
      right: padX,
      background: TRANSPARENT,
    }),
  );
  const turned = await toRaw(sharp(spaced.data, rawInput(spaced)).rotate(-45, { background: TRANSPARENT }));
  if (turned.width <= image.width && turned.height <= image.height) return turned;
  const width = Math.min(turned.width, image.width);
  const height = Math.min(turned.height, image.height);
  const left = Math.floor((turned.width - width) / 2);
  const top = Math.floor((turned.height - height) / 2);
  return toRaw(sharp(turned.data, rawInput(turned)).extract({ left, top, width, height }));
}
