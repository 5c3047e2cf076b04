import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { S3Client } from "@aws-sdk/client-s3";
import { loadConfigOrExit } from "@reframe/config";
import { type EmbeddedS3, startEmbeddedS3 } from "@reframe/embedded-s3";
import {
  checkRedisReachable,
  type RedisSettings,
  redisEnvFields,
  redisEnvSchema,
  redisSettingsFromEnv,
} from "@reframe/redis";
import { createS3Client } from "@reframe/storage";
import {
  basicAuthorization,
  freePort,
  type LocalRedisTopology,
  type LocalSns,
  type RedisTopologyKind,
  type RunningProcess,
  startLocalSns,
  startProcess,
  startRedisTopology,
  startTcpProxy,
  type TcpProxy,
} from "@reframe/testkit";
import { startRoundRobinProxy } from "./round-robin-proxy.ts";
import { publishUploadsToSns } from "./sns-topic.ts";
import { type UploadWatch, watchEmbeddedUploads } from "./upload-triggers.ts";

/**
 * reframe on one machine with embedded defaults, every part as its own process, as users run it:
 * Redis (the caller's, or one started on free ports: one node, a Sentinel group or a Cluster), the
 * embedded S3, the provider emulator, the
 * webhook receivers and worker processes. Used by the demo, the end-to-end tests and the
 * fault-injection run. Several receivers sit behind one round-robin proxy, as replicas sit behind a
 * load balancer: the provider is given one public URL.
 */

const REPO_ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const entry = (app: string) => `${REPO_ROOT}apps/${app}/src/main.ts`;

export const LOCAL_BUCKETS = {
  sources: "reframe-sources",
  outputs: "reframe-outputs",
  scratch: "reframe-scratch",
} as const;
/**
 * As in the README and infra: without a budget V8 lets a busy worker's heap grow lazily (a 100 MB
 * young generation, old space collected late), ~450 MB RSS with 10,000 jobs in flight for a live
 * set of ~60 MB; with these flags it peaks under 200 MB (pnpm bench inFlight).
 */
const WORKER_HEAP_FLAGS = ["--max-semi-space-size=4", "--max-old-space-size=384"];

/**
 * The worker's memory allocator, as in the container image: glibc's malloc with two arenas (it keeps
 * up to 8 per core for the threads that decode images) and blocks of 128 KiB and more mapped on
 * their own, so that libvips' large buffers go back to the system when freed (glibc's default
 * threshold rises to 32 MiB after the first such free, and the worker's RSS then grows with every
 * large decode, as sharp's documentation warns). Not jemalloc, which sharp's documentation suggests:
 * every 64 KiB socket read of a download then cost three times the CPU (Debian's libjemalloc2, any
 * decay setting): a tenth to a fifth of the worker's CPU in `pnpm bench images`, at the same peak RSS
 * (README, Benchmarks; docs/source-images.md).
 */
export function workerAllocatorEnv(): Record<string, string> {
  return { MALLOC_ARENA_MAX: "2", MALLOC_MMAP_THRESHOLD_: "131072", MALLOC_TRIM_THRESHOLD_: "131072" };
}

const S3_CREDENTIALS = { accessKeyId: "reframe-local", secretAccessKey: "reframe-local-secret" };
const API_KEY = "local-dev-key";

/**
 * The caller's Redis, when the environment names one (REDIS_URL, REDIS_SENTINELS or
 * REDIS_CLUSTER_NODES): every Redis variable, checked (a bad one stops the process with its name and
 * rule), for `startLocalStack({ redisEnv })`. Undefined when none is set: the stack starts its own.
 */
export function callerRedisEnv(env: NodeJS.ProcessEnv): Record<string, string> | undefined {
  if (!env.REDIS_URL && !env.REDIS_SENTINELS && !env.REDIS_CLUSTER_NODES) return undefined;
  const redisEnv = Object.fromEntries(Object.keys(redisEnvFields).map((name) => [name, env[name] ?? ""]));
  loadConfigOrExit(redisEnvSchema, redisEnv);
  return redisEnv;
}

