import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { enqueueMany, type OutpaintJobInput, parseOutpaintJobData, taskStoreKeys } from "@reframe/jobs";
import { LOCAL_BUCKETS, type LocalStack, startLocalStack } from "@reframe/local-stack";
import { createRunwareClient, type ImageInferenceResult, type RunwareClient } from "@reframe/runware";
import { type LocalSns, startLocalSns } from "@reframe/testkit";
import type { Job } from "bullmq";
import sharp from "sharp";
import { vi } from "vitest";
import {
  type StackClients,
  setEmulatorFaults,
  stackClients,
  uploadSource,
} from "../outpaint-flow/stack-fixture.ts";

/**
 * One local stack for the whole security suite, every part a real process at debug log level:
 * Redis, the embedded S3, the emulator, the webhook receiver (small body limit and timeout), a
 * worker that may reach 127.0.0.1 for URL sources (and nothing else private), the HTTP API with the
 * S3 event intake, and a
 * local HTTP server that plays the web for URL sources. The checks share it, so the last check can
 * read every log line every other check caused.
 */

export const WEBHOOKS_BODY_LIMIT_BYTES = 4096;
export const WEBHOOKS_BODY_TIMEOUT_MS = 1000;

export interface SecurityStack {
  stack: LocalStack;
  clients: StackClients;
  provider: RunwareClient;
  webhookSecret: string;
  /** The HTTP API process, with the S3 event intake and its own token. */
  api: { url: string; token: string; intakeToken: string };
  web: SourceWeb;
  /** A local SNS whose certificate host (localhost) and topic the API allows (SNS_*). */
  sns: LocalSns;
  /** Values no log line may hold, beyond the stack's own secrets: tokens and signatures checks made. */
  neverLogged: Set<string>;
  /** Every process's captured output. */
  outputs(): string;
  stop(): Promise<void>;
}

export async function startSecurityStack(): Promise<SecurityStack> {
  const stoppers: (() => Promise<unknown>)[] = [];
  try {
    const web = await startSourceWeb();
    stoppers.push(() => web.close());
    const sns = await startLocalSns();
    stoppers.push(() => sns.close());
    const directory = await mkdtemp(join(tmpdir(), "reframe-security-"));
    stoppers.push(() => rm(directory, { recursive: true, force: true }));
    const caFile = join(directory, "sns-ca.pem");
    await writeFile(caFile, sns.caPem);
    const stack = await startLocalStack({
      workers: 1,
      webhooks: true,
      logLevel: "debug",
      api: true,
      apiEnv: {
        SNS_TOPIC_ARNS: sns.topicArn,
        SNS_CERT_HOST_PATTERN: "^localhost$",
        SNS_ALLOW_HOSTS: "localhost",
        NODE_EXTRA_CA_CERTS: caFile,
      },
      emulatorEnv: { EMULATOR_LATENCY_MS: "50-150" },
      webhooksEnv: {
        WEBHOOKS_BODY_LIMIT_BYTES: String(WEBHOOKS_BODY_LIMIT_BYTES),
        WEBHOOKS_BODY_TIMEOUT_MS: String(WEBHOOKS_BODY_TIMEOUT_MS),
      },
      // A parked job stays parked until a check delivers its webhook: no reconciler poll, no
      // wake-up of its own within the suite's time.
      workerEnv: { SOURCE_URL_ALLOW_HOSTS: "127.0.0.1", POLL_FIRST_MS: "600000", JOB_RECHECK_MS: "600000" },
    });
    stoppers.push(() => stack.stop());
    const clients = stackClients(stack);
    stoppers.push(() => clients.close());
    const provider = createRunwareClient({ baseUrl: `${stack.emulatorUrl}/v1`, apiKey: stack.apiKey });
    stoppers.push(() => provider.close());
    return {
      stack,
      clients,
      provider,
      webhookSecret: stack.workerEnvironment.WEBHOOK_SECRET!,
      api: stack.api!,
      web,
      sns,
      neverLogged: new Set(),
      outputs: () => stack.outputs(),
      async stop() {
        for (const stop of stoppers.reverse()) await stop().catch(() => undefined);
      },
    };
  } catch (error) {
    for (const stop of stoppers.reverse()) await stop().catch(() => undefined);
    throw error;
  }
}

