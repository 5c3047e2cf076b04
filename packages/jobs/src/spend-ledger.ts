import { DEFAULT_QUEUE_PREFIX, luaScript, type RedisClient, runScript } from "@reframe/redis";
import { z } from "zod";

/**
 * What the workers spend per UTC day, against SPEND_LIMIT_USD_PER_DAY, in Redis so that every worker
 * counts into one total:
 *   spend:day:<YYYY-MM-DD>  hash   "total" -> micro-USD, and each counted charge (taskUUID) -> micro-USD
 *   spend:limit             string the ceiling the workers enforce (each worker writes it at start)
 *   spend:paused            string why the queue was paused for spend (JSON), until it is resumed
 * A charge is a task's planned cost (the dry run's figure), counted before its submit leaves; a
 * task's next generation is a new charge, a retried submit of the same one is not.
 */

const DAY_MS = 86_400_000;
/** A day's ledger outlives its day, so that `reframe pipelines list` can still read yesterday's. */
const LEDGER_RETENTION_MS = 3 * DAY_MS;
const SPEND_RESERVE = luaScript(new URL("./lua/spend-reserve.lua", import.meta.url));

export interface SpendCharge {
  /** The taskUUID: one charge per generation of a variant. */
  id: string;
  costUsd: number;
}

export type SpendReservation =
  | { ok: true; spentUsd: number }
  | { ok: false; spentUsd: number; limitUsd: number; day: string };

const spendPauseSchema = z.object({
  /** The UTC day whose ceiling was reached (YYYY-MM-DD). */
  day: z.string(),
  spentUsd: z.number(),
  limitUsd: z.number(),
  at: z.number(),
});
export type SpendPause = z.output<typeof spendPauseSchema>;

export interface SpendStatus {
  day: string;
  spentUsd: number;
  /** The ceiling the workers last published; undefined when none enforces one. */
  limitUsd: number | undefined;
  pause: SpendPause | undefined;
}

export interface SpendLedger {
  /** Counts the charges unless they would take today's total past the ceiling; all or nothing. */
  reserve(charges: readonly SpendCharge[], limitUsd: number, now: number): Promise<SpendReservation>;
  status(now: number): Promise<SpendStatus>;
  /** The ceiling this worker enforces (undefined: none), for the CLI to read. */
  publishLimit(limitUsd: number | undefined): Promise<void>;
  recordPause(pause: SpendPause): Promise<void>;
  clearPause(): Promise<void>;
}

/** The UTC day of an instant, as the ledger names it. */
export function spendDayOf(now: number): string {
  return new Date(now).toISOString().slice(0, 10);
}

export const toMicroUsd = (usd: number): number => Math.round(usd * 1_000_000);
export const fromMicroUsd = (micro: number): number => micro / 1_000_000;

export function createSpendLedger(redis: RedisClient, { prefix = DEFAULT_QUEUE_PREFIX } = {}): SpendLedger {
  const dayKey = (day: string) => `${prefix}:spend:day:${day}`;
  const limitKey = `${prefix}:spend:limit`;
  const pausedKey = `${prefix}:spend:paused`;
  return {
    async reserve(charges, limitUsd, now) {
      const day = spendDayOf(now);
      const dayStart = Date.parse(`${day}T00:00:00Z`);
      const args = charges.flatMap((charge) => [charge.id, toMicroUsd(charge.costUsd)]);
      const [counted, total] = (await runScript(
        redis,
        SPEND_RESERVE,
        [dayKey(day)],
        [toMicroUsd(limitUsd), Math.max(1, dayStart + LEDGER_RETENTION_MS - now), ...args],
      )) as [number, number];
      const spentUsd = fromMicroUsd(total);
      return counted === 1 ? { ok: true, spentUsd } : { ok: false, spentUsd, limitUsd, day };
    },
    async status(now) {
      const day = spendDayOf(now);
      const [total, limit, paused] = await Promise.all([
        redis.hget(dayKey(day), "total"),
        redis.get(limitKey),
        redis.get(pausedKey),
      ]);
      const pause = paused === null ? undefined : spendPauseSchema.safeParse(JSON.parse(paused));
      return {
        day,
        spentUsd: fromMicroUsd(Number(total ?? 0)),
        limitUsd: limit === null ? undefined : fromMicroUsd(Number(limit)),
        pause: pause?.success ? pause.data : undefined,
      };
    },
    async publishLimit(limitUsd) {
      if (limitUsd === undefined) await redis.del(limitKey);
      else await redis.set(limitKey, String(toMicroUsd(limitUsd)));
    },
    async recordPause(pause) {
      await redis.set(pausedKey, JSON.stringify(spendPauseSchema.parse(pause)));
    },
    async clearPause() {
      await redis.del(pausedKey);
    },
  };
}

/**
 * Whether a queue paused for spend may go on: a new UTC day began, or the ceiling now enforced is
 * higher than the one that was reached (or none is enforced any more). Resuming while neither holds
 * would pause again at the next submit.
 */
export function spendPauseLifted(pause: SpendPause, limitUsd: number | undefined, now: number): boolean {
  return spendDayOf(now) !== pause.day || limitUsd === undefined || limitUsd > pause.limitUsd;
}
