import { startEmbeddedS3 } from "@reframe/embedded-s3";

/**
 * The embedded S3 as a process of its own (`LocalStackOptions.s3Process`): benchmarks give it its
 * own event loop, so S3 work and the harness that measures do not queue behind each other.
 * Environment: S3_BUCKETS (comma-separated), S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY, S3_PORT.
 */
const s3 = await startEmbeddedS3({
  buckets: (process.env.S3_BUCKETS ?? "").split(",").filter(Boolean),
  accessKeyId: process.env.S3_ACCESS_KEY_ID ?? "",
  secretAccessKey: process.env.S3_SECRET_ACCESS_KEY ?? "",
  port: Number(process.env.S3_PORT ?? 0),
});
console.log(`embedded S3 listening on ${s3.endpoint}`);
const stop = () => void s3.close().then(() => process.exit(0));
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
