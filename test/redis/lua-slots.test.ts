import { createHash } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import {
  createAdmission,
  createBatchStore,
  createBreakerStore,
  createOutpaintQueue,
  createSpendLedger,
  createTaskStore,
  enqueueMany,
  type OutpaintJobInput,
  parseOutpaintJob,
  promoteJob,
} from "@reframe/jobs";
import { createPipelineStore, createUploadBudgets, parsePipelinesFile } from "@reframe/pipelines";
import {
  createRedisClient,
  DEFAULT_QUEUE_PREFIX,
  hashTagOf,
  LeaderLock,
  type RedisClient,
  redisSettingsFromEnv,
  waitForRedisReady,
} from "@reframe/redis";
import { type LocalRedisCluster, startRedisCluster } from "@reframe/testkit";
import { Worker } from "bullmq";
import type { Command } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

/**
 * On a Cluster, a Lua script may touch the keys of one slot only. Every script of reframe is run here
 * through its real caller on a real three-master Cluster, and every script call is recorded (reframe's
 * and BullMQ's): the keys each call passes, and any argument a script builds keys from, must carry the
 * hash tag of the braced prefix. Redis 7.0 itself refuses only keys of another node, so a key of
 * another slot on the same node would pass unnoticed without this check.
 */

const REPO = fileURLToPath(new URL("../../", import.meta.url));
const TAG = hashTagOf(DEFAULT_QUEUE_PREFIX);

interface LuaFile {
  path: string;
  sha: string;
  source: string;
  /** KEYS the header declares: a fixed count, or at least `min` ("KEYS[2..n+1]"). */
  keys: { min: number; fixed: boolean };
  /** ARGV positions (1-based) the script builds key names from. */
  keyArgs: number[];
}

interface ScriptCall {
  sha: string;
  keys: string[];
  args: string[];
}

async function reframeScripts(): Promise<LuaFile[]> {
  const files: LuaFile[] = [];
  for (const area of ["apps", "packages"]) {
    for (const unit of await readdir(`${REPO}${area}`)) {
      const folder = `${REPO}${area}/${unit}/src/lua`;
      const names = await readdir(folder).catch(() => [] as string[]);
      for (const name of names.filter((file) => file.endsWith(".lua"))) {
        const source = await readFile(`${folder}/${name}`, "utf8");
        files.push({
          path: `${area}/${unit}/src/lua/${name}`,
          source,
          sha: createHash("sha1").update(source).digest("hex"),
          keys: declaredKeys(source),
          keyArgs: keyBuildingArgs(source),
        });
      }
    }
  }
  return files;
}

/** The header's "KEYS[n]" lines; "KEYS[2..n+1]" declares a variable number from 2 on. */
function declaredKeys(source: string): LuaFile["keys"] {
  const header = source.slice(0, source.indexOf("]]"));
  const ranges = [...header.matchAll(/^\s*KEYS\[(\d+)\.\.[^\]]+\]/gm)].map((m) => Number(m[1]));
  const singles = [...header.matchAll(/^\s*KEYS\[(\d+)\]/gm)].map((m) => Number(m[1]));
  if (ranges.length > 0) return { min: Math.max(...ranges), fixed: false };
  return { min: Math.max(0, ...singles), fixed: true };
}

/** `redis.call("CMD", ARGV[n] .. x)`: a key built from an argument (a prefix). */
function keyBuildingArgs(source: string): number[] {
  const body = source.slice(source.indexOf("]]") + 2);
  const calls = [...body.matchAll(/redis\.call\(\s*"[A-Z]+"\s*,\s*([^,)]+)/g)].map((m) => m[1]!.trim());
  const built = calls.filter((first) => !/^KEYS\[\d+\]$/.test(first) && !/^KEYS\[i\]$/.test(first));
  return built.map((first) => {
    const fromArg = /^ARGV\[(\d+)\]\s*\.\./.exec(first);
    if (!fromArg) throw new Error(`a key built from neither KEYS nor an ARGV prefix: ${first}`);
    return Number(fromArg[1]);
  });
}

/** Wraps the client's sendCommand to record every EVAL and EVALSHA with its keys and arguments. */
function recordScripts(client: RedisClient): ScriptCall[] {
  const calls: ScriptCall[] = [];
  const send = client.sendCommand.bind(client) as (command: Command, ...rest: unknown[]) => unknown;
  (client as { sendCommand: unknown }).sendCommand = (command: Command, ...rest: unknown[]) => {
    if (command.name === "evalsha" || command.name === "eval") {
      const args = command.args.map(String);
      const keyCount = Number(args[1]);
      const body = args[0]!;
      calls.push({
        sha: command.name === "eval" ? createHash("sha1").update(body).digest("hex") : body,
        keys: args.slice(2, 2 + keyCount),
        args: args.slice(2 + keyCount),
      });
    }
    return send(command, ...rest);
  };
  return calls;
}

const JOB: OutpaintJobInput = {
  source: { kind: "s3", bucket: "sources", key: "a.jpg" },
  target: { kind: "ratio", ratio: "16:9", anchor: "center" },
  output: { bucket: "outputs" },
  labels: { batchId: "b-1" },
} as OutpaintJobInput;

