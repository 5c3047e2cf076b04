import { PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { type EmbeddedS3, startEmbeddedS3 } from "@reframe/embedded-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createS3Client } from "./client.ts";
import { keyFilter, listObjects } from "./list-objects.ts";

describe("listObjects over the embedded S3", () => {
  let s3: EmbeddedS3;
  let client: S3Client;
  const keys = [
    ...Array.from({ length: 23 }, (_, n) => `library/shoes/${String(n).padStart(2, "0")}.jpg`),
    "library/top.png",
    "library/red flower+1.JPG",
    "library/drafts/wip.jpg",
    "library/notes.json",
    "library/folder/",
    "elsewhere/x.jpg",
  ];
  beforeAll(async () => {
    s3 = await startEmbeddedS3({
      buckets: ["listing"],
      accessKeyId: "list-key",
      secretAccessKey: "list-secret",
    });
    client = createS3Client({
      endpoint: s3.endpoint,
      region: "us-east-1",
      forcePathStyle: true,
      credentials: { accessKeyId: "list-key", secretAccessKey: "list-secret" },
    });
    for (const Key of keys) await client.send(new PutObjectCommand({ Bucket: "listing", Key, Body: "x" }));
  });
  afterAll(async () => {
    client?.destroy();
    await s3?.close();
  });

  const list = async (options: { include?: string[]; exclude?: string[]; pageSize?: number }) => {
    const found = [];
    for await (const object of listObjects({ client, bucket: "listing", prefix: "library/", ...options }))
      found.push(object);
    return found;
  };

  it("pages through every object under the prefix and skips folder placeholders", async () => {
    const found = await list({ pageSize: 5 });
    expect(found.map((object) => object.key).sort()).toEqual(
      keys.filter((key) => key.startsWith("library/") && !key.endsWith("/")).sort(),
    );
    expect(found[0]).toMatchObject({
      bucket: "listing",
      size: 1,
      etag: expect.stringMatching(/^[0-9a-f]{32}$/),
    });
  });

  it("filters keys relative to the prefix with include and exclude globs", async () => {
    const found = await list({ include: ["**/*.{jpg,JPG,png}"], exclude: ["drafts/**"] });
    expect(found).toHaveLength(25);
    expect(found.map((object) => object.key)).toContain("library/red flower+1.JPG");
    expect((await list({ include: ["*.png"] })).map((object) => object.key)).toEqual(["library/top.png"]);
  });
});

describe("keyFilter", () => {
  it("matches when an include matches (or none is given) and no exclude does", () => {
    const matches = keyFilter(["**/*.jpg"], ["**/drafts/**"]);
    expect(matches("a.jpg")).toBe(true);
    expect(matches("x/y/a.jpg")).toBe(true);
    expect(matches("x/drafts/a.jpg")).toBe(false);
    expect(matches("a.png")).toBe(false);
    expect(keyFilter([], [])("anything")).toBe(true);
  });
});
