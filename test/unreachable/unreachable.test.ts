import { execFile } from "node:child_process";
import { createServer, type Server } from "node:http";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { type EmbeddedS3, startEmbeddedS3 } from "@reframe/embedded-s3";
import { createOutpaintQueue, enqueueMany } from "@reframe/jobs";
import { createRedisClient } from "@reframe/redis";
import { createS3Client } from "@reframe/storage";
import { freePort, type LocalRedis, startProcess, startRedisServer, startTcpProxy } from "@reframe/testkit";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { reframe } from "../reframe-cli.ts";

/**
 * Redis, S3 and the provider not answering, as an operator meets it: each process and the CLI say
 * `cannot reach <service> at <where> (<why>)` in one line, never a stack trace, and stop within
 * seconds (non-zero), but for a worker and S3: it starts, not ready, and waits for S3. A worker that
 * loses Redis once running waits it out, one line per attempt.
 */

const run = promisify(execFile);
const app = (path: string) => fileURLToPath(new URL(`../../apps/${path}`, import.meta.url));
const S3_KEYS = { S3_ACCESS_KEY_ID: "unreach-key", S3_SECRET_ACCESS_KEY: "unreach-secret" };
/** A process's start, bounded: a start that hangs instead of stopping fails the test. */
const START_BOUND_MS = 90_000;
/**
 * How long a stop may take here, Node's start-up on a loaded 2-core machine included; the wait for
 * Redis itself (about 2 s) is pinned in packages/jobs/src/redis-reachability.test.ts.
 */
const STOPPED_WITHIN_MS = 60_000;

interface Exit {
  code: number;
  output: string;
  ms: number;
}

async function runToExit(entry: string, env: Record<string, string>): Promise<Exit> {
  const started = Date.now();
  try {
    const { stdout, stderr } = await run(process.execPath, [entry], {
      env: { PATH: process.env.PATH, ...env },
      timeout: START_BOUND_MS,
    });
    return { code: 0, output: stdout + stderr, ms: Date.now() - started };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, output: failed.stdout + failed.stderr, ms: Date.now() - started };
  }
}

/** The JSON log lines of a process's output. */
const logLines = (output: string) =>
  output
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as { level: number; msg: string; [field: string]: unknown });

function expectOneFatalLine(exit: Exit, message: string): void {
  expect(exit.code).toBe(1);
  const lines = logLines(exit.output);
  expect(lines.map((line) => line.msg)).toEqual([message]);
  expect(lines[0]!.level).toBe(60);
  expect(exit.output).not.toMatch(/\n\s+at /);
  expect(exit.output).not.toContain('"stack"');
}

/** A port nothing listens on. */
const closedUrl = async (scheme: string, path = "") => `${scheme}://127.0.0.1:${await freePort()}${path}`;

