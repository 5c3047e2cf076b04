export { blankImage } from "./blank.ts";
export {
  decodeImageBytes,
  decodeInputImage,
  type ResolveImageUUID,
  readInputBytes,
} from "./decode.ts";
export { encodeOutput } from "./encode.ts";
export { EngineInputError } from "./errors.ts";
export { outpaintImage } from "./outpaint.ts";
export type { RawImage } from "./raw-image.ts";

export { applyWatermark } from "./watermark.ts";
