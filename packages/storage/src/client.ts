import { ListBucketsCommand, S3Client } from "@aws-sdk/client-s3";
import {
  asUnreachable,
  formatDelay,
  publicUrl,
  type ServiceTarget,
  ServiceUnreachableError,
} from "@reframe/reachability";

export interface S3ClientSettings {
  /** Omit for AWS; set for MinIO, s3rver, R2, … */
  endpoint?: string | undefined;
  region: string;
  /** Path-style URLs (bucket in the path): needed by most S3-compatible servers. */
  forcePathStyle: boolean;
  credentials: { accessKeyId: string; secretAccessKey: string };
  /** S3_CONNECT_TIMEOUT_MS: a connection not made in this long is S3 unreachable. */
  connectTimeoutMs?: number | undefined;
  /**
   * S3_SOCKET_TIMEOUT_MS: a request whose connection carries nothing for this long (no answer, or a
   * body that stopped flowing) is S3 hanging. An idle timeout, not a whole-request one: a 200 MB
   * source streams for as long as its bytes keep coming.
   */
  socketTimeoutMs?: number | undefined;
}

/** The defaults of S3_CONNECT_TIMEOUT_MS and S3_SOCKET_TIMEOUT_MS. */
export const DEFAULT_S3_TIMEOUTS = { connectTimeoutMs: 10_000, socketTimeoutMs: 30_000 } as const;

/** The service's name in ServiceUnreachableError (`cannot reach S3 at …`). */
export const S3_SERVICE = "S3";

/** Where the client looks for S3, for messages: the endpoint, or AWS's regional one. */
export function s3Target(settings: Pick<S3ClientSettings, "endpoint" | "region">): ServiceTarget {
  return {
    service: S3_SERVICE,
    at: settings.endpoint ? publicUrl(settings.endpoint) : `https://s3.${settings.region}.amazonaws.com`,
  };
}

/**
 * The one S3 client factory. Checksums only when required: since @aws-sdk/client-s3 3.729 the
 * default signs a CRC32 of an *empty* body into presigned PUT URLs (aws-sdk-js-v3 issue 6810 and its
 * kin), which a real
 * upload then contradicts. A request that cannot reach S3 (after the SDK's own retries) fails with a
 * ServiceUnreachableError, `cannot reach S3 at http://… (connection refused)`, whoever sent it; so
 * does one that S3 accepted and left without an answer (`timed out`, after the socket timeout).
 */
export function createS3Client(settings: S3ClientSettings): S3Client {
  const client = new S3Client({
    ...(settings.endpoint ? { endpoint: settings.endpoint } : {}),
    region: settings.region,
    forcePathStyle: settings.forcePathStyle,
    credentials: settings.credentials,
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
    // NodeHttpHandler: `socketTimeout` is the idle one (smithy's socket.setTimeout, over the body
    // too); its `requestTimeout` would bound the whole request, and only warns unless told to throw.
    requestHandler: {
      connectionTimeout: settings.connectTimeoutMs ?? DEFAULT_S3_TIMEOUTS.connectTimeoutMs,
      socketTimeout: settings.socketTimeoutMs ?? DEFAULT_S3_TIMEOUTS.socketTimeoutMs,
    },
  });
  const target = s3Target(settings);
  client.middlewareStack.add(
    (next) => async (args) => {
      try {
        return await next(args);
      } catch (error) {
        throw asUnreachable(target, error);
      }
    },
    { step: "initialize", name: "reframeUnreachableS3", priority: "high" },
  );
  return client;
}

/**
 * Resolves when S3 answers at all (a refusal such as AccessDenied is an answer: reachable); rejects
 * with a ServiceUnreachableError when it does not, within `timeoutMs`.
 */
export async function checkS3Reachable(
  client: S3Client,
  target: ServiceTarget,
  timeoutMs = 10_000,
): Promise<void> {
  const signal = AbortSignal.timeout(timeoutMs);
  try {
    await client.send(new ListBucketsCommand({ MaxBuckets: 1 }), { abortSignal: signal });
  } catch (error) {
    if ((error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode) return;
    if (signal.aborted)
      throw new ServiceUnreachableError(target, `no answer within ${formatDelay(timeoutMs)}`);
    throw asUnreachable(target, error);
  }
}