describe("services that do not answer", () => {
  let redis: LocalRedis;
  let s3: EmbeddedS3;
  let provider: Server;
  let providerUrl: string;
  beforeAll(async () => {
    redis = await startRedisServer();
    s3 = await startEmbeddedS3({
      buckets: ["unreach-sources", "unreach-outputs"],
      accessKeyId: S3_KEYS.S3_ACCESS_KEY_ID,
      secretAccessKey: S3_KEYS.S3_SECRET_ACCESS_KEY,
    });
    // Something that answers HTTP where the provider is expected: reachable is all a start checks.
    provider = createServer((_request, response) => response.writeHead(404).end());
    await new Promise<void>((resolve) => provider.listen(0, "127.0.0.1", resolve));
    providerUrl = `http://127.0.0.1:${(provider.address() as { port: number }).port}/v1`;
  });
  afterAll(async () => {
    await new Promise((resolve) => provider?.close(resolve));
    await s3?.close();
    await redis?.stop();
  });

  const workerEnv = (overrides: Record<string, string> = {}) => ({
    REDIS_URL: redis.url,
    RUNWARE_API_URL: providerUrl,
    RUNWARE_API_KEY: "unreach-provider-key",
    S3_ENDPOINT: s3.endpoint,
    S3_FORCE_PATH_STYLE: "true",
    ...S3_KEYS,
    WORKER_WATCHDOG_MS: "0",
    ...overrides,
  });

  describe("the CLI", () => {
    it(
      "Redis: one line and exit code 4 within seconds, without the URL's password",
      async () => {
        const port = await freePort();
        const shown = `redis://127.0.0.1:${port}`;
        // queue counts opens the queue alone; batch list with S3 as well (bulk and batch commands).
        for (const args of [
          ["queue", "counts"],
          ["batch", "list"],
        ]) {
          const started = Date.now();
          const result = await reframe(args, {
            REDIS_URL: `redis://:s3cretpassw0rd@127.0.0.1:${port}`,
            ...S3_KEYS,
          });
          expect({ args, code: result.code, stderr: result.stderr, stdout: result.stdout }).toEqual({
            args,
            code: 4,
            stderr: `reframe: cannot reach Redis at ${shown} (connection refused)\n`,
            stdout: "",
          });
          expect(Date.now() - started).toBeLessThan(STOPPED_WITHIN_MS);
        }
      },
      2 * START_BOUND_MS,
    );

    it(
      "S3: bulk says which endpoint does not answer, one line, exit code 4",
      async () => {
        const endpoint = await closedUrl("http");
        const result = await reframe(
          [
            "bulk",
            "--source",
            "s3://unreach-sources/library/",
            "--target",
            "1:1",
            "--bucket",
            "unreach-outputs",
            "--dry-run",
          ],
          { REDIS_URL: redis.url, S3_ENDPOINT: endpoint, S3_FORCE_PATH_STYLE: "true", ...S3_KEYS },
        );
        expect(result.code).toBe(4);
        expect(result.stderr.trim().split("\n").at(-1)).toBe(
          `reframe: cannot reach S3 at ${endpoint} (connection refused)`,
        );
        expect(result.stderr).not.toMatch(/\n\s+at /);
      },
      START_BOUND_MS,
    );
  });

  describe("a process's start", () => {
    it(
      "the worker, the webhook receiver and the API without Redis: one fatal line, exit 1",
      async () => {
        const url = await closedUrl("redis");
        const message = (name: string) =>
          `${name} could not start: cannot reach Redis at ${url} (connection refused)`;
        const worker = await runToExit(app("worker/src/main.ts"), workerEnv({ REDIS_URL: url }));
        expectOneFatalLine(worker, message("worker"));
        const webhooks = await runToExit(app("webhooks/src/main.ts"), {
          REDIS_URL: url,
          WEBHOOK_SECRET: "unreach-webhook-secret-0123",
          WEBHOOKS_PORT: String(await freePort()),
        });
        expectOneFatalLine(webhooks, message("webhooks receiver"));
        const api = await runToExit(app("producer/src/api-main.ts"), {
          REDIS_URL: url,
          API_TOKEN: "unreach-api-token-0123",
          API_PORT: String(await freePort()),
        });
        expectOneFatalLine(api, message("api"));
        for (const exit of [worker, webhooks, api]) expect(exit.ms).toBeLessThan(STOPPED_WITHIN_MS);
      },
      4 * START_BOUND_MS,
    );

    it(
      "the worker without the provider: one fatal line naming it, exit 1",
      async () => {
        const providerDown = await closedUrl("http", "/v1");
        const noProvider = await runToExit(
          app("worker/src/main.ts"),
          workerEnv({ RUNWARE_API_URL: providerDown }),
        );
        expectOneFatalLine(
          noProvider!,
          `worker could not start: cannot reach the provider at ${providerDown} (connection refused)`,
        );
      },
      2 * START_BOUND_MS,
    );

    it(
      "the demo with a REDIS_URL that does not answer: one line, exit 1",
      async () => {
        const url = await closedUrl("redis");
        const demo = await runToExit(app("demo/src/main.ts"), { REDIS_URL: url });
        expect(demo.code).toBe(1);
        expect(demo.output).toContain(`demo: cannot reach Redis at ${url} (connection refused)\n`);
        expect(demo.output).not.toMatch(/\n\s+at /);
      },
      2 * START_BOUND_MS,
    );
  });

  it(
    "a worker started while S3 is out runs, not ready, one line per check, and takes jobs once S3 answers",
    async () => {
      const proxy = await startTcpProxy({ targetPort: s3.port });
      await proxy.cut();
      const endpoint = `http://127.0.0.1:${proxy.port}`;
      const metricsPort = await freePort();
      const health = async () => {
        const response = await fetch(`http://127.0.0.1:${metricsPort}/healthz`);
        return { status: response.status, body: (await response.json()) as { ok: boolean; reason?: string } };
      };
      const connection = createRedisClient(redis.url, { role: "producer" });
      const queue = createOutpaintQueue({ connection, prefix: "{unreach-s3}" });
      const worker = await startProcess({
        name: "worker",
        command: [process.execPath, app("worker/src/main.ts")],
        env: workerEnv({
          S3_ENDPOINT: endpoint,
          QUEUE_PREFIX: "{unreach-s3}",
          METRICS_PORT: String(metricsPort),
          RECONCILER: "false",
          PIPELINE_RUNS: "false",
        }),
        ready: { line: /the worker takes no jobs until S3 answers/ },
      });
      try {
        const message = `cannot reach S3 at ${endpoint} (connection refused)`;
        expect(await health()).toEqual({
          status: 503,
          body: { ok: false, reason: `S3 unreachable: ${message}` },
        });
        // A job enqueued meanwhile is not taken.
        const { jobIds } = await enqueueMany(queue, [
          {
            source: { kind: "s3", bucket: "unreach-sources", key: "absent.jpg" },
            target: { kind: "ratio", ratio: "16:9" },
            output: { bucket: "unreach-outputs" },
          },
        ]);
        await expect
          .poll(() => logLines(worker.output()).filter((line) => line.msg.startsWith(message)).length, {
            timeout: 30_000,
          })
          .toBeGreaterThanOrEqual(2);
        expect(await queue.getJob(jobIds[0]!).then((job) => job?.getState())).toBe("waiting");
        const lines = logLines(worker.output());
        // One line per check, the waits growing as the breaker's probes do; no stack, no fatal.
        expect(
          lines
            .filter((line) => line.msg.startsWith(message))
            .map((line) => line.nextCheckInMs)
            .slice(0, 2),
        ).toEqual([2000, 4000]);
        expect(lines.every((line) => line.level < 60)).toBe(true);
        expect(worker.output()).not.toContain('"stack"');
        expect(worker.output()).not.toMatch(/\n\s+at /);

        await proxy.restore();
        await expect.poll(() => worker.output(), { timeout: 30_000 }).toMatch(/worker started/);
        expect(await health()).toEqual({ status: 200, body: { ok: true } });
        // The job is taken: its source is missing, an answer of S3's, so it fails for that.
        await expect
          .poll(() => queue.getJob(jobIds[0]!).then((job) => job?.getState()), { timeout: 30_000 })
          .toBe("failed");
        expect((await queue.getJob(jobIds[0]!))?.failedReason).toMatch(/^sourceNotFound: /);
      } finally {
        expect(await worker.stop()).toBe(0);
        await queue.close();
        connection.disconnect();
        await proxy.close();
      }
    },
    3 * START_BOUND_MS,
  );

  it(
    "a running worker waits Redis out, one line per attempt with growing waits, then the provider",
    async () => {
      const worker = await startProcess({
        name: "worker",
        command: [process.execPath, app("worker/src/main.ts")],
        env: workerEnv({ RECONCILER: "false", PIPELINE_RUNS: "false" }),
        ready: { line: /worker started/ },
      });
      try {
        const since = worker.output().length;
        const linesSince = () => logLines(worker.output().slice(since));
        await redis.stop({ keepDirectory: true });
        await expect
          .poll(() => linesSince().filter((line) => line.msg.startsWith("cannot reach Redis")).length, {
            timeout: 20_000,
          })
          .toBeGreaterThanOrEqual(4);
        const down = linesSince();
        // Nothing but the attempts: no "worker error" per BullMQ connection, no stack.
        expect(down.every((line) => line.msg.startsWith("cannot reach Redis at"))).toBe(true);
        expect(worker.output().slice(since)).not.toContain('"stack"');
        expect(worker.output().slice(since)).not.toMatch(/^Error: /m);
        const waits = down.map((line) => line.retryInMs as number);
        expect(waits.slice(0, 4)).toEqual([100, 200, 400, 800]);
        await redis.restart();
        await expect
          .poll(() => linesSince().some((line) => /^Redis at redis:\/\/\S+ answers again$/.test(line.msg)), {
            timeout: 20_000,
          })
          .toBe(true);

        // The provider goes away: a job's submit is one line, and the job stays to be sent again.
        await new Promise((resolve) => provider.close(resolve));
        const client = createS3Client({
          endpoint: s3.endpoint,
          region: "us-east-1",
          forcePathStyle: true,
          credentials: {
            accessKeyId: S3_KEYS.S3_ACCESS_KEY_ID,
            secretAccessKey: S3_KEYS.S3_SECRET_ACCESS_KEY,
          },
        });
        const connection = createRedisClient(redis.url, { role: "producer" });
        const queue = createOutpaintQueue({ connection });
        try {
          const image = await sharp({ create: { width: 256, height: 192, channels: 3, background: "#468" } })
            .jpeg()
            .toBuffer();
          await client.send(new PutObjectCommand({ Bucket: "unreach-sources", Key: "a.jpg", Body: image }));
          await enqueueMany(queue, [
            {
              source: { kind: "s3", bucket: "unreach-sources", key: "a.jpg" },
              target: { kind: "ratio", ratio: "16:9" },
              output: { bucket: "unreach-outputs" },
            },
          ]);
          await expect
            .poll(() => worker.output().slice(since), { timeout: 20_000 })
            .toContain(
              `cannot reach the provider at ${providerUrl} (connection refused); the jobs send their tasks again later`,
            );
          expect(worker.output().slice(since)).not.toContain('"stack"');
          expect(worker.output().slice(since)).not.toMatch(/^Error: /m);
        } finally {
          await queue.close();
          connection.disconnect();
          client.destroy();
        }
      } finally {
        expect(await worker.stop()).toBe(0);
      }
    },
    3 * START_BOUND_MS,
  );
});
