import { randomUUID } from "node:crypto";
import { createRedisConnection, toMicroUsd } from "@reframe/jobs";
import { useRedisServer } from "@reframe/testkit";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createUploadBudgets, UPLOAD_WINDOWS, type UploadCeilings } from "./upload-budget.ts";

const server = useRedisServer();
const T0 = Date.parse("2026-11-25T08:00:00Z");
const HOUR = UPLOAD_WINDOWS.hour;

function setup() {
  const redis = createRedisConnection(server.url, { role: "worker" });
  server.closers.push(() => redis.quit());
  return createUploadBudgets(redis, { prefix: `{b-${randomUUID()}}` });
}

const item = (jobId: string, costUsd: number) => ({
  jobId,
  costUsd,
  source: `s3://media/${jobId}.jpg`,
  target: "1x1",
});

describe("upload budgets", () => {
  it("admit jobs while they fit the day's ceiling, refuse the next, and announce the first refusal only", async () => {
    const budgets = setup();
    const ceilings = { perDayUsd: 0.5, perHourUsd: undefined };
    const first = await budgets.reserve(
      "uploads",
      ceilings,
      [item("a", 0.2), item("b", 0.3), item("c", 0.1)],
      T0,
    );
    expect(first).toEqual({
      admitted: [true, true, false],
      announce: ["day"],
      usage: { dayUsd: 0.5, hourUsd: 0.5, refusedLastDay: 1 },
    });
    const later = await budgets.reserve("uploads", ceilings, [item("d", 0.1)], T0 + HOUR);
    expect(later).toMatchObject({ admitted: [false], announce: [], usage: { refusedLastDay: 2 } });
    expect(await budgets.refusals("uploads")).toEqual([
      { jobId: "d", source: "s3://media/d.jpg", target: "1x1", costUsd: 0.1, at: T0 + HOUR, window: "day" },
      { jobId: "c", source: "s3://media/c.jpg", target: "1x1", costUsd: 0.1, at: T0, window: "day" },
    ]);
  });

  it("count a job once: a redelivered event is admitted again without counting", async () => {
    const budgets = setup();
    const ceilings = { perDayUsd: 0.3, perHourUsd: undefined };
    await budgets.reserve("uploads", ceilings, [item("a", 0.3)], T0);
    expect(await budgets.reserve("uploads", ceilings, [item("a", 0.3)], T0 + 1000)).toMatchObject({
      admitted: [true],
      usage: { dayUsd: 0.3 },
    });
  });

  it("roll: a cost leaves the hour after an hour and the day after 24 hours; each window announces anew", async () => {
    const budgets = setup();
    const ceilings = { perDayUsd: 1, perHourUsd: 0.4 };
    await budgets.reserve("uploads", ceilings, [item("a", 0.4)], T0);
    expect(await budgets.reserve("uploads", ceilings, [item("b", 0.4)], T0 + 1000)).toMatchObject({
      admitted: [false],
      announce: ["hour"],
    });
    expect(await budgets.reserve("uploads", ceilings, [item("b", 0.4)], T0 + HOUR)).toMatchObject({
      admitted: [true],
      usage: { dayUsd: 0.8, hourUsd: 0.4 },
    });
    expect(await budgets.reserve("uploads", ceilings, [item("c", 0.4)], T0 + 2 * HOUR)).toMatchObject({
      admitted: [false],
      announce: ["day"],
    });
    expect(await budgets.usage("uploads", T0 + 24 * HOUR)).toEqual({
      dayUsd: 0.4,
      hourUsd: 0,
      refusedLastDay: 2,
    });
    expect(await budgets.usage("uploads", T0 + 26 * HOUR)).toEqual({
      dayUsd: 0,
      hourUsd: 0,
      refusedLastDay: 0,
    });
  });

  it("keep pipelines apart", async () => {
    const budgets = setup();
    const ceilings = { perDayUsd: 0.1, perHourUsd: undefined };
    await budgets.reserve("one", ceilings, [item("a", 0.1)], T0);
    expect((await budgets.reserve("two", ceilings, [item("b", 0.1)], T0)).admitted).toEqual([true]);
  });

  /**
   * A model of the rule, in plain arithmetic: a job counts in a window while it was counted less than
   * the window's length ago; a new job is admitted when both totals stay within their ceilings.
   */
  function model(ceilings: UploadCeilings) {
    const counted = new Map<string, { at: number; micro: number }>();
    const total = (now: number, windowMs: number) =>
      [...counted.values()]
        .filter(({ at }) => at > now - windowMs)
        .reduce((sum, { micro }) => sum + micro, 0);
    return {
      reserve(jobId: string, micro: number, now: number): boolean {
        for (const [id, { at }] of counted) if (at <= now - UPLOAD_WINDOWS.day) counted.delete(id);
        if (counted.has(jobId)) return true;
        const day = total(now, UPLOAD_WINDOWS.day);
        const hour = total(now, UPLOAD_WINDOWS.hour);
        if (day + micro > toMicroUsd(ceilings.perDayUsd)) return false;
        if (ceilings.perHourUsd !== undefined && hour + micro > toMicroUsd(ceilings.perHourUsd)) return false;
        counted.set(jobId, { at: now, micro });
        return true;
      },
      total,
    };
  }

  it("never let a sequence of adds pass a ceiling, and roll both windows (property, against a model)", async () => {
    const budgets = setup();
    let run = 0;
    const step = fc.record({
      advanceMs: fc.oneof(
        fc.constant(0),
        fc.integer({ min: 1, max: 2 * HOUR }),
        fc.integer({ min: 0, max: 30 * HOUR }),
      ),
      jobs: fc.array(
        fc.record({ id: fc.integer({ min: 0, max: 15 }), cents: fc.integer({ min: 0, max: 60 }) }),
        {
          minLength: 1,
          maxLength: 4,
        },
      ),
    });
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 300 }),
        fc.option(fc.integer({ min: 1, max: 300 }), { nil: undefined }),
        fc.array(step, { minLength: 1, maxLength: 20 }),
        async (dayCents, hourCents, steps) => {
          run += 1;
          const pipeline = `p${run}`;
          const ceilings = {
            perDayUsd: dayCents / 100,
            perHourUsd: hourCents === undefined ? undefined : hourCents / 100,
          };
          const expected = model(ceilings);
          let now = T0;
          for (const { advanceMs, jobs } of steps) {
            now += advanceMs;
            const items = jobs.map(({ id, cents }) => item(`${pipeline}-${id}`, cents / 100));
            const reservation = await budgets.reserve(pipeline, ceilings, items, now);
            const predicted = items.map(({ jobId, costUsd }) =>
              expected.reserve(jobId, toMicroUsd(costUsd), now),
            );
            expect(reservation.admitted).toEqual(predicted);
            const { dayUsd, hourUsd } = reservation.usage;
            expect(toMicroUsd(dayUsd)).toBe(expected.total(now, UPLOAD_WINDOWS.day));
            expect(toMicroUsd(hourUsd)).toBe(expected.total(now, UPLOAD_WINDOWS.hour));
            expect(toMicroUsd(dayUsd)).toBeLessThanOrEqual(toMicroUsd(ceilings.perDayUsd));
            if (ceilings.perHourUsd !== undefined)
              expect(toMicroUsd(hourUsd)).toBeLessThanOrEqual(toMicroUsd(ceilings.perHourUsd));
          }
        },
      ),
      { numRuns: 80 },
    );
  }, 60_000);
});
