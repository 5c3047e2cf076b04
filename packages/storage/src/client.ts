import { S3Client } from "@aws-sdk/client-s3";

export interface S3ClientSettings {
  /** Omit for AWS; set for MinIO, s3rver, R2, … */
  endpoint?: string | undefined;
  region: string;
  /** Path-style URLs (bucket in the path): needed by most S3-compatible servers. */
  forcePathStyle: boolean;
  credentials: { accessKeyId: string; secretAccessKey: string };
}

/**
 * The one S3 client factory. Checksums only when required: since @aws-sdk/client-s3 3.729 the
 * default signs a CRC32 of an *empty* body into presigned PUT URLs (anchors.md §E1), which a real
 * upload then contradicts.
 */
export function createS3Client(settings: S3ClientSettings): S3Client {
  return new S3Client({
    ...(settings.endpoint ? { endpoint: settings.endpoint } : {}),
    region: settings.region,
    forcePathStyle: settings.forcePathStyle,
    credentials: settings.credentials,
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  });
}
