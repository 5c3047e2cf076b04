import { describe, expect, it } from "vitest";
import { createS3Client } from "./client.ts";
import { presignOutputUpload, presignSourceDownload } from "./presign.ts";

const client = createS3Client({
  endpoint: "http://127.0.0.1:9",
  region: "us-east-1",
  forcePathStyle: true,
  credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret" },
});

describe("presigned URLs", () => {
  it("a PUT URL signs only host and carries no checksum parameters (the provider could not match them)", async () => {
    const url = new URL(
      await presignOutputUpload({ client, bucket: "out", key: "a/b.png", expiresInSeconds: 900 }),
    );
    expect(url.searchParams.get("X-Amz-SignedHeaders")).toBe("host");
    expect(url.searchParams.get("X-Amz-Expires")).toBe("900");
    expect([...url.searchParams.keys()].filter((k) => /checksum/i.test(k))).toEqual([]);
  });

  it("a GET URL carries no checksum mode either", async () => {
    const url = new URL(
      await presignSourceDownload({ client, bucket: "src", key: "a.jpg", expiresInSeconds: 60 }),
    );
    expect([...url.searchParams.keys()].filter((k) => /checksum/i.test(k))).toEqual([]);
  });

  it.each([0, 604_801, 1.5])(
    "an expiry of %s seconds is refused naming expiresInSeconds",
    async (seconds) => {
      await expect(
        presignOutputUpload({ client, bucket: "out", key: "k", expiresInSeconds: seconds }),
      ).rejects.toThrow(/expiresInSeconds must be an integer from 1 to 604800/);
    },
  );
});
