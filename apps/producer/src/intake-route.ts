import { timingSafeEqual } from "node:crypto";
import type { S3Client } from "@aws-sdk/client-s3";
import { openRouteQueues } from "@reframe/jobs";
import {
  createPipelineStore,
  createUploadBudgets,
  createWrittenObjects,
  ingestCreatedObjects,
} from "@reframe/pipelines";
import type { RedisClient } from "@reframe/redis";
import type { SourceLimits } from "@reframe/sources";
import { parseS3Event, type S3Area } from "@reframe/storage";
import type { Logger, Metrics } from "@reframe/telemetry";
import type { Queue } from "bullmq";
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { SnsIntake } from "./sns/index.ts";

export const INTAKE_PATH = "/v1/events/s3";

export interface IntakeOptions {
  queue: Queue;
  redis: RedisClient;
  prefix: string;
  /** The token S3 notifications carry (Authorization: Bearer <token>); not the API's own token. */
  token: string;
  /** The worker's scratch area: never a source (pipelines' output areas are added to it). */
  scratch: S3Area[];
  /** Reads the matched images' headers: a job's planned cost is counted before it is added. */
  s3: S3Client;
  /** MAX_SOURCE_PIXELS and MAX_SOURCE_BYTES, as the worker has them. */
  sourceLimits: SourceLimits;
  /** The SNS layer in front (sns/sns-intake.ts): envelopes verified and unwrapped, or answered. */
  sns?: SnsIntake;
  logger: Logger;
  /** Before the 202: the jobs are on enough replicas to survive a failover (see confirmWrites). */
  confirmWrites?: () => Promise<void>;
  /** Each pipeline's upload spend against its ceilings (`pipeline:<name>`, `pipeline:<name>:hour`). */
  metrics?: Pick<Metrics, "setSpend">;
}

/**
 * S3 event intake: AWS S3 notification records, MinIO's webhook target and EventBridge "Object
 * Created" events, authenticated by their own bearer token, so a notifier's credential can create
 * only the jobs the applied pipelines' triggers allow. The pipelines are read per request (one
 * HGETALL), so `reframe pipelines apply` takes effect at once in every API process.
 */
export function registerIntakeRoute(app: FastifyInstance, options: IntakeOptions): void {
  const { redis, prefix, logger } = options;
  const store = createPipelineStore(redis, { prefix });
  const written = createWrittenObjects(redis, { prefix });
  const budgets = createUploadBudgets(redis, { prefix });
  const routes = openRouteQueues({ connection: redis, prefix });
  app.addHook("onClose", () => routes.close());
  app.post(INTAKE_PATH, async (request, reply) => {
    const unwrapped = options.sns ? await options.sns.unwrap(request) : { body: request.body };
    if ("reply" in unwrapped) return reply.code(unwrapped.reply.status).send(unwrapped.reply.body);
    const parsed = parseS3Event(unwrapped.body);
    if (!parsed.ok)
      return reply.code(400).send({ error: "validation", issues: [{ path: "(body)", rule: parsed.reason }] });
    let result: Awaited<ReturnType<typeof ingestCreatedObjects>>;
    try {
      result = await ingestCreatedObjects(parsed.objects, {
        pipelines: await store.all(),
        queue: options.queue,
        s3: options.s3,
        sourceLimits: options.sourceLimits,
        written,
        budgets,
        routes,
        scratch: options.scratch,
        onBudgetExceeded: (event) =>
          logger.warn({ alert: "uploadBudget", pipeline: event.data.pipeline }, event.data.reason.message),
        onSpend: (pipeline, usage, ceilings) => {
          options.metrics?.setSpend(`pipeline:${pipeline}`, usage.dayUsd, ceilings.perDayUsd);
          if (ceilings.perHourUsd !== undefined)
            options.metrics?.setSpend(`pipeline:${pipeline}:hour`, usage.hourUsd, ceilings.perHourUsd);
        },
      });
    } catch (error) {
      // Nothing of the event was added: a 503 makes S3's notifier (SNS, SQS, MinIO's queue) retry it.
      logger.error({ err: error }, "S3 event intake failed; the notifier will retry");
      return reply
        .code(503)
        .send({ error: "unavailable", message: "the event could not be taken now; retry" });
    }
    await options.confirmWrites?.();
    return reply.code(202).send({
      objects: result.objects,
      matched: result.byMatch.matched,
      outputs: result.byMatch.output,
      unmatched: result.byMatch.unmatched,
      ignored: parsed.ignored,
      added: result.added,
      duplicates: result.duplicates,
      overBudget: result.overBudget,
      jobIds: result.jobIds,
    });
  });
}

/** Constant-time comparison of `Authorization: Bearer <token>`. */
export function hasBearerToken(request: FastifyRequest, token: string): boolean {
  const given = Buffer.from(request.headers.authorization ?? "");
  const expected = Buffer.from(`Bearer ${token}`);
  return given.length === expected.length && timingSafeEqual(given, expected);
}
