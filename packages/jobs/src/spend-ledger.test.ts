import { randomUUID } from "node:crypto";
import { useRedisServer } from "@reframe/testkit";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createRedisConnection } from "./queues.ts";
import { createSpendLedger, spendPauseLifted, toMicroUsd } from "./spend-ledger.ts";

const server = useRedisServer();
const { closers } = server;

const NOON = Date.parse("2026-11-25T12:00:00Z");

function setup() {
  const redis = createRedisConnection(server.url, { role: "worker" });
  closers.push(() => redis.quit());
  return { redis, ledger: createSpendLedger(redis, { prefix: `{s-${randomUUID()}}` }) };
}

describe("the spend ledger (SPEND_LIMIT_USD_PER_DAY)", () => {
  it("counts a job's charges until the next would pass the ceiling, then counts nothing of it", async () => {
    const { ledger } = setup();
    expect(await ledger.reserve([{ id: "a", costUsd: 0.4 }], 1, NOON)).toEqual({ ok: true, spentUsd: 0.4 });
    const two = [
      { id: "b", costUsd: 0.3 },
      { id: "c", costUsd: 0.3 },
    ];
    expect(await ledger.reserve(two, 1, NOON)).toEqual({ ok: true, spentUsd: 1 });
    expect(await ledger.reserve([{ id: "d", costUsd: 0.1 }], 1, NOON)).toEqual({
      ok: false,
      spentUsd: 1,
      limitUsd: 1,
      day: "2026-11-25",
    });
    expect((await ledger.status(NOON)).spentUsd).toBe(1);
  });

  it("counts a retried submit once, also past the ceiling", async () => {
    const { ledger } = setup();
    await ledger.reserve([{ id: "a", costUsd: 1 }], 1, NOON);
    expect(await ledger.reserve([{ id: "a", costUsd: 1 }], 1, NOON)).toEqual({ ok: true, spentUsd: 1 });
  });

  it("starts each UTC day at zero", async () => {
    const { ledger } = setup();
    await ledger.reserve([{ id: "a", costUsd: 1 }], 1, NOON);
    const tomorrow = Date.parse("2026-11-26T00:00:00Z");
    expect(await ledger.reserve([{ id: "b", costUsd: 1 }], 1, tomorrow)).toEqual({ ok: true, spentUsd: 1 });
    expect((await ledger.status(NOON)).spentUsd).toBe(1);
  });

  it("no sequence of charges, from workers racing or not, takes a day past its ceiling (property)", async () => {
    const { ledger } = setup();
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 500 }).map((cents) => cents / 100),
        fc.array(fc.array(fc.integer({ min: 0, max: 80 }), { minLength: 1, maxLength: 3 }), {
          maxLength: 25,
        }),
        async (limitUsd, jobs) => {
          run += 1;
          // Each run on a day of its own: the ledger is keyed by the UTC day.
          const now = NOON + run * 86_400_000;
          const results = await Promise.all(
            jobs.map((tasks, job) =>
              ledger.reserve(
                tasks.map((cents, task) => ({ id: `${job}/${task}`, costUsd: cents / 100 })),
                limitUsd,
                now,
              ),
            ),
          );
          const counted = jobs
            .filter((_, index) => results[index]?.ok)
            .flat()
            .reduce((sum, cents) => sum + toMicroUsd(cents / 100), 0);
          const { spentUsd } = await ledger.status(now);
          expect(toMicroUsd(spentUsd)).toBe(counted);
          expect(toMicroUsd(spentUsd)).toBeLessThanOrEqual(toMicroUsd(limitUsd));
          // A refused job did not fit in what was spent when it was refused, nor in the day's end total.
          for (const [index, result] of results.entries()) {
            if (result?.ok !== false) continue;
            const cost = jobs[index]!.reduce((sum, cents) => sum + toMicroUsd(cents / 100), 0);
            expect(toMicroUsd(result.spentUsd) + cost).toBeGreaterThan(toMicroUsd(limitUsd));
          }
        },
      ),
      { numRuns: 60 },
    );
  }, 60_000);

  it("records why the queue paused; a new day or a higher ceiling lifts it, the same one does not", async () => {
    const { ledger } = setup();
    const pause = { day: "2026-11-25", spentUsd: 9.9, limitUsd: 10, at: NOON };
    await ledger.recordPause(pause);
    await ledger.publishLimit(10);
    expect(await ledger.status(NOON)).toMatchObject({ pause, limitUsd: 10 });
    expect(spendPauseLifted(pause, 10, NOON + 3_600_000)).toBe(false);
    expect(spendPauseLifted(pause, 12, NOON)).toBe(true);
    expect(spendPauseLifted(pause, undefined, NOON)).toBe(true);
    expect(spendPauseLifted(pause, 10, Date.parse("2026-11-26T00:00:01Z"))).toBe(true);
    await ledger.clearPause();
    await ledger.publishLimit(undefined);
    expect(await ledger.status(NOON)).toMatchObject({ pause: undefined, limitUsd: undefined });
  });
});
