import { randomUUID } from "node:crypto";
import { createRedisConnection } from "@reframe/jobs";
import { useRedisServer } from "@reframe/testkit";
import { describe, expect, it } from "vitest";
import { pipelineSchema } from "./pipeline-file.ts";
import { createPipelineStore } from "./pipeline-store.ts";
import { createWrittenObjects, WRITTEN_OBJECT_RETENTION_MS, watchedAreasKey } from "./written-objects.ts";

const server = useRedisServer();
const T0 = Date.parse("2026-11-25T08:00:00Z");

function setup() {
  const redis = createRedisConnection(server.url, { role: "worker" });
  server.closers.push(() => redis.quit());
  const prefix = `{w-${randomUUID()}}`;
  let now = T0;
  return {
    redis,
    prefix,
    store: createPipelineStore(redis, { prefix }),
    written: createWrittenObjects(redis, { prefix, now: () => now }),
    advance(ms: number) {
      now += ms;
    },
  };
}

const watching = (bucket: string, prefix: string) =>
  pipelineSchema.parse({
    targets: ["1:1"],
    output: { bucket: "elsewhere" },
    triggers: [{ bucket, prefix }],
  });

describe("the record of objects reframe wrote", () => {
  it("keeps the areas every trigger watches beside the applied pipelines, put or removed", async () => {
    const { redis, prefix, store } = setup();
    await store.put("a", watching("media", "drop/"), T0);
    await store.put("b", watching("media", ""), T0);
    expect((await redis.smembers(watchedAreasKey(prefix))).sort()).toEqual(["media/", "media/drop/"]);
    expect(await store.remove("b")).toBe(true);
    expect(await redis.smembers(watchedAreasKey(prefix))).toEqual(["media/drop/"]);
    expect(await store.remove("b")).toBe(false);
  });

  it("records only keys where some trigger watches, and only for its retention", async () => {
    const { redis, prefix, store, written, advance } = setup();
    await store.put("a", watching("media", "drop/"), T0);
    await written.record("media", ["drop/x-16x9.jpg", "out/x.jpg"]);
    await written.record("other", ["drop/x.jpg"]);
    expect(await redis.zrange(`${prefix}:written:media`, 0, -1)).toEqual(["drop/x-16x9.jpg"]);
    expect(await redis.exists(`${prefix}:written:other`)).toBe(0);
    const asked = [
      { bucket: "media", key: "drop/x-16x9.jpg" },
      { bucket: "media", key: "out/x.jpg" },
      { bucket: "other", key: "drop/x.jpg" },
    ];
    expect(await written.written(asked)).toEqual([true, false, false]);
    advance(WRITTEN_OBJECT_RETENTION_MS);
    expect(await written.written(asked)).toEqual([false, false, false]);
  });

  it("re-reads the watched areas at most once a second", async () => {
    const { store, written, advance } = setup();
    await written.record("media", ["drop/a.jpg"]);
    await store.put("a", watching("media", "drop/"), T0);
    await written.record("media", ["drop/b.jpg"]);
    advance(1000);
    await written.record("media", ["drop/c.jpg"]);
    const keys = ["drop/a.jpg", "drop/b.jpg", "drop/c.jpg"].map((key) => ({ bucket: "media", key }));
    expect(await written.written(keys)).toEqual([false, false, true]);
  });
});
