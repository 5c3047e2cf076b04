import { timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "@reframe/telemetry";
import type { EmulatorConfig } from "./emulator-config.ts";
import { FaultSampler, faultsFromConfig, faultsPatchSchema, seededRandom } from "./faults.ts";
import { type GenerationDeps, Semaphore } from "./generation.ts";
import { type EndpointSettings, handleInference } from "./inference-endpoint.ts";
import { Outage, outageRequestSchema } from "./outage.ts";
import { TaskStore } from "./task-store.ts";
import { WebhookDispatcher } from "./webhook-dispatcher.ts";

export interface RunningEmulator {
  url: string;
  store: TaskStore;
  faults: FaultSampler;
  outage: Outage;
  close(): Promise<void>;
}

const SWEEP_MS = 10_000;

/** The emulator's HTTP surface: POST /v1, GET /images/<uuid>.<ext>, GET /healthz, and /admin/* (off /v1). */
export async function startEmulatorServer(
  config: EmulatorConfig,
  { logger, now = Date.now }: { logger: Logger; now?: () => number },
): Promise<RunningEmulator> {
  const store = new TaskStore(now);
  const random = config.EMULATOR_SEED === undefined ? Math.random : seededRandom(config.EMULATOR_SEED);
  const faults = new FaultSampler(faultsFromConfig(config), random);
  const webhooks = new WebhookDispatcher(
    {
      retryDelaysMs: config.EMULATOR_WEBHOOK_RETRY_DELAYS_MS,
      timeoutMs: config.EMULATOR_WEBHOOK_TIMEOUT_MS,
      delayRange: config.EMULATOR_WEBHOOK_DELAY_MS,
      timeScale: config.EMULATOR_TIME_SCALE,
    },
    faults,
    store,
    logger,
  );
  const settings: EndpointSettings = {
    apiKeys: new Set(config.EMULATOR_API_KEYS),
    retentionS: config.EMULATOR_TASK_RETENTION_S,
    retryAfterS: config.EMULATOR_RETRY_AFTER_S,
    timeoutDelayMs: config.EMULATOR_TIMEOUT_DELAY_MS,
  };
  const deps: GenerationDeps = {
    settings: {
      latency: config.EMULATOR_LATENCY_MS,
      mode: config.EMULATOR_MODE,
      defaultTtlS: config.EMULATOR_DEFAULT_TTL_S,
      uploadRetries: config.EMULATOR_UPLOAD_RETRIES,
      fetchTimeoutMs: config.EMULATOR_FETCH_TIMEOUT_MS,
      maxInputBytes: config.EMULATOR_MAX_INPUT_BYTES,
      inputFormats: new Set(config.EMULATOR_INPUT_FORMATS),
      inputPixels: config.EMULATOR_INPUT_PIXELS,
      publicUrl: "",
      timeScale: config.EMULATOR_TIME_SCALE,
    },
    faults,
    store,
    webhooks,
    semaphore: new Semaphore(config.EMULATOR_CONCURRENCY),
    logger,
    now,
  };
  const outage = new Outage(now);
  const server = createServer((request, response) => {
    route(request, response, { config, deps, settings, outage }).catch((error: unknown) => {
      logger.error({ err: error }, "request failed");
      if (!response.headersSent)
        send(response, 500, {
          errors: [{ code: "internalServerError", message: "The emulator failed to handle the request." }],
        });
    });
  });
  await new Promise<void>((resolve) => server.listen(config.EMULATOR_PORT, config.EMULATOR_HOST, resolve));
  const { port } = server.address() as AddressInfo;
  const url = config.EMULATOR_PUBLIC_URL || `http://${config.EMULATOR_HOST}:${port}`;
  deps.settings.publicUrl = url.replace(/\/+$/, "");
  const sweeper = setInterval(() => store.sweep(), SWEEP_MS);
  sweeper.unref();
  return {
    url: `http://${config.EMULATOR_HOST}:${port}`,
    store,
    faults,
    outage,
    async close() {
      clearInterval(sweeper);
      webhooks.close();
      await closeServer(server);
    },
  };
}

interface Context {
  config: EmulatorConfig;
  deps: GenerationDeps;
  settings: EndpointSettings;
  outage: Outage;
}

async function route(request: IncomingMessage, response: ServerResponse, context: Context): Promise<void> {
  const path = new URL(request.url ?? "/", "http://emulator").pathname;
  if (request.method === "POST" && (path === "/v1" || path === "/v1/"))
    return inference(request, response, context);
  if (request.method === "GET" && path === "/healthz") return send(response, 200, { ok: true });
  const image = path.match(/^\/images\/([0-9a-f-]{36})\.(jpg|png|webp)$/);
  if (request.method === "GET" && image) {
    const stored = context.deps.store.image(image[1]!);
    if (!stored)
      return send(response, 404, {
        errors: [{ code: "mediaNotFound", message: "The image does not exist or its ttl has passed." }],
      });
    response.writeHead(200, { "content-type": stored.contentType, "content-length": stored.bytes.length });
    response.end(stored.bytes);
    return;
  }
  if (path.startsWith("/admin/")) return admin(request, response, path, context);
  send(response, 404, { errors: [{ code: "notFound", message: `No route ${request.method} ${path}.` }] });
}

async function inference(
  request: IncomingMessage,
  response: ServerResponse,
  context: Context,
): Promise<void> {
  const body = await readJson(request, context.config.EMULATOR_MAX_BODY_BYTES);
  if (!body.ok) return send(response, body.status, { errors: [{ code: body.code, message: body.message }] });
  if (context.outage.active()) {
    context.outage.refuse(body.value);
    return send(response, 503, {
      errors: [
        {
          code: "serviceUnavailable",
          message: "The provider is unavailable (an outage from POST /admin/outage).",
        },
      ],
    });
  }
  const reply = await handleInference(
    body.value,
    request.headers.authorization,
    context.settings,
    context.deps,
  );
  if (reply.delayMs) await new Promise((resolve) => setTimeout(resolve, reply.delayMs));
  send(response, reply.status, reply.body, reply.headers);
}

async function admin(
  request: IncomingMessage,
  response: ServerResponse,
  path: string,
  context: Context,
): Promise<void> {
  const token = context.config.EMULATOR_ADMIN_TOKEN;
  if (token && !sameSecret(request.headers.authorization ?? "", `Bearer ${token}`)) {
    return send(response, 401, {
      error: "admin endpoints need Authorization: Bearer <EMULATOR_ADMIN_TOKEN>",
    });
  }
  const { store, faults } = context.deps;
  const { outage } = context;
  if (request.method === "GET" && path === "/admin/counters")
    return send(response, 200, { ...store.snapshot(), injected: faults.injected, outage: outage.snapshot() });
  if (request.method === "GET" && path === "/admin/outage") return send(response, 200, outage.snapshot());
  if (request.method === "POST" && path === "/admin/outage") {
    const body = await readJson(request, 64 * 1024);
    const parsed = body.ok ? outageRequestSchema.safeParse(body.value) : undefined;
    if (!parsed?.success)
      return send(response, 400, {
        error: `expected {"seconds": n}, n from 0 (end it now) to 86400${parsed ? `: ${parsed.error.issues[0]?.message}` : ""}`,
      });
    return send(response, 200, outage.start(parsed.data.seconds));
  }
  if (request.method === "GET" && path === "/admin/faults") return send(response, 200, faults.faults);
  if (request.method === "POST" && path === "/admin/faults") {
    const body = await readJson(request, 64 * 1024);
    const patch = body.ok ? faultsPatchSchema.safeParse(body.value) : undefined;
    if (!patch?.success)
      return send(response, 400, {
        error: `expected a JSON object of rates from 0 to 1: ${Object.keys(faults.faults).join(", ")}`,
      });
    faults.faults = { ...faults.faults, ...patch.data };
    return send(response, 200, faults.faults);
  }
  if (request.method === "POST" && path === "/admin/reset") {
    store.clear();
    faults.resetInjected();
    outage.reset();
    return send(response, 200, { ok: true });
  }
  send(response, 404, { error: `no admin route ${request.method} ${path}` });
}

type JsonBody = { ok: true; value: unknown } | { ok: false; status: number; code: string; message: string };

async function readJson(request: IncomingMessage, limit: number): Promise<JsonBody> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > limit) {
      request.resume();
      return {
        ok: false,
        status: 413,
        code: "requestTooLarge",
        message: `The request body exceeds ${limit} bytes.`,
      };
    }
    chunks.push(chunk as Buffer);
  }
  try {
    return { ok: true, value: JSON.parse(Buffer.concat(chunks).toString("utf8")) };
  } catch {
    return { ok: false, status: 400, code: "invalidJson", message: "The request body is not valid JSON." };
  }
}

function send(
  response: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  response.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
    ...headers,
  });
  response.end(text);
}

function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

function closeServer(server: Server): Promise<void> {
  server.closeIdleConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}
