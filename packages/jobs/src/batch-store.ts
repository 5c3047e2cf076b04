import { DEFAULT_QUEUE_PREFIX, luaScript, type RedisClient, runScript } from "@reframe/redis";
import { z } from "zod";

/**
 * A batch is the set of jobs one producer run awaits: a `reframe bulk` command, a pipeline run, or
 * the jobs posted to the API under one batchId. It keeps counts that cost O(1) to read (a live
 * progress bar polls them), each job's result for the report, and closes exactly once: when it is
 * sealed (its producer added everything) and its last pending job ended. Whoever closes it announces
 * the completion (events.ts), and announcing twice adds one event.
 *
 * Membership is decided when jobs are enqueued (enqueue.ts): a job new to the queue is awaited
 * (pending); a job already there is skipped with the reason (done, failed, or in flight for another
 * producer). A job reports its end to the batch named by its own `labels.batchId`, the batch that
 * added it. Redis keys, under the queue prefix so they share its Cluster slot:
 *   batch:<id>           hash   info (JSON), total, completed, failed, costMicroUsd, skipped:<reason>,
 *                               sealedAt, closedAt
 *   batch:<id>:jobs      set    every awaited job id
 *   batch:<id>:pending   set    awaited job ids that have not ended
 *   batch:<id>:skipped   hash   job id -> reason
 *   batch:<id>:results   hash   job id -> how it ended (JSON, batchJobEndSchema)
 *   batch:<id>:failures  hash   reason code -> count
 *   batch:<id>:admission hash   a job stream waiting for admission (admission.ts): streamId, jobs,
 *                               position, window, chunk
 *   batch:<id>:stream    list   the stream's jobs not yet admitted, compressed chunks
 *   batches              zset   batch id, scored by its creation time: the newest first for
 *                               `reframe batch list` (the newest BATCH_INDEX_SIZE are kept)
 * Every batch key expires BATCH_RETENTION_MS after the batch's last change; an expired batch leaves
 * the index the next time the index is read.
 */

export const BATCH_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const BATCH_ID_RULE = "must be 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit";
export const batchIdSchema = z.string().regex(BATCH_ID_PATTERN, BATCH_ID_RULE);

/** As long as failed jobs are kept (queues.ts): a batch's report outlives none of its jobs. */
export const BATCH_RETENTION_MS = 30 * 24 * 60 * 60 * 1000;

/** Batches the index remembers, newest first. */
export const BATCH_INDEX_SIZE = 10_000;

/** api and cli batches are open: jobs join them by label and they are never sealed. */
export const BATCH_KINDS = ["bulk", "pipeline-run", "api", "cli"] as const;
export const SKIP_REASONS = ["done", "failed", "inFlight"] as const;
export type SkipReason = (typeof SKIP_REASONS)[number];

export const batchInfoSchema = z.object({
  kind: z.enum(BATCH_KINDS),
  createdAt: z.number(),
  /** Queues that receive the batch's completion event. */
  route: z.array(z.string()).default([]),
  pipeline: z.string().optional(),
  /** What started it, for people reading a status (a command line, a schedule). */
  description: z.string().optional(),
  estimatedCostUsd: z.number().optional(),
});
export type BatchInfo = z.output<typeof batchInfoSchema>;
export type BatchInfoInput = z.input<typeof batchInfoSchema>;

const outputRefSchema = z.object({
  bucket: z.string(),
  key: z.string(),
  width: z.number(),
  height: z.number(),
});

export const batchJobEndSchema = z.object({
  state: z.enum(["completed", "failed"]),
  /** s3://bucket/key or the URL. */
  source: z.string(),
  /** The target's label (16x9, x-header, m0-64-0-64). */
  target: z.string(),
  costUsd: z.number().min(0),
  /** From enqueue to the end. */
  durationMs: z.number().min(0),
  outputs: z.array(outputRefSchema).default([]),
  /** A completed job's plan: the factor its source was resized by, and the generated share of its outputs. */
  sourceScale: z.number().positive().optional(),
  generatedShare: z.number().min(0).max(1).optional(),
  reason: z.object({ code: z.string(), message: z.string() }).optional(),
  endedAt: z.number(),
});
export type BatchJobEnd = z.output<typeof batchJobEndSchema>;
export type BatchJobEndInput = z.input<typeof batchJobEndSchema>;

export interface BatchStatus {
  batchId: string;
  info: BatchInfo;
  /** Jobs the batch awaits or awaited. */
  total: number;
  completed: number;
  failed: number;
  /** Awaited jobs that have not ended yet. */
  inFlight: number;
  /**
   * Jobs of the batch's stream not admitted yet (admission.ts): not in the queue and not in `total`
   * (they join it, or are skipped, as the window admits them).
   */
  waiting: number;
  skipped: Record<SkipReason, number>;
  failuresByReason: Record<string, number>;
  costUsd: number;
  sealedAt: number | undefined;
  closedAt: number | undefined;
}

