import { PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { createOutpaintQueue, type OutpaintJobInput } from "@reframe/jobs";
import { LOCAL_BUCKETS, type LocalStack } from "@reframe/local-stack";
import { createRedisClient, type RedisClient } from "@reframe/redis";
import { Queue } from "bullmq";
import sharp from "sharp";

/** Clients a test needs against a running local stack. */
export interface StackClients {
  s3: S3Client;
  connection: RedisClient;
  /** The stack's key prefix (QUEUE_PREFIX). */
  prefix: string;
  queue: Queue;
  routeQueue(name: string): Queue;
  close(): Promise<void>;
}

export function stackClients(stack: LocalStack): StackClients {
  const s3 = stack.s3Client();
  const connection = createRedisClient(stack.redisSettings, { role: "worker" });
  const { prefix } = stack.redisSettings;
  const queue = createOutpaintQueue({ connection, prefix });
  const routes = new Map<string, Queue>();
  return {
    s3,
    connection,
    prefix,
    queue,
    routeQueue(name) {
      let route = routes.get(name);
      if (!route) {
        route = new Queue(name, { connection, prefix });
        routes.set(name, route);
      }
      return route;
    },
    async close() {
      await Promise.all([queue.close(), ...[...routes.values()].map((q) => q.close())]);
      connection.disconnect();
      s3.destroy();
    },
  };
}

/** A small gradient image: cheap for the emulator, with edges worth continuing. */
export async function uploadSource(s3: S3Client, key: string, width = 96, height = 64): Promise<void> {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}"><defs><linearGradient id="g"><stop offset="0" stop-color="#3a7"/><stop offset="1" stop-color="#fc4"/></linearGradient></defs><rect width="100%" height="100%" fill="url(#g)"/><circle cx="${width / 2}" cy="${height / 2}" r="${height / 4}" fill="#235"/></svg>`;
  const bytes = await sharp(Buffer.from(svg)).jpeg().toBuffer();
  await s3.send(
    new PutObjectCommand({ Bucket: LOCAL_BUCKETS.sources, Key: key, Body: bytes, ContentType: "image/jpeg" }),
  );
}

export function job(key: string, ratio: string, route: string[] = ["done"]): OutpaintJobInput {
  return {
    source: { kind: "s3", bucket: LOCAL_BUCKETS.sources, key },
    target: { kind: "ratio", ratio, anchor: "center" },
    output: { bucket: LOCAL_BUCKETS.outputs, prefix: "out/", format: "PNG" },
    route,
  } as OutpaintJobInput;
}

export async function jobStates(queue: Queue, jobIds: string[]): Promise<Record<string, number>> {
  const states: Record<string, number> = {};
  for (const jobId of jobIds) {
    const found = await queue.getJob(jobId);
    const state = found ? await found.getState() : "missing";
    states[state] = (states[state] ?? 0) + 1;
  }
  return states;
}

export interface EmulatorCounters {
  totals: Record<string, number>;
  tasks: Record<string, Record<string, number>>;
}

export async function emulatorCounters(stack: LocalStack): Promise<EmulatorCounters> {
  const response = await fetch(`${stack.emulatorUrl}/admin/counters`);
  return (await response.json()) as EmulatorCounters;
}

export async function setEmulatorFaults(stack: LocalStack, faults: Record<string, number>): Promise<void> {
  const response = await fetch(`${stack.emulatorUrl}/admin/faults`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(faults),
  });
  if (!response.ok) throw new Error(`setting faults answered ${response.status}: ${await response.text()}`);
}

/** The tasks the provider (the emulator) has received so far: its count of submitted tasks. */
export async function providerSubmits(emulatorUrl: string): Promise<number> {
  const response = await fetch(`${emulatorUrl}/admin/counters`);
  return ((await response.json()) as { totals: { submits: number } }).totals.submits;
}
