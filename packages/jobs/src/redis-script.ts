import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import type { Redis } from "ioredis";

/**
 * A Lua script of a `lua/` folder beside `base` (this package's by default; another package passes
 * its own `import.meta.url`), loaded once per process.
 */
export interface LuaScript {
  source: string;
  sha: string;
}

export function luaScript(file: string, base: string = import.meta.url): LuaScript {
  const source = readFileSync(new URL(`./lua/${file}`, base), "utf8");
  return { source, sha: createHash("sha1").update(source).digest("hex") };
}

/** EVALSHA, and EVAL once when the server does not have the script yet (after a restart or flush). */
export async function runScript(
  redis: Redis,
  script: LuaScript,
  keys: string[],
  args: (string | number)[],
): Promise<unknown> {
  try {
    return await redis.evalsha(script.sha, keys.length, ...keys, ...args);
  } catch (error) {
    if (!(error instanceof Error) || !error.message.startsWith("NOSCRIPT")) throw error;
    return redis.eval(script.source, keys.length, ...keys, ...args);
  }
}