/** What recording a job's end did; "closed" means the caller announces the batch's completion. */
export type RecordEndResult = "ignored" | "recorded" | "closed";

export interface BatchStore {
  /** Creates the batch, or returns the one with this id unchanged (a resumed run). */
  open(batchId: string, info: BatchInfoInput): Promise<{ created: boolean; info: BatchInfo }>;
  /** Awaited jobs must be added here before they are added to the queue. */
  addJobs(
    batchId: string,
    jobs: { awaited: readonly string[]; skipped: readonly { jobId: string; reason: SkipReason }[] },
  ): Promise<{ awaited: number; skipped: number }>;
  /** Whether the batch awaits (or awaited) each job: one flag per id, in order. */
  awaits(batchId: string, jobIds: readonly string[]): Promise<boolean[]>;
  /**
   * The producer added every job: the batch closes when nothing is pending. An admitter names the
   * stream it wholly admitted (`admitted`): "superseded" when the batch's admission record names
   * another stream by then (a run started again), and nothing is sealed.
   */
  seal(batchId: string, options?: { admitted?: string }): Promise<"open" | "closed" | "superseded">;
  recordEnd(batchId: string, jobId: string, end: BatchJobEndInput): Promise<RecordEndResult>;
  status(batchId: string): Promise<BatchStatus | undefined>;
  /** Every recorded end, in no particular order, a page at a time (HSCAN). */
  results(batchId: string): AsyncGenerator<[jobId: string, end: BatchJobEnd]>;
  /** Awaited job ids that have not ended. */
  pending(batchId: string): AsyncGenerator<string>;
  /** Skipped job ids with the reason. */
  skipped(batchId: string): AsyncGenerator<[jobId: string, reason: SkipReason]>;
  /** The newest batches first, at most `limit`, with their status. */
  list(limit: number): Promise<BatchStatus[]>;
  /**
   * Failed jobs the batch awaits again (about to be retried): their failures leave the counts and
   * results, they are pending, and a closed batch opens again. Returns how many were taken back.
   */
  takeBackFailures(batchId: string, jobIds: readonly string[]): Promise<number>;
}

export function batchKeys(prefix: string, batchId: string) {
  const base = `${prefix}:batch:${batchId}`;
  return {
    batch: base,
    jobs: `${base}:jobs`,
    pending: `${base}:pending`,
    skipped: `${base}:skipped`,
    results: `${base}:results`,
    failures: `${base}:failures`,
    /** Windowed admission (admission.ts): the stream's record, its chunks, and its admitter's lease. */
    admission: `${base}:admission`,
    stream: `${base}:stream`,
    admitter: `${base}:admitter`,
  };
}

const BATCH_ADD = luaScript(new URL("./lua/batch-add.lua", import.meta.url));
const BATCH_RECORD_END = luaScript(new URL("./lua/batch-record-end.lua", import.meta.url));
const BATCH_SEAL = luaScript(new URL("./lua/batch-seal.lua", import.meta.url));
const BATCH_RETRY = luaScript(new URL("./lua/batch-retry.lua", import.meta.url));

