import { randomUUID } from "node:crypto";
import { useRedisServer } from "@reframe/testkit";
import { Queue } from "bullmq";
import { describe, expect, it } from "vitest";
import { DELIVERY_QUEUE } from "./names.ts";
import { createRedisConnection } from "./queues.ts";
import { deliveryId, openRouteQueues, parseRouteDestination, publishEvent } from "./route-publisher.ts";

const server = useRedisServer();

describe("parseRouteDestination", () => {
  it.each([
    ["cdn-purge", { kind: "queue", queue: "cdn-purge" }],
    ["webhook:dam", { kind: "webhook", endpoint: "dam" }],
    ["webhook:", undefined],
    ["webhook:a:b", undefined],
    ["other:dam", undefined],
    ["", undefined],
  ])("%s", (entry, expected) => {
    expect(parseRouteDestination(entry)).toEqual(expected);
  });
});

describe("publishEvent", () => {
  function fixture() {
    const prefix = `{t-${randomUUID()}}`;
    const connection = createRedisConnection(server.url, { role: "worker" });
    const routes = openRouteQueues({ connection, prefix });
    const readers: Queue[] = [];
    const reader = (name: string) => {
      const queue = new Queue(name, { connection, prefix });
      readers.push(queue);
      return queue;
    };
    server.closers.push(async () => {
      await routes.close();
      await Promise.all(readers.map((queue) => queue.close()));
      await connection.quit();
    });
    return { routes, reader };
  }

  it("adds the event to each queue and one delivery per endpoint, once however often it is published", async () => {
    const { routes, reader } = fixture();
    const event = { id: "evt-1", type: "reframe.outpaint.completed.v1", data: { jobId: "op-1" } };
    const route = ["cdn", "webhook:dam", "webhook:slack", "audit"];
    await publishEvent(routes, route, event);
    await publishEvent(routes, route, event);
    for (const name of ["cdn", "audit"]) {
      const jobs = await reader(name).getJobs(["waiting"]);
      expect(jobs.map((job) => [job.id, job.name, job.data])).toEqual([["evt-1", event.type, event]]);
    }
    const deliveries = await reader(DELIVERY_QUEUE).getJobs(["waiting"]);
    expect(deliveries.map((job) => [job.id, job.data]).sort()).toEqual(
      [
        [deliveryId("dam", "evt-1"), { endpoint: "dam", event }],
        [deliveryId("slack", "evt-1"), { endpoint: "slack", event }],
      ].sort(),
    );
  });

  it("refuses an entry that names no destination", async () => {
    const { routes } = fixture();
    await expect(publishEvent(routes, ["bad:name"], { id: "evt-2", type: "t" })).rejects.toThrow(
      /route entry "bad:name": must be a queue name/,
    );
  });

  it("opens one queue per name and refuses a name with ':'", () => {
    const { routes } = fixture();
    expect(routes.queue("cdn")).toBe(routes.queue("cdn"));
    expect(routes.deliveries()).toBe(routes.deliveries());
    expect(() => routes.queue("a:b")).toThrow(/no ':'/);
  });
});

describe("deliveryId", () => {
  it("is dlv- and 32 hex digits, one per endpoint and event", () => {
    expect(deliveryId("dam", "evt-1")).toMatch(/^dlv-[0-9a-f]{32}$/);
    expect(deliveryId("dam", "evt-1")).toBe(deliveryId("dam", "evt-1"));
    expect(deliveryId("dam", "evt-1")).not.toBe(deliveryId("dam", "evt-2"));
    expect(deliveryId("dam", "evt-1")).not.toBe(deliveryId("slack", "evt-1"));
  });
});
