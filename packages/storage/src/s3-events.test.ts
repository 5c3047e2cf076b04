import { describe, expect, it } from "vitest";
import { decodeEventKey, parseS3Event } from "./s3-events.ts";

const awsRecord = (eventName: string, key: string) => ({
  eventVersion: "2.1",
  eventSource: "aws:s3",
  eventName,
  s3: {
    bucket: { name: "assets" },
    object: { key, size: 1024, eTag: "abc123", sequencer: "0055AED6DCD90281E5" },
  },
});

describe("parseS3Event", () => {
  it("reads AWS records and URL-decodes their keys (+ is a space)", () => {
    const parsed = parseS3Event({ Records: [awsRecord("ObjectCreated:Put", "shoes/red+flower%2B1.jpg")] });
    expect(parsed).toEqual({
      ok: true,
      objects: [
        {
          bucket: "assets",
          key: "shoes/red flower+1.jpg",
          size: 1024,
          eTag: "abc123",
          versionId: undefined,
          sequencer: "0055AED6DCD90281E5",
        },
      ],
    });
  });

  it("reads MinIO's webhook body (s3: prefix, minio:s3 source)", () => {
    const record = { ...awsRecord("s3:ObjectCreated:Put", "a%20b.png"), eventSource: "minio:s3" };
    const parsed = parseS3Event({
      EventName: "s3:ObjectCreated:Put",
      Key: "assets/a b.png",
      Records: [record],
    });
    expect(parsed).toMatchObject({ ok: true, objects: [{ key: "a b.png" }] });
  });

  it("reads EventBridge's Object Created, whose keys are not encoded", () => {
    const parsed = parseS3Event({
      source: "aws.s3",
      "detail-type": "Object Created",
      detail: {
        bucket: { name: "assets" },
        object: { key: "red+flower.jpg", size: 5, etag: '"e1"', "version-id": "v1" },
      },
    });
    expect(parsed).toMatchObject({
      ok: true,
      objects: [{ key: "red+flower.jpg", eTag: "e1", versionId: "v1" }],
    });
  });

  it("skips removals, test events and other EventBridge types", () => {
    expect(parseS3Event({ Records: [awsRecord("ObjectRemoved:Delete", "a.jpg")] })).toEqual({
      ok: true,
      objects: [],
    });
    expect(parseS3Event({ Records: [] })).toEqual({ ok: true, objects: [] });
    const deleted = {
      source: "aws.s3",
      "detail-type": "Object Deleted",
      detail: { bucket: { name: "b" }, object: { key: "k" } },
    };
    expect(parseS3Event(deleted)).toEqual({ ok: true, objects: [] });
  });

  it("refuses a body that is neither shape, naming what was expected", () => {
    expect(parseS3Event({ hello: 1 })).toMatchObject({
      ok: false,
      reason: expect.stringContaining("Records"),
    });
    expect(parseS3Event({ Records: [{ eventName: "x" }] })).toMatchObject({
      ok: false,
      reason: "Records[0] is not an S3 event record",
    });
    expect(parseS3Event({ Records: [awsRecord("ObjectCreated:Put", "%E0%A4%A")] })).toMatchObject({
      ok: false,
    });
  });
});

describe("decodeEventKey", () => {
  it("decodes form encoding", () => {
    expect(decodeEventKey("a+b%2Fc%2Bd")).toBe("a b/c+d");
  });
});
