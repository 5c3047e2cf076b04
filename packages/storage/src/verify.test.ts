import { HeadObjectCommand, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { type EmbeddedS3, startEmbeddedS3 } from "@reframe/embedded-s3";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createS3Client } from "./client.ts";
import { parseS3Event } from "./s3-events.ts";
import { readImageDimensions, readObjectRange, verifyOutputObject } from "./verify.ts";

const image = (format: "png" | "jpeg") =>
  sharp({ create: { width: 120, height: 80, channels: 3, background: "#369" } })
    .toFormat(format)
    .toBuffer();

describe("output verification over the embedded S3", () => {
  let s3: EmbeddedS3;
  let client: S3Client;
  const created: string[] = [];
  beforeAll(async () => {
    s3 = await startEmbeddedS3({
      buckets: ["verify"],
      accessKeyId: "verify-key",
      secretAccessKey: "verify-secret",
    });
    s3.onNotification((notification) => {
      const event = parseS3Event(notification);
      if (event.ok) created.push(...event.objects.map((object) => object.key));
    });
    client = createS3Client({
      endpoint: s3.endpoint,
      region: "us-east-1",
      forcePathStyle: true,
      credentials: { accessKeyId: "verify-key", secretAccessKey: "verify-secret" },
    });
    const put = (Key: string, Body: Buffer, ContentType: string) =>
      client.send(new PutObjectCommand({ Bucket: "verify", Key, Body, ContentType }));
    await put("ok.png", await image("png"), "image/png");
    await put("empty.png", Buffer.alloc(0), "image/png");
    await put("text.png", Buffer.from("not an image at all"), "image/png");
    await put("red flower+1.jpg", await image("jpeg"), "image/jpeg");
  });
  afterAll(async () => {
    client?.destroy();
    await s3?.close();
  });

  it("accepts an object of the planned type and size", async () => {
    const result = await verifyOutputObject({
      client,
      bucket: "verify",
      key: "ok.png",
      expected: { contentType: "image/png", width: 120, height: 80 },
    });
    expect(result).toMatchObject({ ok: true, width: 120, height: 80, contentType: "image/png" });
  });

  it.each([
    ["missing.png", {}, "missing"],
    ["empty.png", {}, "empty"],
    ["text.png", {}, "wrong-type"],
    ["ok.png", { contentType: "image/jpeg" }, "wrong-type"],
    ["ok.png", { width: 121 }, "wrong-size"],
  ] as const)("%s with %j is %s", async (key, expected, reason) => {
    expect(await verifyOutputObject({ client, bucket: "verify", key, expected })).toMatchObject({
      ok: false,
      reason,
    });
  });

  it("an object being uploaded is absent or whole to readers, never partial (S3 semantics)", async () => {
    const body = Buffer.alloc(4 * 1024 * 1024, 7);
    const upload = client.send(
      new PutObjectCommand({
        Bucket: "verify",
        Key: "big.bin",
        Body: body,
        ContentType: "application/octet-stream",
      }),
    );
    let uploading = true;
    void upload.finally(() => {
      uploading = false;
    });
    const seen = new Set<string>();
    while (uploading) {
      const head = await client
        .send(new HeadObjectCommand({ Bucket: "verify", Key: "big.bin" }))
        .then((reply) => String(reply.ContentLength))
        .catch(() => "absent");
      seen.add(head);
    }
    await upload;
    expect([...seen].filter((size) => size !== "absent" && size !== String(body.length))).toEqual([]);
  });

  it("reads dimensions through a ranged GET, and reports created objects with their real keys", async () => {
    expect(await readImageDimensions({ client, bucket: "verify", key: "red flower+1.jpg" })).toMatchObject({
      format: "jpeg",
      width: 120,
      height: 80,
    });
    expect(created).toContain("red flower+1.jpg");
  });

  it("reads a range of an object with the object's whole size; an empty object is 0 bytes in all", async () => {
    const whole = await image("png");
    const where = { client, bucket: "verify", key: "ok.png" };
    const tail = await readObjectRange(where, whole.length - 12, whole.length + 100);
    expect(tail.totalBytes).toBe(whole.length);
    expect(Buffer.from(tail.bytes)).toEqual(whole.subarray(whole.length - 12));
    expect(await readObjectRange({ ...where, key: "empty.png" }, 0, 65_535)).toEqual({
      bytes: new Uint8Array(),
      totalBytes: 0,
    });
  });
});
