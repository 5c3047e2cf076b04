import { z } from "zod";

/**
 * S3 "object created" notifications in the three shapes reframe accepts, as one list of objects:
 *   AWS S3 (SNS/SQS/Lambda body)  {Records: [{eventSource: "aws:s3", eventName: "ObjectCreated:Put", s3: {...}}]}
 *   MinIO webhook target          {EventName: "s3:ObjectCreated:Put", Key: "bucket/key", Records: [...]}
 *   EventBridge                   {source: "aws.s3", "detail-type": "Object Created", detail: {bucket, object}}
 * Record keys are URL-form-encoded ("red flower.jpg" arrives as "red+flower.jpg"); EventBridge keys
 * are not. Every other message these services send to the same destination is valid and acted on by
 * nobody, so it is counted as ignored rather than refused (a refusal would make the sender retry):
 * S3's `s3:TestEvent` (sent when a notification is configured), removals, restores, tagging, ACL,
 * lifecycle, replication and Intelligent-Tiering records, MinIO's `s3:ObjectAccessed:*` and the
 * tagging, retention and legal-hold events it files under `s3:ObjectCreated:*`, and EventBridge's
 * other detail types ("Object Deleted", "Object Tags Added", "Object ACL Updated", …).
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

/** What S3 sends to a destination when a notification is configured, to check it can deliver. */
const testEventSchema = z.looseObject({ Service: z.literal("Amazon S3"), Event: z.literal("s3:TestEvent") });

/** The record event names that mean new content: AWS says "ObjectCreated:Put", MinIO "s3:ObjectCreated:Put". */
const CREATED_EVENT_NAMES: ReadonlySet<string> = new Set(
  ["Put", "Post", "Copy", "CompleteMultipartUpload"].map((api) => `ObjectCreated:${api}`),
);

function isCreatedEventName(eventName: string): boolean {
  return CREATED_EVENT_NAMES.has(eventName.replace(/^s3:/, ""));
}

const eventBridgeEnvelopeSchema = z.looseObject({ source: z.literal("aws.s3"), "detail-type": z.string() });

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

export type ParsedS3Event =
  | {
      ok: true;
      objects: CreatedObject[];
      /** Messages and records of a kind reframe does not act on (test events, removals, tagging, …). */
      ignored: number;
    }
  | { ok: false; reason: string };

/** `+` is a space and `%xx` an escape, as in HTML form encoding. */
export function decodeEventKey(key: string): string {
  return decodeURIComponent(key.replace(/\+/g, " "));
}

export function parseS3Event(body: unknown): ParsedS3Event {
  if (testEventSchema.safeParse(body).success) return { ok: true, objects: [], ignored: 1 };
  const envelope = eventBridgeEnvelopeSchema.safeParse(body);
  if (envelope.success) {
    if (envelope.data["detail-type"] !== "Object Created") return { ok: true, objects: [], ignored: 1 };
    const bridge = eventBridgeSchema.safeParse(body);
    if (!bridge.success)
      return {
        ok: false,
        reason: "an EventBridge Object Created event needs detail.bucket.name and detail.object.key",
      };
    const { bucket, object } = bridge.data.detail;
    return {
      ok: true,
      ignored: 0,
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
    return {
      ok: false,
      reason: "expected S3 event records ({Records: [...]}), an s3:TestEvent or an EventBridge event",
    };
  const objects: CreatedObject[] = [];
  let ignored = 0;
  for (const [index, raw] of records.data.Records.entries()) {
    const eventName = (raw as { eventName?: unknown } | null)?.eventName;
    if (typeof eventName !== "string") return { ok: false, reason: `Records[${index}].eventName is missing` };
    // Other kinds carry other fields (a removal has no size or ETag): they are not read at all.
    if (!isCreatedEventName(eventName)) {
      ignored += 1;
      continue;
    }
    const record = recordSchema.safeParse(raw);
    if (!record.success) return { ok: false, reason: `Records[${index}] is not an S3 event record` };
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
  return { ok: true, objects, ignored };
}

function stripQuotes(value: string | undefined): string | undefined {
  return value?.replace(/^"|"$/g, "");
}