export interface LocalStackOptions {
  /** Worker processes to start (0 for tests that start their own). */
  workers?: number;
  /** Without webhooks the reconciler alone completes jobs (polling). */
  webhooks?: boolean;
  /** Webhook receiver processes (1 by default); more than one are reached through one proxy URL. */
  webhookReceivers?: number;
  /** Extra environment for the emulator (latency, faults). */
  emulatorEnv?: Record<string, string>;
  /** Extra environment for every worker. */
  workerEnv?: Record<string, string>;
  /** Extra environment for the webhook receiver (body limit, body timeout). */
  webhooksEnv?: Record<string, string>;
  /** Every process's log level; lines are captured (see `outputs()`), never printed. Readiness needs info. */
  logLevel?: "trace" | "debug" | "info";
  /** Run the embedded S3 as its own process (benchmarks); `onNotification` is then unavailable. */
  s3Process?: boolean;
  /**
   * Use this Redis instead of starting one: its variables (REDIS_URL, or REDIS_SENTINELS and
   * REDIS_SENTINEL_NAME, or REDIS_CLUSTER_NODES, with credentials and QUEUE_PREFIX), given to every
   * process of the stack.
   */
  redisEnv?: Record<string, string>;
  /** The Redis to start when none is given: one node (default), a Sentinel group or a Cluster. */
  redisTopology?: RedisTopologyKind;
  /** Replicas of the started Redis (per master on a Cluster; of the master in a Sentinel group). */
  redisReplicas?: number;
  appendOnly?: boolean;
  /** Start the HTTP API (with the S3 event intake and the dashboard) as a process. */
  api?: boolean;
  /** Extra environment for the API (SNS settings, NODE_EXTRA_CA_CERTS, DASHBOARD_ACTIONS, DASHBOARD_TOKEN). */
  apiEnv?: Record<string, string>;
  /**
   * Feed the embedded S3's object-created events into the applied pipelines' upload triggers:
   * directly (true), or as on AWS (`"sns"`): published to the local SNS topic, which delivers them
   * to the API's intake (needs `api` and `sns`).
   */
  uploadTriggers?: boolean | "sns";
  /**
   * A local SNS (its own CA, signing certificate and topic) that the API trusts and allows
   * (SNS_TOPIC_ARNS, SNS_CERT_HOST_PATTERN=^localhost$), with the intake subscribed to its topic.
   */
  sns?: boolean;
  /** Where the embedded S3 keeps its objects (a temporary directory by default). */
  s3Directory?: string;
  /**
   * The workers (and so the provider's presigned URLs) reach S3 through a TCP proxy that can be cut
   * for an outage (`s3Proxy.cut()`); the stack's own client and the API go to S3 directly.
   */
  s3Proxy?: boolean;
}

export interface LocalStack {
  /** The Redis variables every process of the stack gets (the other topologies' blank). */
  redisEnv: Record<string, string>;
  /** The same, parsed: for the caller's own clients (createRedis) and the key prefix. */
  redisSettings: RedisSettings;
  /** The URL when Redis is one node. */
  redisUrl: string | undefined;
  /** The Redis this stack started (undefined for the caller's): for failover runs. */
  redisTopology: LocalRedisTopology | undefined;
  s3: { endpoint: string; region: string; credentials: typeof S3_CREDENTIALS };
  emulatorUrl: string;
  apiKey: string;
  /** The public webhook URL: the receiver's, or the proxy's in front of several. */
  webhooksUrl: string | undefined;
  /** A client of the embedded S3 with the stack's credentials; the caller destroys it. */
  s3Client(): S3Client;
  /** The workers' way to S3, when `s3Proxy`: cut it for an S3 outage. */
  s3Proxy: TcpProxy | undefined;
  /** The HTTP API and its tokens, when started (`api: true`). */
  api: { url: string; token: string; intakeToken: string } | undefined;
  /** The upload-trigger feed, when on (`uploadTriggers: true`). */
  uploads: UploadWatch | undefined;
  /** The local SNS, its topic subscribed by the intake (`sns: true`), and its CA's file. */
  sns: (LocalSns & { caFile: string }) | undefined;
  webhookReceivers: RunningProcess[];
  workers: RunningProcess[];
  /** Each process's /metrics (METRICS_PORT on 127.0.0.1), by process name (worker-1, webhooks-1, api). */
  metricsUrls: Map<string, string>;
  /** Every process started (emulator, webhooks, workers), by name: for benchmarks reading /proc. */
  process(name: string): RunningProcess | undefined;
  /** The environment a worker (or the CLI) of this stack needs. */
  workerEnvironment: Record<string, string>;
  startWorker(extraEnv?: Record<string, string>): Promise<RunningProcess>;
  restartRedis(): Promise<void>;
  onNotification: EmbeddedS3["onNotification"];
  /** Every process's captured output, for assertions on logs. */
  outputs(): string;
  stop(): Promise<void>;
}

