import type { OutputContentType, OutputFormat } from "@reframe/runware";
import { type DecodeOptions, decodeInputImage, type ResolveImageUUID } from "./decode.ts";
import { encodeOutput } from "./encode.ts";
import { type Margins, type OutpaintMode, outpaintImage } from "./outpaint.ts";
import { applyWatermark, type WatermarkSpec } from "./watermark.ts";

export type RenderOutpaintRequest = {
  /** inputs.image: URL, data URI, base64 or imageUUID. */
  input: string;
  margins: Margins;
  mode: OutpaintMode;
  seed: number;
  watermark?: WatermarkSpec;
  format: OutputFormat;
  quality: number;
  resolveUUID?: ResolveImageUUID;
  /** Download limits for the input and an image watermark; defaults 15 s and 20 MiB. */
  fetchTimeoutMs?: number;
  maxBytes?: number;
};

export type RenderedOutpaint = {
  bytes: Buffer;
  contentType: OutputContentType;
  width: number;
  height: number;
};

const DEFAULT_FETCH_TIMEOUT_MS = 15_000;
const DEFAULT_MAX_BYTES = 20 * 1024 * 1024;

/** decode → outpaint → watermark → encode, as one imageInference result. */
export async function renderOutpaint(request: RenderOutpaintRequest): Promise<RenderedOutpaint> {
  const decodeOptions: DecodeOptions = {
    fetchTimeoutMs: request.fetchTimeoutMs ?? DEFAULT_FETCH_TIMEOUT_MS,
    maxBytes: request.maxBytes ?? DEFAULT_MAX_BYTES,
    ...(request.resolveUUID ? { resolveUUID: request.resolveUUID } : {}),
  };
  const source = await decodeInputImage(request.input, decodeOptions);
  const extended = await outpaintImage({
    source,
    margins: request.margins,
    mode: request.mode,
    seed: request.seed,
  });
  const finished = request.watermark
    ? await applyWatermark(extended, request.watermark, {
        resolveImage: (image) =>
          decodeInputImage(image, { ...decodeOptions, field: "advancedFeatures.watermark.image" }),
      })
    : extended;
  const encoded = await encodeOutput(finished, {
    format: request.format,
    quality: request.quality,
    alpha: source.hasAlpha,
  });
  return { ...encoded, width: finished.width, height: finished.height };
}
