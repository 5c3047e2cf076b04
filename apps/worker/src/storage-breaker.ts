import type { S3Client } from "@aws-sdk/client-s3";
import { storageOutageAlert } from "@reframe/jobs";
import { connectionProblem } from "@reframe/reachability";
import { s3OutageNow, s3OutageOf } from "@reframe/storage";
import { type BreakerProcessOptions, ServiceBreaker } from "./service-breaker.ts";

export interface StorageBreakerOptions extends BreakerProcessOptions {
  /** The client the probe goes through: not the guarded one, a probe is not a job's request. */
  probeClient: S3Client;
}

/**
 * S3's breaker (service-breaker.ts): outage failures of the jobs' S3 requests (`s3OutageOf`) open
 * it; while it is open the jobs that need S3, and those that would send to the provider (which
 * could not fetch the source or upload the output), wait parked until just after the next probe, and
 * one worker at a time probes with a HeadBucket of the bucket a job last used (any answer, a 404 or
 * a 403 too, says S3 is back). Opening it raises the storageOutage alert.
 */
export class StorageBreaker extends ServiceBreaker {
  private bucket = "reframe";

  constructor({ probeClient, ...options }: StorageBreakerOptions) {
    super({
      ...options,
      service: "s3",
      outageOf: s3OutageOfRequest,
      openedAlert: storageOutageAlert,
      whileOpen: "no job sends S3 or the provider a request (they wait parked)",
      probe: () => s3OutageNow(probeClient, this.bucket),
    });
  }

  /**
   * Every request of `client` counts for the breaker (a middleware, so each of the jobs' S3 requests
   * does, whoever sends it), and its bucket is the next probe's.
   */
  guard(client: S3Client): S3Client {
    client.middlewareStack.add(
      (next) => (args) => {
        const bucket = (args.input as { Bucket?: unknown }).Bucket;
        if (typeof bucket === "string" && bucket) this.bucket = bucket;
        return this.observe(() => next(args));
      },
      { step: "initialize", name: "reframeStorageBreaker", priority: "low" },
    );
    return client;
  }
}

/**
 * An S3 request's failure as an outage: `s3OutageOf`, or a connection problem that the client's
 * own middleware (createS3Client, which this one may run inside of) has not yet named S3's.
 */
function s3OutageOfRequest(error: unknown): string | undefined {
  return s3OutageOf(error) ?? connectionProblem(error);
}
