import { createHmac, hash } from "node:crypto";
import { GetObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";

/** SigV4 allows presigned URLs for at most 7 days. */
const MAX_EXPIRY_SECONDS = 604_800;

export interface PresignInput {
  client: S3Client;
  bucket: string;
  key: string;
  expiresInSeconds: number;
  /** The signing time (epoch ms; now by default): the URL is valid from it for expiresInSeconds. */
  signedAt?: number;
}

/** The deadline has passed (or is under a second away): no URL may be made for it. */
export class PresignDeadlineError extends RangeError {
  readonly code = "presignDeadlinePassed";
  constructor(message: string) {
    super(message);
    this.name = "PresignDeadlineError";
  }
}

/**
 * How long a presigned URL may live so that it dies by `deadline` (epoch ms): whole seconds from the
 * signing time, at most `maxSeconds` (SigV4's 7 days unless smaller). SigV4 counts from X-Amz-Date,
 * the signing time cut to the second, so that is where the count starts; rounding down keeps the
 * expiry at or before the deadline, never after it.
 */
export function presignExpirySeconds({
  deadline,
  signedAt,
  maxSeconds = MAX_EXPIRY_SECONDS,
}: {
  deadline: number;
  signedAt: number;
  maxSeconds?: number;
}): number {
  const signedSecond = Math.floor(signedAt / 1000) * 1000;
  const seconds = Math.min(Math.floor((deadline - signedSecond) / 1000), maxSeconds, MAX_EXPIRY_SECONDS);
  if (seconds < 1) {
    throw new PresignDeadlineError(
      `the deadline ${new Date(deadline).toISOString()} leaves no whole second after ${new Date(signedSecond).toISOString()}`,
    );
  }
  return seconds;
}

function checkExpiry(expiresInSeconds: number): void {
  if (!Number.isInteger(expiresInSeconds) || expiresInSeconds < 1 || expiresInSeconds > MAX_EXPIRY_SECONDS) {
    throw new RangeError(
      `expiresInSeconds must be an integer from 1 to ${MAX_EXPIRY_SECONDS}, got ${expiresInSeconds}`,
    );
  }
}

/**
 * A PUT URL for the provider's uploadEndpoint. Only `host` is signed: the provider sends its own
 * headers (Content-Type among them), and anything signed it would have to reproduce exactly.
 */
export function presignOutputUpload(input: PresignInput): Promise<string> {
  return presign("PUT", input);
}

/** A GET URL through which the provider reads a source image. */
export function presignSourceDownload(input: PresignInput): Promise<string> {
  return presign("GET", input);
}

/**
 * SigV4 query signing (UNSIGNED-PAYLOAD, host only), the URL the SDK's presigner makes, byte for
 * byte (presign.test.ts compares them). The SDK's presigner runs its whole middleware stack per URL,
 * about 0.15 ms of CPU each, and a job needs two: the worker signs here instead. Where a bucket's
 * objects live (virtual-hosted or path-style, the endpoint's rules) is still the SDK's answer, asked
 * once per client and bucket.
 */
async function presign(method: "GET" | "PUT", input: PresignInput): Promise<string> {
  checkExpiry(input.expiresInSeconds);
  const { client, bucket, key, expiresInSeconds } = input;
  const [base, credentials, region] = await Promise.all([
    bucketBase(client, bucket),
    client.config.credentials(),
    client.config.region(),
  ]);
  const date = new Date(input.signedAt ?? Date.now());
  const amzDate = date.toISOString().replace(/[-:]|\.\d{3}/g, "");
  const day = amzDate.slice(0, 8);
  const scope = `${day}/${region}/s3/aws4_request`;
  const path = `${base.path}${encodeKey(key)}`;
  const query: [string, string][] = [
    ["X-Amz-Algorithm", "AWS4-HMAC-SHA256"],
    ["X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD"],
    ["X-Amz-Credential", `${credentials.accessKeyId}/${scope}`],
    ["X-Amz-Date", amzDate],
    ["X-Amz-Expires", String(expiresInSeconds)],
    ...(credentials.sessionToken
      ? [["X-Amz-Security-Token", credentials.sessionToken] as [string, string]]
      : []),
    ["X-Amz-SignedHeaders", "host"],
    ["x-id", method === "PUT" ? "PutObject" : "GetObject"],
  ];
  const canonicalQuery = sortedQuery(query);
  const canonicalRequest = [
    method,
    path,
    canonicalQuery,
    `host:${base.host}`,
    "",
    "host",
    "UNSIGNED-PAYLOAD",
  ].join("\n");
  const stringToSign = ["AWS4-HMAC-SHA256", amzDate, scope, hash("sha256", canonicalRequest, "hex")].join(
    "\n",
  );
  const signature = createHmac("sha256", signingKey(credentials.secretAccessKey, day, region))
    .update(stringToSign)
    .digest("hex");
  const ordered = sortedQuery([...query, ["X-Amz-Signature", signature]]);
  return `${base.origin}${path}?${ordered}`;
}

/** name=value pairs, encoded, sorted by encoded name: the canonical query and the SDK's order. */
function sortedQuery(pairs: readonly [string, string][]): string {
  return pairs
    .map(([name, value]) => [encodeRfc3986(name), encodeRfc3986(value)] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, value]) => `${name}=${value}`)
    .join("&");
}

/** RFC 3986 unreserved characters stay; everything else is %XX (S3's canonical encoding). */
function encodeRfc3986(value: string): string {
  return encodeURIComponent(value).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

/** Object keys keep their slashes; S3 does not encode the path a second time for signing. */
function encodeKey(key: string): string {
  return key.split("/").map(encodeRfc3986).join("/");
}

interface BucketBase {
  origin: string;
  host: string;
  /** The path before the key: "/" (virtual-hosted) or "/bucket/" (path-style). */
  path: string;
}

const PROBE_KEY = "reframe-probe";
const bases = new WeakMap<S3Client, Map<string, Promise<BucketBase>>>();

/** Where the SDK puts this bucket's objects, learned from one URL it presigns, then kept. */
function bucketBase(client: S3Client, bucket: string): Promise<BucketBase> {
  let perBucket = bases.get(client);
  if (!perBucket) {
    perBucket = new Map();
    bases.set(client, perBucket);
  }
  let base = perBucket.get(bucket);
  if (!base) {
    base = getSignedUrl(client, new GetObjectCommand({ Bucket: bucket, Key: PROBE_KEY }), {
      expiresIn: 60,
    }).then((probe) => {
      const url = new URL(probe);
      if (!url.pathname.endsWith(`/${PROBE_KEY}`))
        throw new Error(`unexpected presigned URL shape for ${bucket}`);
      return { origin: url.origin, host: url.host, path: url.pathname.slice(0, -PROBE_KEY.length) };
    });
    base.catch(() => perBucket.delete(bucket));
    perBucket.set(bucket, base);
  }
  return base;
}

const signingKeys = new Map<string, Buffer>();

/** HMAC chain of SigV4; one per secret, day and region, so kept (a handful of entries). */
function signingKey(secret: string, day: string, region: string): Buffer {
  const id = `${hash("sha256", secret, "hex")}/${day}/${region}`;
  let key = signingKeys.get(id);
  if (!key) {
    const dateKey = createHmac("sha256", `AWS4${secret}`).update(day).digest();
    const regionKey = createHmac("sha256", dateKey).update(region).digest();
    const serviceKey = createHmac("sha256", regionKey).update("s3").digest();
    key = createHmac("sha256", serviceKey).update("aws4_request").digest();
    if (signingKeys.size > 32) signingKeys.clear();
    signingKeys.set(id, key);
  }
  return key;
}