/** The web as URL sources see it: an image, redirects anywhere, and a log of what was asked. */
interface SourceWeb {
  port: number;
  /** "host path" of every request received. */
  seen: string[];
  imageUrl(host?: string): string;
  redirectUrl(target: string, host?: string): string;
  close(): Promise<void>;
}

async function startSourceWeb(): Promise<SourceWeb> {
  const image = await sharp({ create: { width: 96, height: 64, channels: 3, background: "#3a7" } })
    .jpeg()
    .toBuffer();
  const seen: string[] = [];
  const server: Server = createServer((request, response) => {
    seen.push(`${request.headers.host} ${request.url}`);
    const redirect = /^\/redirect\?to=(.+)$/.exec(request.url ?? "");
    if (redirect) response.writeHead(302, { location: decodeURIComponent(redirect[1]!) }).end();
    else response.writeHead(200, { "content-type": "image/jpeg" }).end(image);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  let served = 0;
  return {
    port,
    seen,
    imageUrl(host = "127.0.0.1") {
      served += 1;
      return `http://${host}:${port}/image-${served}.jpg`;
    },
    redirectUrl: (target, host = "127.0.0.1") =>
      `http://${host}:${port}/redirect?to=${encodeURIComponent(target)}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export function outpaintJob(source: OutpaintJobInput["source"], route: string): OutpaintJobInput {
  return {
    source,
    target: { kind: "ratio", ratio: "16:9", anchor: "center" },
    output: { bucket: LOCAL_BUCKETS.outputs, prefix: "security/", format: "PNG" },
    route: [route],
  } as OutpaintJobInput;
}

export async function jobState(s: SecurityStack, jobId: string): Promise<string> {
  const job = await s.clients.queue.getJob(jobId);
  return job ? await job.getState() : "missing";
}

/** The raw outcome the task store holds for a task (null: none). */
export function storedOutcome(s: SecurityStack, taskUUID: string): Promise<string | null> {
  return s.clients.connection.hget(taskStoreKeys(s.clients.prefix).task(taskUUID), "outcome");
}

export interface ParkedTask {
  jobId: string;
  taskUUID: string;
  /** What the provider would have delivered: its result for the task, read by getResponse. */
  result: ImageInferenceResult;
}

/**
 * Jobs whose task finished on the provider but whose webhook never came (the emulator drops every
 * webhook meanwhile): parked, registered, waiting for a delivery that a check then makes.
 */
export async function parkedTasks(s: SecurityStack, name: string, count: number): Promise<ParkedTask[]> {
  const keys = Array.from({ length: count }, (_, i) => `security/${name}-${i}.jpg`);
  for (const key of keys) await uploadSource(s.clients.s3, key);
  await setEmulatorFaults(s.stack, { webhookDropRate: 1 });
  try {
    const inputs = keys.map((key) =>
      outpaintJob({ kind: "s3", bucket: LOCAL_BUCKETS.sources, key }, `done-${name}`),
    );
    const { jobIds } = await enqueueMany(s.clients.queue, inputs);
    const parked: ParkedTask[] = [];
    for (const jobId of jobIds) {
      // vi.waitFor, not expect.poll: this runs in a hook.
      const taskUUID = await vi.waitFor(
        async () => {
          const found = await confirmedTask(s, jobId);
          if (!found) throw new Error(`job ${jobId} is not parked with a confirmed task yet`);
          return found;
        },
        { timeout: 30_000, interval: 50 },
      );
      const result = await vi.waitFor(
        async () => {
          const outcome = (await s.provider.getResponses([taskUUID])).get(taskUUID);
          if (outcome?.kind !== "completed" || !outcome.results[0])
            throw new Error(`task ${taskUUID} has not finished on the provider yet`);
          return outcome.results[0];
        },
        { timeout: 30_000, interval: 100 },
      );
      parked.push({ jobId, taskUUID, result });
    }
    return parked;
  } finally {
    await setEmulatorFaults(s.stack, { webhookDropRate: 0 });
  }
}

async function confirmedTask(s: SecurityStack, jobId: string): Promise<string | undefined> {
  const job: Job | undefined = await s.clients.queue.getJob(jobId);
  if (!job || (await job.getState()) !== "delayed") return undefined;
  const { state } = parseOutpaintJobData(job.data);
  const [task] = state?.step === "await" ? state.tasks : [];
  return task?.confirmed ? task.taskUUID : undefined;
}
