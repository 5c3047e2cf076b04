export { blankImage } from "./blank.ts";
export {
  type DecodedImage,
  type DecodeOptions,
  decodeImageBytes,
  decodeInputImage,
  type ResolveImageUUID,
  readInputBytes,
} from "./decode.ts";
export {
  type EncodeOptions,
  encodeOutput,
} from "./encode.ts";
export { ENGINE_INPUT_ERROR_CODES, EngineInputError, type EngineInputErrorCode } from "./errors.ts";
export {
  type Margins,
  OUTPAINT_MODES,
  type OutpaintMode,
  type OutpaintRequest,
  outpaintImage,
} from "./outpaint.ts";
export type { RawImage } from "./raw-image.ts";
export { type RenderedOutpaint, type RenderOutpaintRequest, renderOutpaint } from "./render.ts";
export {
  applyWatermark,
  WATERMARK_POSITIONS,
  type WatermarkDependencies,
  type WatermarkPosition,
  type WatermarkSpec,
} from "./watermark.ts";
