import { createConnection } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalRedis, startRedisServer } from "./redis-server.ts";

/** A minimal RESP exchange, so the harness is tested without the client the project uses. */
function redisCommand(port: number, ...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(port, "127.0.0.1");
    let reply = "";
    socket.on("data", (chunk) => {
      reply += chunk.toString();
      if (reply.endsWith("\r\n")) socket.end();
    });
    socket.on("end", () => resolve(reply));
    socket.on("error", reject);
    socket.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join("")}`);
  });
}

describe("startRedisServer", () => {
  let redis: LocalRedis;
  beforeAll(async () => {
    redis = await startRedisServer();
  });
  afterAll(async () => {
    await redis?.stop();
  });

  it("runs on a free port other than 6379 with the noeviction policy", async () => {
    expect(redis.port).not.toBe(6379);
    expect(redis.url).toBe(`redis://127.0.0.1:${redis.port}`);
    const reply = await redisCommand(redis.port, "CONFIG", "GET", "maxmemory-policy");
    expect(reply).toContain("noeviction");
  });

  it("keeps data across a restart when AOF is on", async () => {
    const durable = await startRedisServer({ appendOnly: true });
    try {
      await redisCommand(durable.port, "SET", "k", "v");
      await durable.restart();
      expect(await redisCommand(durable.port, "GET", "k")).toContain("v");
    } finally {
      await durable.stop();
    }
  });
});
