import { afterAll, afterEach, beforeAll } from "vitest";
import { type LocalRedis, startRedisServer } from "./redis-server.ts";

export interface RedisServerFixture {
  /** The server's URL (valid once the suite's beforeAll has run). */
  readonly url: string;
  /** Closed after each test, so no connection or queue outlives the test that opened it. */
  readonly closers: (() => Promise<unknown>)[];
}

/** A redis-server for the whole file (started before, stopped after), and per-test cleanup. */
export function useRedisServer(): RedisServerFixture {
  let server: LocalRedis | undefined;
  const closers: (() => Promise<unknown>)[] = [];
  beforeAll(async () => {
    server = await startRedisServer();
  });
  afterEach(async () => {
    await Promise.all(closers.splice(0).map((close) => close()));
  });
  afterAll(async () => {
    await server?.stop();
  });
  return {
    get url() {
      if (!server) throw new Error("useRedisServer: the server starts in beforeAll; read url inside a test");
      return server.url;
    },
    closers,
  };
}
