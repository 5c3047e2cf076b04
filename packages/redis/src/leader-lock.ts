import { randomUUID } from "node:crypto";
import { luaScript, runScript } from "./lua-script.ts";
import type { RedisClient } from "./redis-client.ts";

const RENEW = luaScript(new URL("./lua/renew-lock.lua", import.meta.url));
const RELEASE = luaScript(new URL("./lua/release-lock.lua", import.meta.url));

/** A Redis lock with expiry: one holder at a time; a holder that dies loses it after `ttlMs`. */
export class LeaderLock {
  private readonly redis: RedisClient;
  private readonly key: string;
  private readonly ttlMs: number;
  readonly token = randomUUID();

  constructor(redis: RedisClient, key: string, ttlMs: number) {
    this.redis = redis;
    this.key = key;
    this.ttlMs = ttlMs;
  }

  /** Takes the lock when free, renews it when held; false when another process holds it. */
  async acquireOrRenew(): Promise<boolean> {
    return (await runScript(this.redis, RENEW, [this.key], [this.token, this.ttlMs])) === 1;
  }

  async release(): Promise<void> {
    await runScript(this.redis, RELEASE, [this.key], [this.token]);
  }
}
