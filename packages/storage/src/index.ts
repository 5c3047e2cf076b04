export {
  checkS3Reachable,
  createS3Client,
  DEFAULT_S3_TIMEOUTS,
  type S3ClientSettings,
  s3Target,
} from "./client.ts";
export {
  DEFAULT_KEY_TEMPLATE,
  KeyTemplateError,
  type KeyTemplateField,
  type KeyTemplateValues,
  keyTemplateProblems,
  type OutputPlace,
  outputAreaOf,
  renderKeyTemplate,
  splitKey,
} from "./key-template.ts";
export { keyFilter, type ListedObject, type ListObjectsInput, listObjects } from "./list-objects.ts";
export {
  PresignDeadlineError,
  type PresignInput,
  presignExpirySeconds,
  presignOutputUpload,
  presignSourceDownload,
} from "./presign.ts";
export { areaContains, areasOverlap, describeArea, inArea, type S3Area, scratchAreas } from "./s3-area.ts";
export { type CreatedObject, decodeEventKey, type ParsedS3Event, parseS3Event } from "./s3-events.ts";
export { asS3Unreachable, s3OutageNow, s3OutageOf } from "./s3-outage.ts";
export {
  type OutputVerification,
  readImageDimensions,
  readObjectRange,
  verifyOutputObject,
} from "./verify.ts";
