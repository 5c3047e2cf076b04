import { CreateBucketCommand, HeadObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { createS3Client, presignOutputUpload } from "@reframe/storage";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

/**
 * The presigned-upload checks against MinIO, a server that verifies SigV4 and checksums the way S3
 * does. Opt-in (`TEST_S3=minio`) and only where a Docker engine answers; otherwise skipped with the
 * reason, never failed: the embedded s3rver suite covers the same paths on every machine.
 */

async function dockerReason(): Promise<string | undefined> {
  if (process.env.TEST_S3 !== "minio") return "TEST_S3 is not 'minio'";
  try {
    const { getContainerRuntimeClient } = await import("testcontainers");
    await getContainerRuntimeClient();
    return undefined;
  } catch (error) {
    return `no Docker engine reachable (${error instanceof Error ? error.message.split("\n")[0] : String(error)})`;
  }
}

const skipReason = await dockerReason();
if (skipReason) console.warn(`[minio suite] skipped: ${skipReason}`);

describe.skipIf(skipReason !== undefined)("presigned uploads against MinIO", () => {
  let stop: () => Promise<unknown>;
  let client: S3Client;
  const bucket = "reframe-minio";

  beforeAll(async () => {
    const { MinioContainer } = await import("@testcontainers/minio");
    const container = await new MinioContainer("minio/minio:latest")
      .withUsername("reframe")
      .withPassword("reframe-secret")
      .start();
    stop = () => container.stop();
    client = createS3Client({
      endpoint: container.getConnectionUrl(),
      region: "us-east-1",
      forcePathStyle: true,
      credentials: { accessKeyId: "reframe", secretAccessKey: "reframe-secret" },
    });
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
  }, 180_000);

  afterAll(async () => {
    client?.destroy();
    await stop?.();
  });

  it("a presigned PUT without checksum parameters uploads the bytes", async () => {
    const url = await presignOutputUpload({ client, bucket, key: "out/a.png", expiresInSeconds: 300 });
    expect(url).not.toMatch(/x-amz-checksum|x-amz-sdk-checksum-algorithm/i);
    const response = await fetch(url, {
      method: "PUT",
      body: Buffer.from("png bytes"),
      headers: { "content-type": "image/png" },
    });
    expect(response.status).toBe(200);
    const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: "out/a.png" }));
    expect(head.ContentLength).toBe(9);
  });

  it("a tampered signature or another key is refused", async () => {
    const url = await presignOutputUpload({ client, bucket, key: "out/b.png", expiresInSeconds: 300 });
    const tampered = url.replace(
      /X-Amz-Signature=([0-9a-f])/,
      (_, c: string) => `X-Amz-Signature=${c === "0" ? "1" : "0"}`,
    );
    expect((await fetch(tampered, { method: "PUT", body: "x" })).status).toBe(403);
    expect((await fetch(url.replace("/out/b.png", "/out/c.png"), { method: "PUT", body: "x" })).status).toBe(
      403,
    );
  });
});
