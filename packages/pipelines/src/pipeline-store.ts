import { createHash } from "node:crypto";
import { canonicalJson, DEFAULT_QUEUE_PREFIX, luaScript, runScript } from "@reframe/jobs";
import type { Redis } from "ioredis";
import { z } from "zod";
import { type Pipeline, pipelineSchema } from "./pipeline-file.ts";
import { watchedAreasKey } from "./written-objects.ts";

/**
 * The applied pipelines, in Redis beside the queues, so every process (the worker running a
 * scheduled run, the intake matching an upload) reads the same definitions without the file:
 *   pipelines                 hash  name -> {definition, digest, appliedAt} (JSON)
 *   pipelines:watched         set   "<bucket>/<prefix>" of every trigger, rewritten with the hash
 *   pipeline:<name>:runs      zset  run ids of the pipeline by start time (the newest 100 kept)
 *   pipeline:<name>:run-info  hash  run id -> RunRecord (JSON); a run's progress is its batch's status
 */

export interface AppliedPipeline {
  name: string;
  definition: Pipeline;
  /** SHA-256 of the canonical definition: equal digests, nothing to change. */
  digest: string;
  appliedAt: number;
}

export interface PipelineStore {
  all(): Promise<AppliedPipeline[]>;
  get(name: string): Promise<AppliedPipeline | undefined>;
  put(name: string, definition: Pipeline, appliedAt: number): Promise<AppliedPipeline>;
  remove(name: string): Promise<boolean>;
  /** Adds or replaces the record of a run. */
  recordRun(record: RunRecord): Promise<void>;
  /** The newest runs first. */
  runs(name: string, limit?: number): Promise<RunRecord[]>;
}

export const runRecordSchema = z.object({
  runId: z.string(),
  pipeline: z.string(),
  trigger: z.enum(["schedule", "manual"]),
  startedAt: z.number(),
  /** enqueued: its jobs are in the queue (the batch tells how far they are); refused: over budget. */
  state: z.enum(["enqueued", "refused"]),
  sources: z.int().min(0),
  jobs: z.int().min(0),
  added: z.int().min(0).optional(),
  /** Jobs already in the queue: unchanged sources done by an earlier run, or in flight. */
  skipped: z.int().min(0).optional(),
  estimatedCostUsd: z.number().optional(),
  reason: z.string().optional(),
});
export type RunRecord = z.output<typeof runRecordSchema>;

const RUNS_KEPT = 100;
const PIPELINES_WRITE = luaScript("pipelines-write.lua", import.meta.url);

export function pipelineDigest(definition: Pipeline): string {
  return createHash("sha256").update(canonicalJson(definition)).digest("hex");
}

export function createPipelineStore(redis: Redis, { prefix = DEFAULT_QUEUE_PREFIX } = {}): PipelineStore {
  const pipelinesKey = `${prefix}:pipelines`;
  const runsKey = (name: string) => `${prefix}:pipeline:${name}:runs`;
  const runInfoKey = (name: string) => `${prefix}:pipeline:${name}:run-info`;
  const decode = (name: string, json: string): AppliedPipeline => {
    const stored = JSON.parse(json) as { definition: unknown; digest: string; appliedAt: number };
    return {
      name,
      definition: pipelineSchema.parse(stored.definition),
      digest: stored.digest,
      appliedAt: stored.appliedAt,
    };
  };
  return {
    async all() {
      const entries = await redis.hgetall(pipelinesKey);
      return Object.entries(entries)
        .map(([name, json]) => decode(name, json))
        .sort((a, b) => a.name.localeCompare(b.name));
    },
    async get(name) {
      const json = await redis.hget(pipelinesKey, name);
      return json === null ? undefined : decode(name, json);
    },
    async put(name, definition, appliedAt) {
      const applied = { name, definition, digest: pipelineDigest(definition), appliedAt };
      const json = JSON.stringify({ definition, digest: applied.digest, appliedAt });
      await runScript(redis, PIPELINES_WRITE, [pipelinesKey, watchedAreasKey(prefix)], [name, json]);
      return applied;
    },
    async remove(name) {
      const removed = await runScript(
        redis,
        PIPELINES_WRITE,
        [pipelinesKey, watchedAreasKey(prefix)],
        [name, ""],
      );
      return removed === 1;
    },
    async recordRun(record) {
      const { pipeline: name, runId } = record;
      const [, , [, trimmed]] = (await redis
        .multi()
        .zadd(runsKey(name), record.startedAt, runId)
        .hset(runInfoKey(name), runId, JSON.stringify(runRecordSchema.parse(record)))
        .zrange(runsKey(name), 0, -RUNS_KEPT - 1)
        .zremrangebyrank(runsKey(name), 0, -RUNS_KEPT - 1)
        .exec()) as [unknown, unknown, [null, string[]], unknown];
      if (trimmed.length > 0) await redis.hdel(runInfoKey(name), ...trimmed);
    },
    async runs(name, limit = 20) {
      const ids = await redis.zrevrange(runsKey(name), 0, limit - 1);
      if (ids.length === 0) return [];
      const records = await redis.hmget(runInfoKey(name), ...ids);
      return records.flatMap((json) => (json ? [runRecordSchema.parse(JSON.parse(json))] : []));
    },
  };
}
