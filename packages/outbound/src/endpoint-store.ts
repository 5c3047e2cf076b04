import { randomBytes } from "node:crypto";
import { QUEUE_NAME_PATTERN } from "@reframe/jobs";
import { DEFAULT_QUEUE_PREFIX, type RedisClient } from "@reframe/redis";
import { z } from "zod";

/**
 * Outbound endpoints, declared once and named by routes (`webhook:<name>`), in Redis beside the
 * queues so that every process (the worker delivering, the CLI managing) reads the same ones:
 *   endpoints              hash  name -> EndpointDefinition (JSON: url, secrets, event types)
 *   endpoint:<name>:state  hash  disabledAt, disabledReason, failingSince, lastSuccessAt,
 *                                lastFailureAt, and counters: attempts, delivered, failed
 * The secrets live only in the definition; nothing else (records, logs, listings) carries them.
 */

/** `whsec_` + base64 of 24 random bytes, as Standard Webhooks' reference implementations make them. */
export const SECRET_PATTERN = /^whsec_[A-Za-z0-9+/]{32,}={0,2}$/;

export function generateSecret(): string {
  return `whsec_${randomBytes(24).toString("base64")}`;
}

const secretSchema = z.string().regex(SECRET_PATTERN, "must be whsec_ and base64 of at least 24 bytes");

const endpointNameSchema = z
  .string()
  .regex(QUEUE_NAME_PATTERN, "must be letters, digits, '.', '_', '-' (at most 100)");

const endpointUrlSchema = z
  .string()
  .refine(
    (value) => URL.canParse(value) && /^https?:$/.test(new URL(value).protocol),
    "must be an http(s) URL",
  );

const endpointDefinitionSchema = z.object({
  name: endpointNameSchema,
  url: endpointUrlSchema,
  /** The newest first; every secret not past its `expiresAt` signs (a rotation's grace period). */
  secrets: z
    .array(z.object({ secret: secretSchema, addedAt: z.number(), expiresAt: z.number().optional() }))
    .min(1),
  /** Event types it takes; absent: all. */
  eventTypes: z.array(z.string().min(1)).min(1).optional(),
  createdAt: z.number(),
});
export type EndpointDefinition = z.output<typeof endpointDefinitionSchema>;

export interface EndpointState {
  disabledAt?: number;
  disabledReason?: string;
  /** First failure since the last success: how long the endpoint has been failing. */
  failingSince?: number;
  lastSuccessAt?: number;
  lastFailureAt?: number;
  attempts: number;
  delivered: number;
  failed: number;
}

export type Endpoint = EndpointDefinition & { state: EndpointState };

/** The secrets that sign now: not expired, the newest first. */
export function signingSecrets(definition: EndpointDefinition, now: number): string[] {
  return definition.secrets
    .filter((entry) => entry.expiresAt === undefined || entry.expiresAt > now)
    .map((entry) => entry.secret);
}

/** An endpoint as it may be shown (CLI, logs): no secret, only how many sign. */
export function describeEndpoint(endpoint: Endpoint, now: number) {
  const { secrets: _secrets, ...shown } = endpoint;
  return { ...shown, signingSecrets: signingSecrets(endpoint, now).length };
}

export class EndpointError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "EndpointError";
  }
}

export interface EndpointStore {
  add(input: { name: string; url: string; secret?: string; eventTypes?: string[] }): Promise<{
    endpoint: EndpointDefinition;
    /** Set when the store generated the secret: shown once to whoever added the endpoint. */
    generatedSecret?: string;
  }>;
  get(name: string): Promise<Endpoint | undefined>;
  list(): Promise<Endpoint[]>;
  disable(name: string, reason: string): Promise<boolean>;
  enable(name: string): Promise<boolean>;
  /** A new secret signs from now on; the others keep signing for `graceMs`, then stop. */
  rotateSecret(name: string, options: { secret?: string; graceMs: number }): Promise<{ secret: string }>;
  /**
   * Right before a POST: whether the endpoint is disabled, and Redis's clock now (the attempt's
   * sent time). Disabling stamps Redis's clock too, so an attempt whose sent time is after the
   * disable cannot have passed this check: nothing is sent to an endpoint after it was disabled.
   */
  checkBeforeSend(name: string): Promise<{ disabledAt?: number; now: number }>;
  /** One attempt's result, for the state and counters. Returns the state after it. */
  recordAttempt(name: string, result: "success" | "failure", at: number): Promise<EndpointState>;
  /** A delivery that ended failed (no more attempts, or refused). */
  recordFailedDelivery(name: string): Promise<void>;
}

