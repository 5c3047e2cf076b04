import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdtemp, rename, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";

const require = createRequire(import.meta.url);
type S3rverInstance = {
  run(): Promise<{ address: string; port: number }>;
  close(): Promise<void>;
  on(event: "event", listener: (event: S3Notification) => void): void;
};
/**
 * An S3 event notification, as S3 publishes it to SNS, SQS or a Lambda: `@reframe/storage`'s
 * `parseS3Event` reads it, as it reads the real ones.
 */
export type S3Notification = {
  Records: {
    eventName: string;
    s3: {
      bucket: { name: string };
      object: { key: string; size?: number; eTag?: string; sequencer?: string };
    };
  }[];
};

type StoredObject = { size: number; range?: unknown; content: { destroy(): void } | null };
type RangeOptions = { start?: number; end?: number } | undefined;
type FilesystemStorePrototype = {
  getObject(bucket: string, key: string, options: RangeOptions): Promise<StoredObject | null>;
  putContent(objectPath: string, content: Buffer | Readable): Promise<[number, string]>;
};

/**
 * s3rver and its dependencies add 11 MiB to the RSS of a process that imports them (measured): they
 * are loaded when a server starts, not on import, so a test that imports this package and starts no
 * server does not carry them. No production process imports this package.
 */
function s3rver() {
  return {
    S3rver: require("@20minutes/s3rver") as new (options: Record<string, unknown>) => S3rverInstance,
    AWSAccount: require("@20minutes/s3rver/lib/models/account.js") as {
      DUMMY_ACCOUNT: { createKeyPair(id: string, secret: string): void };
    },
    FilesystemStore: require("@20minutes/s3rver/lib/stores/filesystem.js") as {
      prototype: FilesystemStorePrototype;
    },
    bucketController: require("@20minutes/s3rver/lib/controllers/bucket.js") as {
      getBucket(context: { method: string; status: number; body: unknown }): Promise<void>;
    },
  };
}

let s3rverFixed = false;
let temporaryFiles = 0;

/**
 * Three places where s3rver is not S3, fixed once:
 * - A ranged GET of an empty object is answered `Content-Range: bytes 0-0/0` with a length of 1 and
 *   no byte: the client waits forever. S3 answers 416 InvalidRange (no first byte to send), which
 *   s3rver's controller produces when the stored object has a range and no content.
 * - A PUT writes straight into the object's file, and answers before a buffer body is on disk: a GET
 *   meanwhile (the webhook of that very upload, or a retried PUT's reader) sees an empty or partial
 *   object. S3 objects appear whole: the body goes to a temporary file, renamed once complete.
 * - A HeadBucket is routed as a GET of the bucket, which lists up to 1,000 objects reading two files
 *   each, then drops the listing (HEAD has no body). S3 answers it from the bucket alone. The workers'
 *   storage check and S3 breaker probes are HeadBuckets: with a thousand outputs in the bucket each
 *   cost 2,000 file reads, and a loaded run's embedded S3 fell behind them until it answered nothing.
 */
function fixS3rver(): void {
  if (s3rverFixed) return;
  s3rverFixed = true;
  const { FilesystemStore, bucketController } = s3rver();
  const getBucket = bucketController.getBucket;
  // The route has already checked that the bucket exists (NoSuchBucket, 404, otherwise).
  bucketController.getBucket = async function headBucketWithoutListing(context) {
    if (context.method !== "HEAD") return await getBucket.call(this, context);
    context.status = 200;
  };
  const getObject = FilesystemStore.prototype.getObject;
  FilesystemStore.prototype.getObject = async function getObjectOrInvalidRange(bucket, key, options) {
    const object = await getObject.call(this, bucket, key, options);
    if (object?.content && object.range && object.size === 0) {
      object.content.destroy();
      object.content = null;
    }
    return object;
  };
  FilesystemStore.prototype.putContent = async function putContentWhole(objectPath, content) {
    temporaryFiles += 1;
    const temporary = `${objectPath}.${process.pid}-${temporaryFiles}.uploading`;
    const md5 = createHash("md5");
    let size = 0;
    try {
      await pipeline(
        Buffer.isBuffer(content) ? Readable.from([content]) : content,
        new Transform({
          transform(chunk: Buffer, _encoding, callback) {
            md5.update(chunk);
            size += chunk.length;
            callback(null, chunk);
          },
        }),
        createWriteStream(temporary),
      );
      await rename(temporary, objectPath);
    } catch (error) {
      await rm(temporary, { force: true });
      throw error;
    }
    return [size, md5.digest("hex")];
  };
}

export interface EmbeddedS3 {
  endpoint: string;
  port: number;
  close(): Promise<void>;
  /**
   * Each change's notification (objects created and removed), its keys URL-encoded as S3 writes
   * them: what S3 publishes and the HTTP event intake parses.
   */
  onNotification(listener: (notification: S3Notification) => void): () => void;
}

/**
 * The embedded S3 of the demo and the tests: @20minutes/s3rver, which verifies SigV4 signatures for
 * the access key it knows (a tampered or replayed presigned URL gets 403) and emits S3-shaped event
 * records. Data goes to a temporary directory unless one is given.
 */
export async function startEmbeddedS3(options: {
  port?: number;
  host?: string;
  directory?: string;
  buckets: readonly string[];
  accessKeyId: string;
  secretAccessKey: string;
  silent?: boolean;
}): Promise<EmbeddedS3> {
  fixS3rver();
  const { S3rver, AWSAccount } = s3rver();
  const directory = options.directory ?? (await mkdtemp(join(tmpdir(), "reframe-s3-")));
  AWSAccount.DUMMY_ACCOUNT.createKeyPair(options.accessKeyId, options.secretAccessKey);
  const server = new S3rver({
    address: options.host ?? "127.0.0.1",
    port: options.port ?? 0,
    silent: options.silent ?? true,
    directory,
    configureBuckets: options.buckets.map((name) => ({ name })),
  });
  const listeners = new Set<(notification: S3Notification) => void>();
  server.on("event", (event) => {
    const notification = { Records: event.Records.map(asS3Writes) };
    for (const listener of listeners) listener(notification);
  });
  const { port } = await server.run();
  const host = options.host ?? "127.0.0.1";
  return {
    endpoint: `http://${host}:${port}`,
    port,
    async close() {
      await server.close();
      if (!options.directory) await rm(directory, { recursive: true, force: true });
    },
    onNotification(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}

/** s3rver gives a record's key as stored; S3 URL-encodes it in form style ("red flower.jpg" as "red+flower.jpg"). */
function asS3Writes(record: S3Notification["Records"][number]): S3Notification["Records"][number] {
  const key = encodeURIComponent(record.s3.object.key).replaceAll("%2F", "/").replaceAll("%20", "+");
  return { ...record, s3: { ...record.s3, object: { ...record.s3.object, key } } };
}
