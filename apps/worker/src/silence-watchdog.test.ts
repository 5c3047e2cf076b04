import { createLogger } from "@reframe/telemetry";
import { describe, expect, it } from "vitest";
import { type Look, SilenceWatchdog } from "./silence-watchdog.ts";

const logger = createLogger({ name: "watchdog-test", level: "silent" });

/** A watchdog over a scripted world: what the probe sees, and what the worker has done. */
function scenario(initial: { look: Look; answers: boolean; taken?: number; running?: number }) {
  const world = { taken: 0, running: 0, ...initial, now: 0 };
  const silences: string[] = [];
  const watchdog = new SilenceWatchdog({
    probe: {
      look: async () => world.look,
      ownConnectionAnswers: async () => world.answers,
    },
    progress: () => ({ taken: world.taken, running: world.running }),
    concurrency: 10,
    onSilent: async (reason) => {
      silences.push(reason);
    },
    logger,
    intervalMs: 10_000,
    silentAfterMs: 30_000,
    now: () => world.now,
  });
  /** Checks every 10 s for `seconds`. */
  const run = async (seconds: number) => {
    for (let elapsed = 0; elapsed < seconds; elapsed += 10) {
      await watchdog.check();
      world.now += 10_000;
    }
  };
  return { world, silences, run };
}

const reachable = (waiting = 0, paused = false): Look => ({ reachable: true, waiting, paused });

describe("the silence watchdog", () => {
  it("a connection that stops answering while Redis answers a new one: recreated after silentAfterMs", async () => {
    const { silences, run } = scenario({ look: reachable(), answers: false });
    await run(30);
    expect(silences).toEqual([]);
    await run(10);
    expect(silences).toEqual([expect.stringContaining("has not answered a PING")]);
  });

  it("jobs waiting, free slots and none taken: recreated; one job taken in between: not", async () => {
    const stuck = scenario({ look: reachable(5), answers: true });
    await stuck.run(40);
    expect(stuck.silences).toEqual([expect.stringContaining("5 jobs wait")]);
    const slow = scenario({ look: reachable(5), answers: true });
    await slow.run(20);
    slow.world.taken += 1;
    await slow.run(20);
    expect(slow.silences).toEqual([]);
  });

  it("Redis unreachable (an outage, ioredis reconnects by itself): never", async () => {
    const { silences, run } = scenario({ look: { reachable: false }, answers: false });
    await run(120);
    expect(silences).toEqual([]);
  });

  it("a paused queue, or every slot busy, with jobs waiting: never", async () => {
    const paused = scenario({ look: reachable(5, true), answers: true });
    await paused.run(120);
    const busy = scenario({ look: reachable(5), answers: true, running: 10 });
    await busy.run(120);
    expect([...paused.silences, ...busy.silences]).toEqual([]);
  });

  it("a suspicion that clears before silentAfterMs starts over", async () => {
    const { world, silences, run } = scenario({ look: reachable(), answers: false });
    await run(20);
    world.answers = true;
    await run(10);
    world.answers = false;
    await run(30);
    expect(silences).toEqual([]);
    await run(10);
    expect(silences).toHaveLength(1);
  });
});