export async function startLocalStack(options: LocalStackOptions = {}): Promise<LocalStack> {
  const stoppers: (() => Promise<unknown>)[] = [];
  const processes: RunningProcess[] = [];
  const logLevel = options.logLevel ?? "info";
  const metricsUrls = new Map<string, string>();
  /** A metrics listener of its own for one process. */
  const metricsEnv = async (name: string) => {
    const port = await freePort();
    metricsUrls.set(name, `http://127.0.0.1:${port}/metrics`);
    return { METRICS_PORT: String(port), METRICS_HOST: "127.0.0.1" };
  };
  try {
    // A given Redis that does not answer is one line now, before any process starts and fails on it.
    if (options.redisEnv) await checkRedisReachable(redisSettingsFromEnv(options.redisEnv));
    const redis = options.redisEnv
      ? undefined
      : await startRedisTopology(options.redisTopology ?? "single", {
          appendOnly: options.appendOnly ?? false,
          ...(options.redisReplicas === undefined ? {} : { replicas: options.redisReplicas }),
        });
    if (redis) stoppers.push(() => redis.stop());
    const redisEnv = options.redisEnv ?? redis!.env;
    const redisSettings = redisSettingsFromEnv(redisEnv);
    const redisUrl = redisSettings.target.kind === "single" ? redisSettings.target.url : undefined;
    const s3 = options.s3Process
      ? await startS3Process(processes)
      : await startEmbeddedS3({
          buckets: Object.values(LOCAL_BUCKETS),
          ...S3_CREDENTIALS,
          ...(options.s3Directory ? { directory: options.s3Directory } : {}),
        });
    stoppers.push(() => s3.close());
    const s3Proxy = options.s3Proxy ? await startTcpProxy({ targetPort: s3.port }) : undefined;
    if (s3Proxy) stoppers.push(() => s3Proxy.close());
    const emulatorPort = await freePort();
    const emulatorUrl = `http://127.0.0.1:${emulatorPort}`;
    const emulator = await startProcess({
      name: "emulator",
      command: [process.execPath, entry("emulator")],
      env: {
        EMULATOR_PORT: String(emulatorPort),
        EMULATOR_HOST: "127.0.0.1",
        EMULATOR_PUBLIC_URL: emulatorUrl,
        EMULATOR_API_KEYS: API_KEY,
        LOG_LEVEL: logLevel,
        ...options.emulatorEnv,
      },
      ready: { url: `${emulatorUrl}/healthz` },
    });
    processes.push(emulator);
    const secret = randomBytes(24).toString("base64url");
    let webhooksUrl: string | undefined;
    const webhookReceivers: RunningProcess[] = [];
    if (options.webhooks ?? true) {
      const receiverUrls: string[] = [];
      for (let i = 0; i < (options.webhookReceivers ?? 1); i += 1) {
        const webhooksPort = await freePort();
        const receiverUrl = `http://127.0.0.1:${webhooksPort}`;
        const receiver = await startProcess({
          name: `webhooks-${i + 1}`,
          command: [process.execPath, entry("webhooks")],
          env: {
            ...(await metricsEnv(`webhooks-${i + 1}`)),
            ...redisEnv,
            WEBHOOK_SECRET: secret,
            WEBHOOKS_PORT: String(webhooksPort),
            WEBHOOKS_HOST: "127.0.0.1",
            LOG_LEVEL: logLevel,
            ...options.webhooksEnv,
          },
          ready: { url: `${receiverUrl}/healthz` },
        });
        processes.push(receiver);
        webhookReceivers.push(receiver);
        receiverUrls.push(receiverUrl);
      }
      if (receiverUrls.length > 1) {
        const proxy = await startRoundRobinProxy(receiverUrls);
        stoppers.push(() => proxy.close());
        webhooksUrl = proxy.url;
      } else webhooksUrl = receiverUrls[0];
    }
    const workerEnvironment: Record<string, string> = {
      ...redisEnv,
      RUNWARE_API_URL: `${emulatorUrl}/v1`,
      RUNWARE_API_KEY: API_KEY,
      S3_ENDPOINT: s3Proxy ? `http://127.0.0.1:${s3Proxy.port}` : s3.endpoint,
      S3_REGION: "us-east-1",
      S3_FORCE_PATH_STYLE: "true",
      S3_ACCESS_KEY_ID: S3_CREDENTIALS.accessKeyId,
      S3_SECRET_ACCESS_KEY: S3_CREDENTIALS.secretAccessKey,
      SCRATCH_BUCKET: LOCAL_BUCKETS.scratch,
      OUTPUT_BUCKET: LOCAL_BUCKETS.outputs,
      LOG_LEVEL: logLevel,
      // Outbound endpoints of a local stack (the demo's sample endpoint, tests' receivers) are local.
      DELIVERY_ALLOW_HOSTS: "127.0.0.1,localhost",
      ...(webhooksUrl ? { WEBHOOK_PUBLIC_URL: webhooksUrl, WEBHOOK_SECRET: secret } : {}),
    };
    const workers: RunningProcess[] = [];
    const startWorker = async (extraEnv: Record<string, string> = {}) => {
      const name = `worker-${workers.length + 1}`;
      const worker = await startProcess({
        name,
        command: [process.execPath, ...WORKER_HEAP_FLAGS, entry("worker")],
        env: {
          ...(await metricsEnv(name)),
          ...workerEnvironment,
          ...workerAllocatorEnv(),
          ...options.workerEnv,
          ...extraEnv,
        },
        // Generous: a worker started while the machine is busy (a fault-injection run) loads slowly.
        ready: { line: /worker started/, timeoutMs: 90_000 },
      });
      workers.push(worker);
      processes.push(worker);
      return worker;
    };
    for (let i = 0; i < (options.workers ?? 1); i += 1) await startWorker();
    const scratchArea = { bucket: LOCAL_BUCKETS.scratch, prefix: "_reframe-scratch/" };
    let sns: LocalStack["sns"];
    let snsEnv: Record<string, string> = {};
    if (options.sns) {
      const local = await startLocalSns();
      stoppers.push(() => local.close());
      const directory = await mkdtemp(join(tmpdir(), "reframe-sns-"));
      stoppers.push(() => rm(directory, { recursive: true, force: true }));
      const caFile = join(directory, "sns-ca.pem");
      await writeFile(caFile, local.caPem);
      sns = Object.assign(local, { caFile });
      snsEnv = {
        SNS_TOPIC_ARNS: local.topicArn,
        SNS_CERT_HOST_PATTERN: "^localhost$",
        SNS_ALLOW_HOSTS: "localhost",
        NODE_EXTRA_CA_CERTS: caFile,
      };
    }
    let api: LocalStack["api"];
    if (options.api) {
      const port = await freePort();
      api = {
        url: `http://127.0.0.1:${port}`,
        token: randomBytes(18).toString("base64url"),
        intakeToken: randomBytes(18).toString("base64url"),
      };
      processes.push(
        await startProcess({
          name: "api",
          command: [process.execPath, `${REPO_ROOT}apps/producer/src/api-main.ts`],
          env: {
            ...(await metricsEnv("api")),
            ...redisEnv,
            API_TOKEN: api.token,
            INTAKE_TOKEN: api.intakeToken,
            API_PORT: String(port),
            API_HOST: "127.0.0.1",
            S3_ENDPOINT: s3.endpoint,
            S3_REGION: "us-east-1",
            S3_FORCE_PATH_STYLE: "true",
            S3_ACCESS_KEY_ID: S3_CREDENTIALS.accessKeyId,
            S3_SECRET_ACCESS_KEY: S3_CREDENTIALS.secretAccessKey,
            SCRATCH_BUCKET: scratchArea.bucket,
            SCRATCH_PREFIX: scratchArea.prefix,
            LOG_LEVEL: logLevel,
            ...snsEnv,
            ...options.apiEnv,
          },
          ready: { url: `${api.url}/healthz` },
        }),
      );
    }
    if (sns && api) {
      // The subscription URL carries the intake token as Basic credentials, as SNS keeps it.
      const confirmed = await sns.subscribe(`${api.url}/v1/events/s3`, {
        authorization: basicAuthorization("reframe", api.intakeToken),
      });
      if (confirmed.status !== 200)
        throw new Error(
          `the intake did not confirm the local SNS subscription: ${confirmed.status} ${confirmed.body}`,
        );
    }
    let uploads: UploadWatch | undefined;
    if (options.uploadTriggers === "sns") {
      if (!sns || !api) throw new Error('uploadTriggers: "sns" needs sns: true and api: true');
      uploads = publishUploadsToSns(s3, sns);
    } else if (options.uploadTriggers) {
      const client = stackS3Client(s3.endpoint);
      stoppers.push(async () => client.destroy());
      uploads = await watchEmbeddedUploads(s3, { redis: redisSettings, client, scratch: [scratchArea] });
    }
    if (uploads) stoppers.push(() => uploads.stop());
    return {
      redisEnv,
      redisSettings,
      redisUrl,
      redisTopology: redis,
      s3: { endpoint: s3.endpoint, region: "us-east-1", credentials: S3_CREDENTIALS },
      s3Client: () => stackS3Client(s3.endpoint),
      s3Proxy,
      emulatorUrl,
      apiKey: API_KEY,
      webhooksUrl,
      api,
      uploads,
      sns,
      webhookReceivers,
      workers,
      metricsUrls,
      process: (name) => processes.find((p) => p.name === name),
      workerEnvironment,
      startWorker,
      onNotification: s3.onNotification,
      async restartRedis() {
        if (redis?.kind !== "single")
          throw new Error("this stack did not start a single Redis node; it cannot restart it");
        await redis.server.restart();
      },
      outputs: () => processes.map((p) => `--- ${p.name}\n${p.output()}`).join("\n"),
      async stop() {
        await Promise.allSettled(processes.reverse().map((p) => p.stop("SIGTERM")));
        for (const stop of stoppers.reverse()) await stop().catch(() => undefined);
      },
    };
  } catch (error) {
    await Promise.allSettled(processes.reverse().map((p) => p.kill()));
    for (const stop of stoppers.reverse()) await stop().catch(() => undefined);
    throw error;
  }
}

function stackS3Client(endpoint: string): S3Client {
  return createS3Client({ endpoint, region: "us-east-1", forcePathStyle: true, credentials: S3_CREDENTIALS });
}

/** The embedded S3 in a child process (embedded-s3-main.ts), with the same buckets and keys. */
async function startS3Process(processes: RunningProcess[]): Promise<EmbeddedS3> {
  const port = await freePort();
  const child = await startProcess({
    name: "s3",
    command: [process.execPath, fileURLToPath(new URL("./embedded-s3-main.ts", import.meta.url))],
    env: {
      S3_BUCKETS: Object.values(LOCAL_BUCKETS).join(","),
      S3_ACCESS_KEY_ID: S3_CREDENTIALS.accessKeyId,
      S3_SECRET_ACCESS_KEY: S3_CREDENTIALS.secretAccessKey,
      S3_PORT: String(port),
    },
    ready: { line: /embedded S3 listening/ },
  });
  processes.push(child);
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    close: async () => {
      await child.stop("SIGTERM");
    },
    onNotification() {
      throw new Error("onNotification needs the embedded S3 in this process (s3Process: false)");
    },
  };
}
