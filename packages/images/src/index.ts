export { type HeaderProbe, type ImageHeader, probeImageHeader, readImageHeader } from "./image-header.ts";
export {
  describeBytes,
  describeMegapixels,
  IMAGE_PROBLEMS,
  type ImageProblemCode,
  ImageProblemError,
} from "./image-problem.ts";
export {
  configureSharp,
  createImageSlots,
  type HeldSource,
  type ImageSlots,
  type SourceHold,
} from "./image-work.ts";
export { type ByteRange, type ImageInspection, inspectImage, type ReadRange } from "./inspect.ts";
export {
  asImageProblem,
  describeImageFile,
  type Encoding,
  type ImageFile,
  providerInputEncoding,
  type RenderedImage,
  renderImage,
  type Size,
} from "./render.ts";
export { DECODED_FORMATS, formatLabel, PROVIDER_FORMATS } from "./source-formats.ts";
export { checkBytes, checkPixels, type SourceLimits } from "./source-limits.ts";
export { spoolToFile } from "./spool.ts";
