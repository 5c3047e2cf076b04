import { fileURLToPath } from "node:url";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { createOutpaintQueue, type OutpaintJobInput } from "@reframe/jobs";
import {
  LOCAL_BUCKETS,
  type LocalStack,
  type LocalStackOptions,
  startLocalStack,
} from "@reframe/local-stack";
import { createRedisClient, DEFAULT_QUEUE_PREFIX, type RedisClient } from "@reframe/redis";
import { createS3Client } from "@reframe/storage";
import { type RunningProcess, startProcess } from "@reframe/testkit";
import type { Queue } from "bullmq";
import sharp from "sharp";

const BARE_WORKER = fileURLToPath(new URL("./bare-worker.ts", import.meta.url));

/** The source every benchmark job reads: small, so the emulator's input fetch costs little. */
export const SOURCE = { key: "bench/source.jpg", width: 96, height: 64 } as const;
export const ROUTE = "bench-done";

export interface BenchStack {
  stack: LocalStack;
  redis: RedisClient;
  queue: Queue;
  /** Throws when a process of the stack (S3, emulator, webhooks, a worker) has exited. */
  assertRunning(): void;
  close(): Promise<void>;
}

/**
 * The local stack as users run it (every part its own process, the embedded S3 too, so that the
 * harness measuring does not share its event loop), the emulator in throughput mode (no image
 * work), and the one source uploaded.
 */
export async function startBenchStack(options: LocalStackOptions): Promise<BenchStack> {
  const stack = await startLocalStack({
    s3Process: true,
    ...options,
    emulatorEnv: { EMULATOR_MODE: "throughput", ...options.emulatorEnv },
  });
  // A producer connection fails fast: a benchmark whose Redis went away stops instead of hanging.
  const redis = createRedisClient(stack.redisSettings, { role: "producer" });
  const gone: string[] = [];
  const watched = [
    "s3",
    "emulator",
    ...[...stack.webhookReceivers, ...stack.workers].map((child) => child.name),
  ];
  for (const name of watched) {
    void stack
      .process(name)
      ?.exited.then(({ code, signal }) => gone.push(`${name} (code ${code}, signal ${signal})`));
  }
  const queue = createOutpaintQueue({ connection: redis, prefix: DEFAULT_QUEUE_PREFIX });
  const s3 = createS3Client({
    endpoint: stack.s3.endpoint,
    region: stack.s3.region,
    forcePathStyle: true,
    credentials: stack.s3.credentials,
  });
  try {
    const bytes = await sharp({
      create: { width: SOURCE.width, height: SOURCE.height, channels: 3, background: "#3a7" },
    })
      .jpeg()
      .toBuffer();
    await s3.send(
      new PutObjectCommand({
        Bucket: LOCAL_BUCKETS.sources,
        Key: SOURCE.key,
        Body: bytes,
        ContentType: "image/jpeg",
      }),
    );
  } finally {
    s3.destroy();
  }
  return {
    stack,
    redis,
    queue,
    assertRunning() {
      if (gone.length > 0)
        throw new Error(`a process of the stack exited during the benchmark: ${gone.join(", ")}`);
    },
    async close() {
      await queue.close();
      redis.disconnect();
      await stack.stop();
    },
  };
}

/** Job `i` of a run: the same source, a distinct output prefix (so a distinct job id), a 16:9 target. */
export function benchJob(i: number, run = "run"): OutpaintJobInput {
  return {
    source: {
      kind: "s3",
      bucket: LOCAL_BUCKETS.sources,
      key: SOURCE.key,
      width: SOURCE.width,
      height: SOURCE.height,
    },
    target: { kind: "ratio", ratio: "16:9", anchor: "center" },
    output: { bucket: LOCAL_BUCKETS.outputs, prefix: `bench/${run}/${i}/`, format: "JPG" },
    route: [ROUTE],
  } as OutpaintJobInput;
}

const UNFINISHED = ["waiting", "active", "delayed", "prioritized", "waiting-children"] as const;

/**
 * Resolves when no job of the queue is left unfinished (every job was added before this is called).
 * Counts, not ids: retention may already have removed the oldest completed jobs. Throws when a job
 * failed, or when nothing moved for `stallMs`.
 */
export async function waitUntilDrained(
  queue: Queue,
  {
    stallMs = 120_000,
    intervalMs = 100,
    onSample,
    alive,
  }: { stallMs?: number; intervalMs?: number; onSample?: () => Promise<void>; alive?: () => void } = {},
): Promise<void> {
  let lastRemaining = Number.POSITIVE_INFINITY;
  let lastProgressAt = Date.now();
  for (;;) {
    alive?.();
    const counts = await queue.getJobCounts(...UNFINISHED, "failed");
    if ((counts.failed ?? 0) > 0) {
      const [failed] = await queue.getFailed(0, 0);
      throw new Error(`${counts.failed} job(s) failed; first: ${failed?.failedReason}`);
    }
    const remaining = UNFINISHED.reduce((sum, state) => sum + (counts[state] ?? 0), 0);
    if (remaining === 0) return;
    if (remaining < lastRemaining) {
      lastRemaining = remaining;
      lastProgressAt = Date.now();
    } else if (Date.now() - lastProgressAt > stallMs) {
      throw new Error(
        `no progress for ${stallMs} ms with ${remaining} job(s) unfinished: ${JSON.stringify(counts)}`,
      );
    }
    await onSample?.();
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/**
 * A BullMQ worker with a no-op processor in its own process (bare-worker.ts): the throughput
 * baseline, or a downstream consumer of completion events (queue ROUTE, prefix {reframe}).
 */
export function startBareWorker({
  redisUrl,
  queue,
  concurrency,
  prefix,
}: {
  redisUrl: string;
  queue: string;
  concurrency: number;
  prefix?: string;
}): Promise<RunningProcess> {
  return startProcess({
    name: `bare-worker-${queue}`,
    command: [
      process.execPath,
      BARE_WORKER,
      redisUrl,
      queue,
      String(concurrency),
      ...(prefix ? [prefix] : []),
    ],
    ready: { line: /bare worker started/ },
  });
}