export function createBatchStore(
  redis: RedisClient,
  {
    prefix = DEFAULT_QUEUE_PREFIX,
    now = Date.now,
    retentionMs = BATCH_RETENTION_MS,
  }: { prefix?: string; now?: () => number; retentionMs?: number } = {},
): BatchStore {
  const keysOf = (batchId: string) => batchKeys(prefix, checkedId(batchId));
  const indexKey = `${prefix}:batches`;
  const store: BatchStore = {
    async open(batchId, input) {
      const keys = keysOf(batchId);
      const info = batchInfoSchema.parse(input);
      const [[, created], [, stored]] = (await redis
        .multi()
        .hsetnx(keys.batch, "info", JSON.stringify(info))
        .hget(keys.batch, "info")
        .pexpire(keys.batch, retentionMs)
        .zadd(indexKey, "NX", info.createdAt, batchId)
        .zremrangebyrank(indexKey, 0, -BATCH_INDEX_SIZE - 1)
        .exec()) as [[null, number], [null, string], unknown, unknown, unknown];
      return { created: created === 1, info: batchInfoSchema.parse(JSON.parse(stored)) };
    },

    async addJobs(batchId, { awaited, skipped }) {
      if (awaited.length === 0 && skipped.length === 0) return { awaited: 0, skipped: 0 };
      const keys = keysOf(batchId);
      const [added, skippedNow] = (await runScript(
        redis,
        BATCH_ADD,
        [keys.batch, keys.jobs, keys.pending, keys.skipped],
        [retentionMs, awaited.length, ...awaited, ...skipped.flatMap((entry) => [entry.jobId, entry.reason])],
      )) as [number, number];
      return { awaited: added, skipped: skippedNow };
    },

    async awaits(batchId, jobIds) {
      if (jobIds.length === 0) return [];
      const flags = await redis.smismember(keysOf(batchId).jobs, ...jobIds);
      return flags.map((flag) => flag === 1);
    },

    async seal(batchId, { admitted } = {}) {
      const keys = keysOf(batchId);
      const code = await runScript(
        redis,
        BATCH_SEAL,
        [keys.batch, keys.pending, keys.admission],
        [now(), admitted ?? ""],
      );
      return code === 2 ? "closed" : code === 1 ? "open" : "superseded";
    },

    async recordEnd(batchId, jobId, input) {
      const keys = keysOf(batchId);
      const end = batchJobEndSchema.parse(input);
      const code = await runScript(
        redis,
        BATCH_RECORD_END,
        [keys.batch, keys.pending, keys.results, keys.failures],
        [
          jobId,
          end.state,
          Math.round(end.costUsd * 1_000_000),
          end.reason?.code ?? "",
          JSON.stringify(end),
          now(),
          retentionMs,
        ],
      );
      return code === 2 ? "closed" : code === 1 ? "recorded" : "ignored";
    },

    async status(batchId) {
      const keys = keysOf(batchId);
      const [[, fields], [, failures], [, pending], [, [admitted, streamed]]] = (await redis
        .multi()
        .hgetall(keys.batch)
        .hgetall(keys.failures)
        .scard(keys.pending)
        .hmget(keys.admission, "position", "jobs")
        .exec()) as [
        [null, Record<string, string>],
        [null, Record<string, string>],
        [null, number],
        [null, (string | null)[]],
      ];
      if (!fields.info) return undefined;
      const int = (name: string) => Number(fields[name] ?? 0);
      const optional = (name: string) => (fields[name] === undefined ? undefined : Number(fields[name]));
      return {
        batchId,
        info: batchInfoSchema.parse(JSON.parse(fields.info)),
        total: int("total"),
        completed: int("completed"),
        failed: int("failed"),
        inFlight: pending,
        waiting: Number(streamed ?? 0) - Number(admitted ?? 0),
        skipped: Object.fromEntries(
          SKIP_REASONS.map((reason) => [reason, int(`skipped:${reason}`)]),
        ) as Record<SkipReason, number>,
        failuresByReason: Object.fromEntries(
          Object.entries(failures).map(([code, count]) => [code, Number(count)]),
        ),
        costUsd: int("costMicroUsd") / 1_000_000,
        sealedAt: optional("sealedAt"),
        closedAt: optional("closedAt"),
      };
    },

    async *results(batchId) {
      for await (const [jobId, json] of scanHash(redis, keysOf(batchId).results)) {
        yield [jobId, batchJobEndSchema.parse(JSON.parse(json))];
      }
    },

    async *pending(batchId) {
      let cursor = "0";
      do {
        const [next, members] = await redis.sscan(keysOf(batchId).pending, cursor, "COUNT", 1000);
        cursor = next;
        yield* members;
      } while (cursor !== "0");
    },

    async *skipped(batchId) {
      for await (const [jobId, reason] of scanHash(redis, keysOf(batchId).skipped)) {
        yield [jobId, reason as SkipReason];
      }
    },

    async list(limit) {
      const listed: BatchStatus[] = [];
      let start = 0;
      while (listed.length < limit) {
        const ids = await redis.zrevrange(indexKey, start, start + limit - 1);
        if (ids.length === 0) break;
        start += ids.length;
        const statuses = await Promise.all(ids.map((batchId) => store.status(batchId)));
        const expired = ids.filter((_, index) => statuses[index] === undefined);
        if (expired.length > 0) {
          await redis.zrem(indexKey, ...expired);
          start -= expired.length;
        }
        for (const status of statuses) if (status && listed.length < limit) listed.push(status);
      }
      return listed;
    },

    async takeBackFailures(batchId, jobIds) {
      if (jobIds.length === 0) return 0;
      const keys = keysOf(batchId);
      return (await runScript(
        redis,
        BATCH_RETRY,
        [keys.batch, keys.pending, keys.results, keys.failures],
        [retentionMs, ...jobIds],
      )) as number;
    },
  };
  return store;
}

async function* scanHash(redis: RedisClient, key: string): AsyncGenerator<[string, string]> {
  let cursor = "0";
  do {
    const [next, flat] = await redis.hscan(key, cursor, "COUNT", 1000);
    cursor = next;
    for (let i = 0; i < flat.length; i += 2) yield [flat[i]!, flat[i + 1]!];
  } while (cursor !== "0");
}

function checkedId(batchId: string): string {
  if (!BATCH_ID_PATTERN.test(batchId))
    throw new TypeError(`batch id ${JSON.stringify(batchId)}: ${BATCH_ID_RULE}`);
  return batchId;
}
