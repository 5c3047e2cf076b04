import { timingSafeEqual } from "node:crypto";
import { createPipelineStore, ingestCreatedObjects } from "@reframe/pipelines";
import type { RedisClient } from "@reframe/redis";
import { parseS3Event } from "@reframe/storage";
import type { Queue } from "bullmq";
import type { FastifyInstance, FastifyRequest } from "fastify";

export const INTAKE_PATH = "/v1/events/s3";

export interface IntakeOptions {
  queue: Queue;
  redis: RedisClient;
  prefix: string;
  /** The token S3 notifications carry (Authorization: Bearer <token>); not the API's own token. */
  token: string;
  /** Areas that are never sources (the worker's scratch prefix); outputs of pipelines always are. */
  ignoreAreas: { bucket: string; prefix: string }[];
  /** Before the 202: the jobs are on enough replicas to survive a failover (see confirmWrites). */
  confirmWrites?: () => Promise<void>;
}

/**
 * S3 event intake: AWS S3 notification records, MinIO's webhook target and EventBridge "Object
 * Created" events, authenticated by their own bearer token, so a notifier's credential can create
 * only the jobs the applied pipelines' triggers allow. The pipelines are read per request (one
 * HGETALL), so `reframe pipelines apply` takes effect at once in every API process.
 */
export function registerIntakeRoute(app: FastifyInstance, options: IntakeOptions): void {
  const store = createPipelineStore(options.redis, { prefix: options.prefix });
  app.post(INTAKE_PATH, async (request, reply) => {
    const parsed = parseS3Event(request.body);
    if (!parsed.ok)
      return reply.code(400).send({ error: "validation", issues: [{ path: "(body)", rule: parsed.reason }] });
    const result = await ingestCreatedObjects(parsed.objects, {
      pipelines: await store.all(),
      queue: options.queue,
      ignoreAreas: options.ignoreAreas,
    });
    await options.confirmWrites?.();
    return reply.code(202).send({
      objects: result.objects,
      matched: result.dispositions.matched,
      outputs: result.dispositions.output,
      unmatched: result.dispositions.unmatched,
      added: result.added,
      duplicates: result.duplicates,
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
