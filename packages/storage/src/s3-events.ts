import { z } from "zod";

/**
 * S3 "object created" notifications in the three shapes reframe accepts, as one list of objects:
 *   AWS S3 (SNS/SQS/Lambda body)  {Records: [{eventSource: "aws:s3", eventName: "ObjectCreated:Put", s3: {...}}]}
 *   MinIO webhook target          {EventName: "s3:ObjectCreated:Put", Key: "bucket/key", Records: [...]}
 *   EventBridge                   {source: "aws.s3", "detail-type": "Object Created", detail: {bucket, object}}
 * Record keys are URL-form-encoded ("red flower.jpg" arrives as "red+flower.jpg"); EventBridge keys
 * are not (shared/reference/anchors.md §D3). Events other than object creation are skipped.
 */

export interface CreatedObject {
  bucket: string;
  key: string;
  size: number | undefined;
  eTag: string | undefined;
  versionId: string | undefined;
  /** Orders events of one key (hex, compare as strings of equal length); undefined from EventBridge. */
  sequencer: string | undefined;
}

const recordSchema = z.looseObject({
  eventName: z.string(),
  s3: z.looseObject({
    bucket: z.looseObject({ name: z.string() }),
    object: z.looseObject({
      key: z.string(),
      size: z.number().optional(),
      eTag: z.string().optional(),
      versionId: z.string().optional(),
      sequencer: z.string().optional(),
    }),
  }),
});

const recordsBodySchema = z.looseObject({ Records: z.array(z.unknown()) });

const eventBridgeSchema = z.looseObject({
  source: z.literal("aws.s3"),
  "detail-type": z.string(),
  detail: z.looseObject({
    bucket: z.looseObject({ name: z.string() }),
    object: z.looseObject({
      key: z.string(),
      size: z.number().optional(),
      etag: z.string().optional(),
      "version-id": z.string().optional(),
      sequencer: z.string().optional(),
    }),
  }),
});

export type ParsedS3Event = { ok: true; objects: CreatedObject[] } | { ok: false; reason: string };

/** `+` is a space and `%xx` an escape, as in HTML form encoding. */
export function decodeEventKey(key: string): string {
  return decodeURIComponent(key.replace(/\+/g, " "));
}

export function parseS3Event(body: unknown): ParsedS3Event {
  const bridge = eventBridgeSchema.safeParse(body);
  if (bridge.success) {
    if (bridge.data["detail-type"] !== "Object Created") return { ok: true, objects: [] };
    const { bucket, object } = bridge.data.detail;
    return {
      ok: true,
      objects: [
        {
          bucket: bucket.name,
          key: object.key,
          size: object.size,
          eTag: stripQuotes(object.etag),
          versionId: object["version-id"],
          sequencer: object.sequencer,
        },
      ],
    };
  }
  const records = recordsBodySchema.safeParse(body);
  if (!records.success)
    return { ok: false, reason: "expected S3 event records ({Records: [...]}) or an EventBridge event" };
  const objects: CreatedObject[] = [];
  for (const [index, raw] of records.data.Records.entries()) {
    const record = recordSchema.safeParse(raw);
    if (!record.success) return { ok: false, reason: `Records[${index}] is not an S3 event record` };
    // AWS says "ObjectCreated:Put", MinIO "s3:ObjectCreated:Put"; s3:TestEvent and removals are skipped.
    if (!record.data.eventName.replace(/^s3:/, "").startsWith("ObjectCreated:")) continue;
    const { bucket, object } = record.data.s3;
    let key: string;
    try {
      key = decodeEventKey(object.key);
    } catch {
      return { ok: false, reason: `Records[${index}].s3.object.key is not URL-encoded text` };
    }
    objects.push({
      bucket: bucket.name,
      key,
      size: object.size,
      eTag: stripQuotes(object.eTag),
      versionId: object.versionId,
      sequencer: object.sequencer,
    });
  }
  return { ok: true, objects };
}

function stripQuotes(value: string | undefined): string | undefined {
  return value?.replace(/^"|"$/g, "");
}
