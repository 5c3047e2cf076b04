import { backoffMs, formatDelay } from "@reframe/reachability";
import { DEFAULT_QUEUE_PREFIX, luaScript, type RedisClient, runScript } from "@reframe/redis";

/**
 * The breaker of a service endpoint: one per service (the provider, S3) and endpoint (its host),
 * shared by every worker process through Redis, so that an outage seen by one worker stops them all
 * and one probe at a time checks for the service's return (lua/breaker.lua):
 *
 *   closed  requests go; an outage failure (the provider's isOutage: 5xx, timeout, connection, never
 *           429; S3's s3OutageOf) counts, any answer resets the count; `threshold` failures in a row
 *           within `windowMs` open it
 *   open    no job sends to the service (the provider: no submit, no poll; S3: no step that needs
 *           it); one probe at a time (a lease), the first `probeMinMs` after it opened, then doubling
 *           per failed probe up to `probeMaxMs`; any answer closes it, except one to a request
 *           sent before it opened
 *
 * The state is a hash at `{prefix}:breaker:<service>:<host>`: the braced prefix keeps it in
 * reframe's Cluster slot.
 */

const BREAKER = luaScript(new URL("./lua/breaker.lua", import.meta.url));

export interface BreakerSettings {
  /** PROVIDER_BREAKER_THRESHOLD: outage failures in a row that open it. */
  threshold: number;
  /** PROVIDER_BREAKER_WINDOW_MS: the failures count only within this long of the first of them. */
  windowMs: number;
  /** PROVIDER_BREAKER_PROBE_MIN_MS: the first probe, and the start of the doubling. */
  probeMinMs: number;
  /** PROVIDER_BREAKER_PROBE_MAX_MS: the longest wait between probes. */
  probeMaxMs: number;
  /** A probe's lease: a worker that died while probing holds it no longer than this. */
  probeLeaseMs: number;
}

export const DEFAULT_BREAKER_SETTINGS: BreakerSettings = {
  threshold: 5,
  windowMs: 30_000,
  probeMinMs: 2000,
  probeMaxMs: 60_000,
  probeLeaseMs: 30_000,
};

/** The services reframe keeps a breaker for. */
const BREAKER_SERVICES = ["provider", "s3"] as const;
export type BreakerService = (typeof BREAKER_SERVICES)[number];

/** The service as a sentence names it. */
export const BREAKER_SERVICE_NAMES: Record<BreakerService, string> = { provider: "the provider", s3: "S3" };

export interface BreakerState {
  service: BreakerService;
  /** The service endpoint's host (and port). */
  endpoint: string;
  open: boolean;
  /** Outage failures in a row while closed. */
  failures: number;
  /** While open: since when, failed probes, and the next probe's time. */
  openedAt?: number;
  probes?: number;
  nextProbeAt?: number;
}

export interface BreakerStore {
  readonly service: BreakerService;
  readonly endpoint: string;
  readonly settings: BreakerSettings;
  /** Counts an outage failure; `opened` when this one opened the breaker. */
  recordFailure(now: number): Promise<{ open: boolean; opened: boolean }>;
  /**
   * The service answered a request sent at `sentAt` (a probe leaves it out): resets the count;
   * `closedOpenSince` when this answer closed it. An answer to a request sent before the breaker
   * opened leaves it open (`stillOpen`): it came late, not from a service that is back.
   */
  recordSuccess(now: number, sentAt?: number): Promise<{ closedOpenSince?: number; stillOpen?: true }>;
  /** Takes the probe lease when the breaker is open, a probe is due and none is under way. */
  acquireProbe(now: number): Promise<boolean>;
  /** The probe found the service still down: the next one waits longer. Returns its time. */
  recordProbeFailure(now: number): Promise<number | undefined>;
  state(): Promise<BreakerState>;
}

/** The breaker's name for an endpoint: its host (with the port, when one is given). */
export function breakerEndpointOf(url: string): string {
  return new URL(url).host;
}

export const breakerKey = (
  service: BreakerService,
  endpoint: string,
  prefix: string = DEFAULT_QUEUE_PREFIX,
) => `${prefix}:breaker:${service}:${endpoint}`;
const registryKey = (prefix: string) => `${prefix}:breakers`;

