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
      ignored: 0,
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
      version: "0",
      id: "17793124-05d4-b198-2fde-7ededc63b103",
      "detail-type": "Object Created",
      source: "aws.s3",
      account: "111122223333",
      time: "2026-11-25T00:00:00Z",
      region: "ca-central-1",
      resources: ["arn:aws:s3:::assets"],
      detail: {
        version: "0",
        bucket: { name: "assets" },
        object: {
          key: "red+flower.jpg",
          size: 5,
          etag: '"e1"',
          "version-id": "v1",
          sequencer: "617f08299329d189",
        },
        "request-id": "N4N7GDK58NMKJ12R",
        requester: "123456789012",
        "source-ip-address": "1.2.3.4",
        reason: "PutObject",
      },
    });
    expect(parsed).toMatchObject({
      ok: true,
      objects: [{ key: "red+flower.jpg", eTag: "e1", versionId: "v1" }],
    });
  });

  it("answers S3's test message with nothing to do, counted as ignored", () => {
    // As S3 sends it to SQS, SNS and Lambda when a notification configuration is saved.
    const testEvent = {
      Service: "Amazon S3",
      Event: "s3:TestEvent",
      Time: "2026-11-25T15:57:02.089Z",
      Bucket: "assets",
      RequestId: "5582815E1AEA5ADF",
      HostId: "8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE",
    };
    expect(parseS3Event(testEvent)).toEqual({ ok: true, objects: [], ignored: 1 });
  });

  it.each([
    "ObjectRemoved:Delete",
    "ObjectRemoved:DeleteMarkerCreated",
    "ObjectRestore:Post",
    "ObjectRestore:Completed",
    "ObjectRestore:Delete",
    "ObjectTagging:Put",
    "ObjectTagging:Delete",
    "ObjectAcl:Put",
    "LifecycleExpiration:Delete",
    "LifecycleTransition",
    "IntelligentTiering",
    "Replication:OperationFailedReplication",
    "ReducedRedundancyLostObject",
  ])("ignores an AWS %s record, whatever fields it carries", (eventName) => {
    // A removal carries no size or ETag; only object creations are read further.
    const record = {
      eventVersion: eventName.startsWith("Object") && eventName !== "ObjectRemoved:Delete" ? "2.3" : "2.1",
      eventSource: "aws:s3",
      awsRegion: "us-west-2",
      eventTime: "2026-11-25T00:00:00.000Z",
      eventName,
      userIdentity: { principalId: "AWS:AIDAJDPLRKLG7UEXAMPLE" },
      requestParameters: { sourceIPAddress: "203.0.113.15" },
      responseElements: {
        "x-amz-request-id": "C3D13FE58DE4C810",
        "x-amz-id-2": "FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD",
      },
      s3: {
        s3SchemaVersion: "1.0",
        configurationId: "reframe",
        bucket: {
          name: "assets",
          ownerIdentity: { principalId: "A3NL1KOZZKExample" },
          arn: "arn:aws:s3:::assets",
        },
        object: { key: "shoes/red+flower.jpg", sequencer: "0055AED6DCD90281E5" },
      },
    };
    expect(parseS3Event({ Records: [record, awsRecord("ObjectCreated:Copy", "b.jpg")] })).toMatchObject({
      ok: true,
      objects: [{ key: "b.jpg" }],
      ignored: 1,
    });
  });

  it("reads every kind of object creation, and ignores MinIO's tagging, retention, legal hold and reads", () => {
    const created = ["Put", "Post", "Copy", "CompleteMultipartUpload"].map(
      (api) => `s3:ObjectCreated:${api}`,
    );
    const other = [
      "s3:ObjectCreated:PutTagging",
      "s3:ObjectCreated:DeleteTagging",
      "s3:ObjectCreated:PutRetention",
      "s3:ObjectCreated:PutLegalHold",
      "s3:ObjectAccessed:Get",
      "s3:ObjectRemoved:Delete",
    ];
    for (const eventName of [...created, ...other]) {
      // MinIO's webhook body: the event name on top and in the record, the bucket in Key.
      const body = {
        EventName: eventName,
        Key: "test/58260c0e-c4b4-4686-9cfc-3f732ff7f6e1",
        Records: [
          {
            eventVersion: "2.0",
            eventSource: "minio:s3",
            awsRegion: "",
            eventTime: "2026-11-25T16:02:04.633Z",
            eventName,
            userIdentity: { principalId: "minioadmin" },
            requestParameters: { principalId: "minioadmin", region: "", sourceIPAddress: "10.0.2.100" },
            responseElements: {
              "content-length": "0",
              "x-amz-id-2": "dd9025bab4ad464b049177c95eb6ebf374d3b3fd1af9251148b658df7ac2e3e8",
              "x-amz-request-id": "182D53F0D14C3556",
              "x-minio-deployment-id": "76fc4486-4468-4863-a1e9-913f479c09d7",
              "x-minio-origin-endpoint": "http://10.0.2.100:9000",
            },
            s3: {
              s3SchemaVersion: "1.0",
              configurationId: "Config",
              bucket: {
                name: "test",
                ownerIdentity: { principalId: "minioadmin" },
                arn: "arn:aws:s3:::test",
              },
              object: {
                key: "58260c0e-c4b4-4686-9cfc-3f732ff7f6e1",
                size: 10,
                eTag: "94b54a8627da3ce4b54dd168bf40d229",
                contentType: "application/octet-stream",
                userMetadata: { "content-type": "application/octet-stream" },
                sequencer: "182D53F0D09E8471",
              },
            },
            source: {
              host: "10.0.2.100",
              port: "",
              userAgent: "MinIO (linux; amd64) minio-go/v7.0.70 mc/RELEASE.2024-06-12T14-34-03Z",
            },
          },
        ],
      };
      const expected = created.includes(eventName)
        ? { ok: true, objects: [expect.objectContaining({ bucket: "test" })], ignored: 0 }
        : { ok: true, objects: [], ignored: 1 };
      expect([eventName, parseS3Event(body)]).toEqual([eventName, expected]);
    }
  });

  it.each([
    [
      "Object Deleted",
      {
        version: "0",
        bucket: { name: "assets" },
        object: {
          key: "example-key",
          etag: "d41d8cd98f00b204e9800998ecf8427e",
          "version-id": "1QW9g1Z99LUNbvaaYVpW9xDlOLU.qxgF",
          sequencer: "617f0837b476e463",
        },
        "request-id": "0BH729840619AG5K",
        requester: "123456789012",
        "source-ip-address": "1.2.3.4",
        reason: "DeleteObject",
        "deletion-type": "Delete Marker Created",
      },
    ],
    [
      "Object Restore Initiated",
      {
        version: "0",
        bucket: { name: "assets" },
        object: {
          key: "example-key",
          size: 5,
          etag: "b1946ac92492d2347c6235b4d2611184",
          "version-id": "KKsjUC1.6gIjqtvhfg5AdMI0eCePIiT3",
        },
        "request-id": "189F19CB7FB1B6A4",
        requester: "s3.amazonaws.com",
        "restore-expiry-time": "2021-11-13T00:00:00Z",
        "source-storage-class": "GLACIER",
      },
    ],
    [
      "Object Tags Added",
      {
        version: "0",
        bucket: { name: "assets" },
        object: {
          key: "example-key",
          etag: "d41d8cd98f00b204e9800998ecf8427e",
          "version-id": "1QW9g1Z99LUNbvaaYVpW9xDlOLU.qxgF",
        },
        "request-id": "N4N7GDK58NMKJ12R",
        requester: "123456789012",
        "source-ip-address": "1.2.3.4",
      },
    ],
    [
      "Object ACL Updated",
      {
        version: "0",
        bucket: { name: "assets" },
        object: {
          key: "example-key",
          etag: "d41d8cd98f00b204e9800998ecf8427e",
          "version-id": "1QW9g1Z99LUNbvaaYVpW9xDlOLU.qxgF",
        },
        "request-id": "N4N7GDK58NMKJ12R",
        requester: "123456789012",
        "source-ip-address": "1.2.3.4",
      },
    ],
    [
      "Object Storage Class Changed",
      {
        version: "0",
        bucket: { name: "assets" },
        object: { key: "k", size: 5 },
        "destination-storage-class": "INTELLIGENT_TIERING",
      },
    ],
    [
      "Object Access Tier Changed",
      {
        version: "0",
        bucket: { name: "assets" },
        object: { key: "k", size: 5 },
        "destination-access-tier": "ARCHIVE_ACCESS",
      },
    ],
  ])("ignores EventBridge's %s", (detailType, detail) => {
    const event = {
      version: "0",
      id: "2ee9cc15-d022-99ea-1fb8-1b1bac4850f9",
      "detail-type": detailType,
      source: "aws.s3",
      account: "111122223333",
      time: "2026-11-25T00:00:00Z",
      region: "ca-central-1",
      resources: ["arn:aws:s3:::assets"],
      detail,
    };
    expect(parseS3Event(event)).toEqual({ ok: true, objects: [], ignored: 1 });
  });

  it("counts nothing in an empty Records list", () => {
    expect(parseS3Event({ Records: [] })).toEqual({ ok: true, objects: [], ignored: 0 });
  });

  it("refuses a body that is neither shape, naming what was expected", () => {
    expect(parseS3Event({ hello: 1 })).toMatchObject({
      ok: false,
      reason: expect.stringContaining("Records"),
    });
    expect(parseS3Event({ Records: [{ eventName: "ObjectCreated:Put" }] })).toMatchObject({
      ok: false,
      reason: "Records[0] is not an S3 event record",
    });
    expect(parseS3Event({ Records: [{ s3: {} }] })).toMatchObject({
      ok: false,
      reason: "Records[0].eventName is missing",
    });
    expect(parseS3Event({ source: "aws.s3", "detail-type": "Object Created", detail: {} })).toMatchObject({
      ok: false,
      reason: expect.stringContaining("detail.object.key"),
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
