import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import type { Redis } from "ioredis";

const RENEW = readFileSync(new URL("./lua/renew-lock.lua", import.meta.url), "utf8");
const RELEASE = readFileSync(new URL("./lua/release-lock.lua", import.meta.url), "utf8");

/** A Redis lock with expiry: one holder at a time; a holder that dies loses it after `ttlMs`. */
export class LeaderLock {
  private readonly redis: Redis;
  private readonly key: string;
  private readonly ttlMs: number;
  readonly token = randomUUID();

  constructor(redis: Redis, key: string, ttlMs: number) {
    this.redis = redis;
    this.key = key;
    this.ttlMs = ttlMs;
  }

  /** Takes the lock when free, renews it when held; false when another process holds it. */
  async acquireOrRenew(): Promise<boolean> {
    return (await this.redis.eval(RENEW, 1, this.key, this.token, String(this.ttlMs))) === 1;
  }

  async release(): Promise<void> {
    await this.redis.eval(RELEASE, 1, this.key, this.token);
  }
}
