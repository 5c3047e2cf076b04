import { GetObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { describe, expect, it } from "vitest";
import { createS3Client } from "./client.ts";
import {
  PresignDeadlineError,
  presignExpirySeconds,
  presignOutputUpload,
  presignSourceDownload,
} from "./presign.ts";

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

describe("presignExpirySeconds", () => {
  const signedAt = Date.parse("2026-11-24T10:00:00.900Z");

  it("counts whole seconds from the signing second (X-Amz-Date) to the deadline, rounding down", () => {
    // X-Amz-Date is 10:00:00; 10:00:00 + 45 s is the last whole second at or before the deadline.
    expect(presignExpirySeconds({ deadline: signedAt + 44_500, signedAt })).toBe(45);
    expect(presignExpirySeconds({ deadline: Date.parse("2026-11-24T10:00:45.000Z"), signedAt })).toBe(45);
  });

  it("is capped by maxSeconds and by SigV4's 7 days", () => {
    expect(presignExpirySeconds({ deadline: signedAt + 3_600_000, signedAt, maxSeconds: 900 })).toBe(900);
    expect(presignExpirySeconds({ deadline: signedAt + 30 * 86_400_000, signedAt })).toBe(604_800);
  });

  it("refuses a deadline that leaves no whole second", () => {
    for (const deadline of [signedAt - 1, Date.parse("2026-11-24T10:00:00.999Z")]) {
      expect(() => presignExpirySeconds({ deadline, signedAt })).toThrow(PresignDeadlineError);
    }
  });

  it("signs at the given time, so X-Amz-Date is that second", async () => {
    const url = new URL(
      await presignOutputUpload({ client, bucket: "out", key: "k", expiresInSeconds: 45, signedAt }),
    );
    expect(url.searchParams.get("X-Amz-Date")).toBe("20261124T100000Z");
  });
});

describe("presigned URLs match the SDK's presigner byte for byte", () => {
  const signingDate = new Date("2026-11-25T05:06:07Z");
  const signedAt = signingDate.getTime();
  const clients = {
    "a custom endpoint, path-style": client,
    "AWS, virtual-hosted": createS3Client({
      region: "eu-west-3",
      forcePathStyle: false,
      credentials: {
        accessKeyId: "AKIDEXAMPLE",
        secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
      },
    }),
    "AWS with a session token": new S3Client({
      region: "us-east-1",
      credentials: {
        accessKeyId: "ASIAEXAMPLE",
        secretAccessKey: "s3cr3t",
        sessionToken: "token/with+chars=",
      },
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
    }),
  };
  const objects = [
    ["reframe-outputs", "a/b.png"],
    ["my.dotted.bucket", "x/y z.jpg"],
    ["src", "a b/c+d/é~!*'()&=$@,;:?#[]%.jpg"],
    ["src", "/leading//double/"],
  ] as const;

  for (const [name, s3] of Object.entries(clients)) {
    it.each(objects)(`${name}: %s/%s`, async (bucket, key) => {
      const expiresIn = 900;
      const sdkPut = await getSignedUrl(s3, new PutObjectCommand({ Bucket: bucket, Key: key }), {
        expiresIn,
        signingDate,
      });
      const sdkGet = await getSignedUrl(s3, new GetObjectCommand({ Bucket: bucket, Key: key }), {
        expiresIn,
        signingDate,
      });
      const input = { client: s3, bucket, key, expiresInSeconds: expiresIn, signedAt };
      expect(await presignOutputUpload(input)).toBe(sdkPut);
      expect(await presignSourceDownload(input)).toBe(sdkGet);
    });
  }
});