/** The wait after `failedProbes` probes failed: the probe schedule (the Lua script's formula). */
export function nextProbeDelayMs(
  failedProbes: number,
  settings: Pick<BreakerSettings, "probeMinMs" | "probeMaxMs">,
) {
  return backoffMs({ baseMs: settings.probeMinMs, maxMs: settings.probeMaxMs }, failedProbes);
}

/**
 * How many probes an open breaker sends during an outage of `durationMs` at most: the probes it
 * schedules (each failed one pushes the next further) plus one under way as it ends.
 */
export function probesWithin(
  durationMs: number,
  settings: Pick<BreakerSettings, "probeMinMs" | "probeMaxMs">,
) {
  let probes = 0;
  for (let at = nextProbeDelayMs(0, settings); at <= durationMs; at += nextProbeDelayMs(probes, settings))
    probes += 1;
  return probes + 1;
}

export function createBreakerStore(
  redis: RedisClient,
  service: BreakerService,
  endpoint: string,
  settings: BreakerSettings = DEFAULT_BREAKER_SETTINGS,
  { prefix = DEFAULT_QUEUE_PREFIX } = {},
): BreakerStore {
  const keys = [breakerKey(service, endpoint, prefix), registryKey(prefix)];
  const run = (args: (string | number)[]) => runScript(redis, BREAKER, keys, args);
  return {
    service,
    endpoint,
    settings,
    async recordFailure(now) {
      const [open, opened] = (await run([
        "failure",
        now,
        settings.threshold,
        settings.windowMs,
        settings.probeMinMs,
      ])) as [number, number];
      return { open: open === 1, opened: opened === 1 };
    },
    async recordSuccess(now, sentAt) {
      const [closed, openedAt] = (await run(["success", now, sentAt ?? 0])) as [number, number];
      if (closed === 2) return { stillOpen: true };
      return closed === 1 ? { closedOpenSince: openedAt } : {};
    },
    async acquireProbe(now) {
      return (await run(["probe", now, settings.probeLeaseMs])) === 1;
    },
    async recordProbeFailure(now) {
      const next = (await run(["probeFailed", now, settings.probeMinMs, settings.probeMaxMs])) as number;
      return next > 0 ? next : undefined;
    },
    async state() {
      return stateOf(service, endpoint, await redis.hgetall(keys[0]!));
    },
  };
}

/** Every breaker that ever counted a failure, as `reframe queue counts` and the dashboard show them. */
export async function listBreakers(
  redis: RedisClient,
  { prefix = DEFAULT_QUEUE_PREFIX } = {},
): Promise<BreakerState[]> {
  const marker = `${prefix}:breaker:`;
  const keys = (await redis.smembers(registryKey(prefix))).sort();
  const named = keys.flatMap((key) => {
    const [service, ...endpoint] = key.slice(marker.length).split(":");
    // A key of another layout (an older release's) is not one this release reads.
    return (BREAKER_SERVICES as readonly string[]).includes(service!)
      ? [{ key, service: service as BreakerService, endpoint: endpoint.join(":") }]
      : [];
  });
  return Promise.all(
    named.map(async ({ key, service, endpoint }) => stateOf(service, endpoint, await redis.hgetall(key))),
  );
}

function stateOf(service: BreakerService, endpoint: string, hash: Record<string, string>): BreakerState {
  const open = hash.open === "1";
  const state: BreakerState = { service, endpoint, open, failures: Number(hash.failures ?? 0) };
  if (open) {
    state.openedAt = Number(hash.openedAt);
    state.probes = Number(hash.probes ?? 0);
    state.nextProbeAt = Number(hash.nextProbeAt);
  }
  return state;
}

/** One line about a breaker, as `reframe queue counts` and the dashboard say it. */
export function describeBreaker(state: BreakerState, now: number): string {
  const name = `${BREAKER_SERVICE_NAMES[state.service]} at ${state.endpoint}`;
  if (!state.open)
    return `${name} is available${state.failures > 0 ? ` (${state.failures} outage failures in a row)` : ""}`;
  const openedAt = state.openedAt ?? now;
  const nextProbe = Math.max(0, (state.nextProbeAt ?? now) - now);
  const waiting = state.service === "s3" ? "jobs that need S3 wait parked" : "jobs wait parked";
  return `${name} is unavailable for ${formatDelay(now - openedAt)} (breaker open since ${new Date(openedAt).toISOString()}, ${state.probes ?? 0} probes failed, next in ${formatDelay(nextProbe)}): ${waiting} and fail only at their deadline`;
}
