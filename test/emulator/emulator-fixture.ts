import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { freePort, type RunningProcess, startProcess } from "@reframe/testkit";
import sharp from "sharp";

export const API_KEY = "emulator-test-key";
const ENTRY = fileURLToPath(new URL("../../apps/emulator/src/main.ts", import.meta.url));

export interface RunningEmulator {
  url: string;
  process: RunningProcess;
  post(
    body: unknown,
    apiKey?: string | null,
  ): Promise<{ status: number; headers: Headers; json: EnvelopeReply }>;
  faults(rates: Record<string, number>): Promise<void>;
  counters(): Promise<{
    totals: Record<string, number>;
    tasks: Record<string, Record<string, number>>;
    injected?: Record<string, number>;
    outage?: Record<string, number | boolean>;
  }>;
  stop(): Promise<void>;
}

interface EnvelopeReply {
  data?: Record<string, unknown>[];
  errors?: { code: string; message: string; parameter?: string | string[]; taskUUID?: string }[];
}

/** The emulator as users run it: its own process, spoken to over HTTP. */
export async function startEmulator(env: Record<string, string> = {}): Promise<RunningEmulator> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const process_ = await startProcess({
    name: "emulator",
    command: [process.execPath, ENTRY],
    env: {
      EMULATOR_PORT: String(port),
      EMULATOR_API_KEYS: API_KEY,
      EMULATOR_LATENCY_MS: "0-30",
      LOG_LEVEL: "warn",
      ...env,
    },
    ready: { url: `${url}/healthz` },
  });
  return {
    url,
    process: process_,
    async post(body, apiKey = API_KEY) {
      const headers: Record<string, string> = { "content-type": "application/json" };
      if (apiKey !== null) headers.authorization = `Bearer ${apiKey}`;
      const response = await fetch(`${url}/v1`, {
        method: "POST",
        headers,
        body: typeof body === "string" ? body : JSON.stringify(body),
      });
      return {
        status: response.status,
        headers: response.headers,
        json: (await response.json()) as EnvelopeReply,
      };
    },
    async faults(rates) {
      const response = await fetch(`${url}/admin/faults`, { method: "POST", body: JSON.stringify(rates) });
      if (!response.ok) throw new Error(`faults: ${response.status}`);
    },
    async counters() {
      return (await (await fetch(`${url}/admin/counters`)).json()) as Awaited<
        ReturnType<RunningEmulator["counters"]>
      >;
    },
    async stop() {
      await process_.stop();
    },
  };
}

export const grayPng = (width = 96, height = 64) =>
  sharp({ create: { width, height, channels: 3, background: "#808080" } })
    .png()
    .toBuffer();

export function task(extra: Record<string, unknown> = {}): Record<string, unknown> & { taskUUID: string } {
  return {
    taskType: "imageInference",
    taskUUID: randomUUID(),
    model: "bfl:flux@outpainting",
    outpaint: { left: 16, right: 16 },
    outputFormat: "PNG",
    ...extra,
  } as Record<string, unknown> & { taskUUID: string };
}

/** A tiny HTTP peer: serves bytes at /image and records what is POSTed to /hook, answering as told. */
export async function startPeer(image: Buffer) {
  const received: { path: string; body: unknown }[] = [];
  const answers: number[] = [];
  let holding = false;
  const held: (() => void)[] = [];
  const server: Server = createServer(async (request: IncomingMessage, response) => {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    if (request.method === "GET") {
      if (holding) await new Promise<void>((resolve) => held.push(resolve));
      response.writeHead(200, { "content-type": "image/png" }).end(image);
      return;
    }
    received.push({ path: request.url ?? "", body: JSON.parse(Buffer.concat(chunks).toString() || "null") });
    response.writeHead(answers.shift() ?? 200).end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    imageUrl: `${base}/image.png`,
    hookUrl: (name: string) => `${base}/hook/${name}`,
    received,
    /** Status codes for the next deliveries, in order (then 200). */
    answerNext: (...codes: number[]) => answers.push(...codes),
    /** Image requests wait (counted by `heldImages`) until `releaseImages`. */
    holdImages: () => {
      holding = true;
    },
    heldImages: () => held.length,
    releaseImages: () => {
      holding = false;
      for (const resolve of held.splice(0)) resolve();
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
