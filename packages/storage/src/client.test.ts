import { GetObjectCommand } from "@aws-sdk/client-s3";
import { startEmbeddedS3 } from "@reframe/embedded-s3";
import { ServiceUnreachableError } from "@reframe/reachability";
import { freePort } from "@reframe/testkit";
import { describe, expect, it } from "vitest";
import { checkS3Reachable, createS3Client, s3Target } from "./client.ts";

const settings = (endpoint: string, secretAccessKey = "reach-secret") => ({
  endpoint,
  region: "us-east-1",
  forcePathStyle: true,
  credentials: { accessKeyId: "reach-key", secretAccessKey },
});

/** An S3 server starts here, on a machine other tests share: more than vitest's 5 s. */
const TIMEOUT_MS = 30_000;

describe("S3 that does not answer", () => {
  it(
    "fails any request with one line naming the endpoint and the problem, after the SDK's retries",
    async () => {
      const endpoint = `http://127.0.0.1:${await freePort()}`;
      const client = createS3Client(settings(endpoint));
      try {
        const started = Date.now();
        const error = await client
          .send(new GetObjectCommand({ Bucket: "b", Key: "k.jpg" }))
          .catch((caught: unknown) => caught);
        expect(Date.now() - started).toBeLessThan(10_000);
        expect(error).toBeInstanceOf(ServiceUnreachableError);
        expect((error as Error).message).toBe(`cannot reach S3 at ${endpoint} (connection refused)`);
        await expect(checkS3Reachable(client, s3Target(settings(endpoint)))).rejects.toThrow(
          `cannot reach S3 at ${endpoint} (connection refused)`,
        );
      } finally {
        client.destroy();
      }
    },
    TIMEOUT_MS,
  );

  it(
    "counts any answer as reachable, a refusal of the credentials included",
    async () => {
      const s3 = await startEmbeddedS3({
        buckets: ["reach"],
        accessKeyId: "reach-key",
        secretAccessKey: "reach-secret",
      });
      const good = createS3Client(settings(s3.endpoint));
      const wrongSecret = createS3Client(settings(s3.endpoint, "not-the-secret"));
      try {
        await expect(checkS3Reachable(good, s3Target(settings(s3.endpoint)))).resolves.toBeUndefined();
        await expect(checkS3Reachable(wrongSecret, s3Target(settings(s3.endpoint)))).resolves.toBeUndefined();
        const missing = await good
          .send(new GetObjectCommand({ Bucket: "reach", Key: "none.jpg" }))
          .catch((e) => e);
        expect(missing).not.toBeInstanceOf(ServiceUnreachableError);
        expect((missing as Error).name).toBe("NoSuchKey");
      } finally {
        good.destroy();
        wrongSecret.destroy();
        await s3.close();
      }
    },
    TIMEOUT_MS,
  );

  it("names AWS's regional endpoint when none is set, and never credentials in one", () => {
    expect(s3Target({ region: "eu-west-3" }).at).toBe("https://s3.eu-west-3.amazonaws.com");
    expect(s3Target({ endpoint: "https://key:secret@minio.internal:9000", region: "x" }).at).toBe(
      "https://minio.internal:9000",
    );
  });
});
