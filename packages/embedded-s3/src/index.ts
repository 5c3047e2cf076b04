export { type EmbeddedS3, type S3Notification, startEmbeddedS3 } from "./embedded-s3.ts";
