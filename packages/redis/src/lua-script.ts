import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { fileURLToPath } from "node:url";
import { inOneSlot } from "./hash-slot.ts";
import type { RedisClient } from "./redis-client.ts";

/**
 * A Lua script from a package's `lua/` folder, loaded once per process. Its header lists KEYS,
 * ARGV and the return codes.
 */
export interface LuaScript {
  /** The file name, for messages. */
  name: string;
  source: string;
  sha: string;
}

/** `luaScript(new URL("./lua/store-outcome.lua", import.meta.url))` */
export function luaScript(file: URL): LuaScript {
  const source = readFileSync(file, "utf8");
  return {
    name: basename(fileURLToPath(file)),
    source,
    sha: createHash("sha1").update(source).digest("hex"),
  };
}

/**
 * EVALSHA, and EVAL once when the server does not have the script yet (after a restart, a flush or
 * a failover to a replica that never ran it). Every key must hash to one Cluster slot, checked here
 * on every topology, so a key without the braced prefix fails on a developer's single Redis too and
 * not first on a production Cluster (where Redis would answer CROSSSLOT).
 */
export async function runScript(
  client: RedisClient,
  script: LuaScript,
  keys: readonly string[],
  args: readonly (string | number)[],
): Promise<unknown> {
  if (!inOneSlot(keys)) {
    throw new TypeError(
      `Lua script ${script.name}: its keys hash to more than one Redis Cluster slot (${keys.join(", ")}); give them one hash tag, as the braced QUEUE_PREFIX does`,
    );
  }
  try {
    return await client.evalsha(script.sha, keys.length, ...keys, ...args);
  } catch (error) {
    if (!(error instanceof Error) || !error.message.startsWith("NOSCRIPT")) throw error;
    return client.eval(script.source, keys.length, ...keys, ...args);
  }
}
