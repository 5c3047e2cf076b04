import { randomUUID } from "node:crypto";
import { PassThrough } from "node:stream";
import { createOutpaintQueue, createSpendLedger } from "@reframe/jobs";
import { createRedisClient } from "@reframe/redis";
import { createLogger } from "@reframe/telemetry";
import { useRedisServer } from "@reframe/testkit";
import { describe, expect, it } from "vitest";
import { startSpendWatch } from "./spend-watch.ts";

const server = useRedisServer();
const NOON = Date.parse("2026-11-25T12:00:00Z");

function setup() {
  const connection = createRedisClient(server.url, { role: "worker" });
  const prefix = `{sw-${randomUUID()}}`;
  const queue = createOutpaintQueue({ connection, prefix });
  const watches: { stop(): void }[] = [];
  server.closers.push(async () => {
    for (const watch of watches) watch.stop();
    await queue.close();
    await connection.quit();
  });
  const ledger = createSpendLedger(connection, { prefix });
  const logger = createLogger({ name: "spend-watch-test", level: "silent", destination: new PassThrough() });
  const spend: [number, number][] = [];
  const watch = (limitUsd: number | undefined, now: number) => {
    watches.push(
      startSpendWatch({
        ledger,
        queue,
        limitUsd,
        logger,
        now: () => now,
        intervalMs: 50,
        onSpend: (spentUsd, limit) => spend.push([spentUsd, limit]),
      }),
    );
  };
  return { ledger, queue, watch, spend };
}

async function pausedAtTheCeiling(
  ledger: ReturnType<typeof createSpendLedger>,
  queue: { pause(): Promise<void> },
) {
  await queue.pause();
  await ledger.recordPause({ day: "2026-11-25", spentUsd: 9.9, limitUsd: 10, at: NOON });
}

describe("the spend watch", () => {
  it("reports today's spend against the ceiling at each check (the spend gauge), none without a ceiling", async () => {
    const { ledger, watch, spend } = setup();
    await ledger.reserve([{ id: "task-1", costUsd: 2.5 }], 10, NOON);
    watch(10, NOON);
    await expect.poll(() => spend.at(-1)).toEqual([2.5, 10]);
    const unlimited = setup();
    unlimited.watch(undefined, NOON);
    await expect.poll(async () => (await unlimited.ledger.status(NOON)).limitUsd).toBeUndefined();
    await new Promise((resolve) => setTimeout(resolve, 120));
    expect(unlimited.spend).toEqual([]);
  });

  it("leaves a spend pause alone while the same ceiling holds the same day, and publishes the ceiling", async () => {
    const { ledger, queue, watch } = setup();
    await pausedAtTheCeiling(ledger, queue);
    watch(10, NOON + 60_000);
    await expect.poll(async () => (await ledger.status(NOON)).limitUsd).toBe(10);
    expect(await queue.isPaused()).toBe(true);
    expect((await ledger.status(NOON)).pause).toBeDefined();
  });

  it("resumes the queue under a higher ceiling, and at the next UTC day", async () => {
    const raised = setup();
    await pausedAtTheCeiling(raised.ledger, raised.queue);
    raised.watch(20, NOON);
    await expect.poll(() => raised.queue.isPaused()).toBe(false);
    expect((await raised.ledger.status(NOON)).pause).toBeUndefined();

    const nextDay = setup();
    await pausedAtTheCeiling(nextDay.ledger, nextDay.queue);
    nextDay.watch(10, Date.parse("2026-11-26T00:00:30Z"));
    await expect.poll(() => nextDay.queue.isPaused()).toBe(false);
  });

  it("never lifts a pause the spend ceiling did not cause", async () => {
    const { ledger, queue, watch } = setup();
    await queue.pause();
    watch(10, NOON);
    await expect.poll(async () => (await ledger.status(NOON)).limitUsd).toBe(10);
    expect(await queue.isPaused()).toBe(true);
  });
});