export function createEndpointStore(
  redis: RedisClient,
  { prefix = DEFAULT_QUEUE_PREFIX, now = Date.now }: { prefix?: string; now?: () => number } = {},
): EndpointStore {
  const endpointsKey = `${prefix}:endpoints`;
  const stateKey = (name: string) => `${prefix}:endpoint:${name}:state`;

  async function definition(name: string): Promise<EndpointDefinition | undefined> {
    const raw = await redis.hget(endpointsKey, name);
    return raw === null ? undefined : endpointDefinitionSchema.parse(JSON.parse(raw));
  }
  async function required(name: string): Promise<EndpointDefinition> {
    const found = await definition(name);
    if (!found) throw new EndpointError(`no endpoint ${name} (reframe endpoints list)`);
    return found;
  }
  // Both read Redis's TIME as milliseconds, so the disable and the checks share one clock and one order.
  const DISABLE = `local t = redis.call('TIME')
if redis.call('HEXISTS', KEYS[1], 'disabledAt') == 1 then return 0 end
local ms = t[1] * 1000 + math.floor(t[2] / 1000)
redis.call('HSET', KEYS[1], 'disabledAt', ms, 'disabledReason', ARGV[1])
return ms`;
  const CHECK = `local t = redis.call('TIME')
return {redis.call('HGET', KEYS[1], 'disabledAt') or '', t[1] * 1000 + math.floor(t[2] / 1000)}`;

  async function state(name: string): Promise<EndpointState> {
    return stateOf(await redis.hgetall(stateKey(name)));
  }

  return {
    async add({ name, url, secret, eventTypes }) {
      const generatedSecret = secret === undefined ? generateSecret() : undefined;
      const parsed = endpointDefinitionSchema.safeParse({
        name,
        url,
        secrets: [{ secret: secret ?? generatedSecret, addedAt: now() }],
        ...(eventTypes && eventTypes.length > 0 ? { eventTypes } : {}),
        createdAt: now(),
      });
      if (!parsed.success) {
        const issue = parsed.error.issues[0]!;
        const field = issue.path[0] === "secrets" ? "secret" : issue.path.join(".");
        throw new EndpointError(`${field}: ${issue.message}`);
      }
      if ((await redis.hsetnx(endpointsKey, name, JSON.stringify(parsed.data))) === 0)
        throw new EndpointError(`endpoint ${name} exists already (rotate-secret, disable, enable change it)`);
      await redis.del(stateKey(name));
      return { endpoint: parsed.data, ...(generatedSecret ? { generatedSecret } : {}) };
    },
    async get(name) {
      const found = await definition(name);
      return found && { ...found, state: await state(name) };
    },
    async list() {
      const all = Object.values(await redis.hgetall(endpointsKey)).map((raw) =>
        endpointDefinitionSchema.parse(JSON.parse(raw)),
      );
      all.sort((a, b) => a.name.localeCompare(b.name));
      return Promise.all(all.map(async (found) => ({ ...found, state: await state(found.name) })));
    },
    async disable(name, reason) {
      await required(name);
      // The first reason stays: a 410 is not overwritten by a later "disabled by hand".
      return ((await redis.eval(DISABLE, 1, stateKey(name), reason)) as number) > 0;
    },
    async checkBeforeSend(name) {
      const [disabledAt, at] = (await redis.eval(CHECK, 1, stateKey(name))) as [string, number];
      return disabledAt ? { disabledAt: Number(disabledAt), now: at } : { now: at };
    },
    async enable(name) {
      await required(name);
      const removed = await redis.hdel(stateKey(name), "disabledAt", "disabledReason", "failingSince");
      return removed > 0;
    },
    async rotateSecret(name, { secret, graceMs }) {
      const found = await required(name);
      const next = secret ?? generateSecret();
      const checked = secretSchema.safeParse(next);
      if (!checked.success) throw new EndpointError(`secret: ${checked.error.issues[0]!.message}`);
      const at = now();
      const kept = found.secrets
        .filter((entry) => entry.expiresAt === undefined || entry.expiresAt > at)
        .map((entry) => ({ ...entry, expiresAt: Math.min(entry.expiresAt ?? Infinity, at + graceMs) }));
      const rotated: EndpointDefinition = { ...found, secrets: [{ secret: next, addedAt: at }, ...kept] };
      await redis.hset(endpointsKey, name, JSON.stringify(rotated));
      return { secret: next };
    },
    async recordAttempt(name, result, at) {
      const key = stateKey(name);
      const multi = redis.multi().hincrby(key, "attempts", 1);
      if (result === "success") multi.hset(key, "lastSuccessAt", String(at)).hdel(key, "failingSince");
      else multi.hset(key, "lastFailureAt", String(at)).hsetnx(key, "failingSince", String(at));
      if (result === "success") multi.hincrby(key, "delivered", 1);
      multi.hgetall(key);
      const replies = (await multi.exec()) ?? [];
      return stateOf((replies.at(-1)?.[1] ?? {}) as Record<string, string>);
    },
    async recordFailedDelivery(name) {
      await redis.hincrby(stateKey(name), "failed", 1);
    },
  };
}

function stateOf(hash: Record<string, string>): EndpointState {
  const number = (field: string) => (hash[field] === undefined ? undefined : Number(hash[field]));
  return {
    ...(hash.disabledAt ? { disabledAt: Number(hash.disabledAt) } : {}),
    ...(hash.disabledReason ? { disabledReason: hash.disabledReason } : {}),
    ...(hash.failingSince ? { failingSince: Number(hash.failingSince) } : {}),
    ...(hash.lastSuccessAt ? { lastSuccessAt: Number(hash.lastSuccessAt) } : {}),
    ...(hash.lastFailureAt ? { lastFailureAt: Number(hash.lastFailureAt) } : {}),
    attempts: number("attempts") ?? 0,
    delivered: number("delivered") ?? 0,
    failed: number("failed") ?? 0,
  };
}
