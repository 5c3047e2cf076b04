import { createRequire } from "node:module";
import { DeleteObjectCommand, HeadBucketCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type EmbeddedS3, type S3Notification, startEmbeddedS3 } from "./embedded-s3.ts";

describe("the embedded S3's notifications", () => {
  const credentials = { accessKeyId: "notify-key", secretAccessKey: "notify-secret" };
  let s3: EmbeddedS3;
  let client: S3Client;
  beforeAll(async () => {
    s3 = await startEmbeddedS3({ buckets: ["notify"], ...credentials });
    client = new S3Client({ endpoint: s3.endpoint, region: "us-east-1", forcePathStyle: true, credentials });
  });
  afterAll(async () => {
    client.destroy();
    await s3.close();
  });

  it("are S3 event records with the keys URL-encoded as S3 writes them", async () => {
    const received: S3Notification[] = [];
    const unsubscribe = s3.onNotification((notification) => received.push(notification));
    await client.send(new PutObjectCommand({ Bucket: "notify", Key: "a dir/red flower+1.jpg", Body: "x" }));
    await client.send(new DeleteObjectCommand({ Bucket: "notify", Key: "a dir/red flower+1.jpg" }));
    unsubscribe();
    await client.send(new PutObjectCommand({ Bucket: "notify", Key: "after.jpg", Body: "y" }));
    const records = received.flatMap((notification) => notification.Records);
    expect(records.map((record) => [record.eventName, record.s3.bucket.name, record.s3.object.key])).toEqual([
      ["ObjectCreated:Put", "notify", "a+dir/red+flower%2B1.jpg"],
      ["ObjectRemoved:Delete", "notify", "a+dir/red+flower%2B1.jpg"],
    ]);
    expect(records[0]?.s3.object.size).toBe(1);
  });
});

describe("the embedded S3's HeadBucket", () => {
  const credentials = { accessKeyId: "head-key", secretAccessKey: "head-secret" };
  let s3: EmbeddedS3;
  let client: S3Client;
  beforeAll(async () => {
    s3 = await startEmbeddedS3({ buckets: ["head"], ...credentials });
    client = new S3Client({ endpoint: s3.endpoint, region: "us-east-1", forcePathStyle: true, credentials });
  });
  afterAll(async () => {
    client.destroy();
    await s3.close();
  });

  it("answers from the bucket alone, without listing its objects, and 404 for a missing bucket", async () => {
    // s3rver's store, as the server uses it: count its listings.
    const store = createRequire(import.meta.url)("@20minutes/s3rver/lib/stores/filesystem.js").prototype as {
      listObjects: (...args: unknown[]) => Promise<unknown>;
    };
    const listObjects = store.listObjects;
    let listings = 0;
    store.listObjects = function counted(...args) {
      listings += 1;
      return listObjects.apply(this, args);
    };
    try {
      await client.send(new PutObjectCommand({ Bucket: "head", Key: "a.jpg", Body: "x" }));
      const head = await client.send(new HeadBucketCommand({ Bucket: "head" }));
      expect(head.$metadata.httpStatusCode).toBe(200);
      await expect(client.send(new HeadBucketCommand({ Bucket: "absent" }))).rejects.toMatchObject({
        $metadata: { httpStatusCode: 404 },
      });
      expect(listings).toBe(0);
    } finally {
      store.listObjects = listObjects;
    }
  });
});