describe("every Lua script on a real Redis Cluster", () => {
  let cluster: LocalRedisCluster;
  let client: RedisClient;
  let calls: ScriptCall[];
  beforeAll(async () => {
    cluster = await startRedisCluster();
    client = createRedisClient(redisSettingsFromEnv(cluster.env), { role: "worker" });
    await waitForRedisReady(client);
    calls = recordScripts(client);
  });
  afterAll(async () => {
    client?.disconnect();
    await cluster?.stop();
  });

  it("touches the keys of one slot: the braced prefix's, as each script's callers pass them", async () => {
    const prefix = DEFAULT_QUEUE_PREFIX;
    const queue = createOutpaintQueue({ connection: client, prefix });
    const batches = createBatchStore(client, { prefix });
    const tasks = createTaskStore(client, { prefix });
    const lock = new LeaderLock(client, `${prefix}:reconciler:lock`, 10_000);
    const worker = new Worker(queue.name, async () => "done", { connection: client, prefix, autorun: false });
    try {
      // Producer side: a batch, an idempotent enqueue (job-states, batch-add), sealing.
      await batches.open("b-1", { kind: "bulk", createdAt: Date.now() });
      const { jobIds } = await enqueueMany(queue, [JOB], { batch: { store: batches, batchId: "b-1" } });
      await enqueueMany(queue, [JOB], { batch: { store: batches, batchId: "b-1" } });
      await batches.seal("b-1");
      // Windowed admission: a stream registered, admitted (the position moved), the batch sealed.
      const admission = createAdmission(client, { queue, store: batches, prefix });
      await batches.open("b-2", { kind: "bulk", createdAt: Date.now() });
      const stream = admission.writeStream("b-2", { window: 10 });
      await stream.write([parseOutpaintJob({ ...JOB, labels: { batchId: "b-2" } })]);
      await stream.commit();
      expect(await admission.admit("b-2")).toMatchObject({ admitted: 1 });
      expect(await admission.admit("b-2")).toMatchObject({ finished: true });
      const jobId = jobIds[0]!;
      // Worker side: the task store, the reconciler's lock, a park and a promote, the job's end.
      const taskUUID = "0b6c8a8e-2f0e-5c8e-9d3a-5a1f0c2e7b11";
      await tasks.registerTasks([
        { taskUUID, jobId, deadline: Date.now() + 60_000, nextCheckAt: Date.now() },
      ]);
      await tasks.storeOutcome(taskUUID, {
        kind: "resubmit",
        code: "taskNotFound",
        receivedAt: 1,
        via: "poll",
      });
      await tasks.storeOutcome(taskUUID, {
        kind: "success",
        result: { imageUUID: "i" },
        receivedAt: 2,
        via: "webhook",
      });
      expect(await lock.acquireOrRenew()).toBe(true);
      await lock.release();
      const parked = (await worker.getNextJob("token-1"))!;
      await parked.moveToDelayed(Date.now() + 60_000, "token-1");
      expect(await promoteJob(queue, jobId)).toBe("promoted");
      const woken = (await worker.getNextJob("token-2"))!;
      await woken.moveToCompleted("done", "token-2", false);
      await batches.recordEnd("b-1", jobId, {
        state: "completed",
        source: "s3://sources/a.jpg",
        target: "16x9",
        costUsd: 0.1,
        durationMs: 10,
        endedAt: Date.now(),
      });
      // `reframe batch retry` takes failures back (a completed job is left as it is).
      expect(await batches.takeBackFailures("b-1", [jobId])).toBe(0);
      await tasks.forget([taskUUID]);
      // Money: the workers' daily spend and a pipeline's upload budget; the applied pipelines.
      const now = Date.now();
      await createSpendLedger(client, { prefix }).reserve([{ id: taskUUID, costUsd: 0.1 }], 50, now);
      await createUploadBudgets(client, { prefix }).reserve(
        "uploads",
        { perDayUsd: 1, perHourUsd: 0.5 },
        [{ jobId, costUsd: 0.1, source: "s3://sources/a.jpg", target: "16x9" }],
        now,
      );
      const file = parsePipelinesFile(`
pipelines:
  uploads:
    targets: ["16:9"]
    output: { bucket: outputs, prefix: out/ }
    triggers: [{ bucket: sources, prefix: drop/ }]
`);
      await createPipelineStore(client, { prefix }).put("uploads", file.pipelines.uploads!, now);
      // The provider breaker shared by the workers: failures, the probe's lease, a failed probe, an answer.
      const breaker = createBreakerStore(client, "provider", "api.runware.ai", undefined, { prefix });
      for (let i = 0; i < 5; i += 1) await breaker.recordFailure(now);
      expect(await breaker.acquireProbe(now + 60_000)).toBe(true);
      await breaker.recordProbeFailure(now + 60_000);
      await breaker.recordSuccess(now + 61_000);
    } finally {
      await worker.close();
      await queue.close();
    }

    const scripts = await reframeScripts();
    expect(scripts.length, "Lua files found").toBeGreaterThanOrEqual(8);
    for (const script of scripts) {
      const ofScript = calls.filter((call) => call.sha === script.sha);
      expect(ofScript.length, `${script.path} was run by its caller`).toBeGreaterThan(0);
      for (const call of ofScript) {
        if (script.keys.fixed)
          expect(call.keys, `${script.path}: the KEYS it declares`).toHaveLength(script.keys.min);
        else
          expect(call.keys.length, `${script.path}: the KEYS it declares`).toBeGreaterThanOrEqual(
            script.keys.min,
          );
        for (const position of script.keyArgs) {
          expect(hashTagOf(call.args[position - 1]!), `${script.path}: ARGV[${position}] builds keys`).toBe(
            TAG,
          );
        }
      }
    }
    // Every script call, BullMQ's included: its keys, and any argument naming a key, carry the tag.
    expect(calls.length).toBeGreaterThan(scripts.length);
    for (const call of calls) {
      for (const key of call.keys) expect(hashTagOf(key), key).toBe(TAG);
      // A key or key prefix among the arguments starts with a hash tag ("{x}:…"); JSON does not.
      for (const arg of call.args.filter((value) => /^\{[^{}"\s]+\}/.test(value))) {
        expect(hashTagOf(arg), arg).toBe(TAG);
      }
    }
  });
});
