import { DEFAULT_QUEUE_PREFIX, type RedisClient } from "@reframe/redis";
import { BATCH_ID_PATTERN, type BatchInfo, batchInfoSchema } from "./batch-store.ts";

export interface BatchListEntry {
  batchId: string;
  info: BatchInfo;
}

/**
 * The most recent batches, newest first. Batches keep no index of their own, so this walks the
 * keyspace with SCAN (MATCH on the batch hashes, never KEYS): fine for a dashboard or a CLI listing
 * read now and then, not for a hot path.
 */
export async function listBatches(
  redis: RedisClient,
  { prefix = DEFAULT_QUEUE_PREFIX, limit = 50 }: { prefix?: string; limit?: number } = {},
): Promise<BatchListEntry[]> {
  const base = `${prefix}:batch:`;
  const ids = new Set<string>();
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", `${escapeGlob(base)}*`, "COUNT", 1000);
    cursor = next;
    for (const key of keys) {
      const id = key.slice(base.length);
      if (BATCH_ID_PATTERN.test(id)) ids.add(id);
    }
  } while (cursor !== "0");
  const list = [...ids];
  const pipeline = redis.pipeline();
  for (const id of list) pipeline.hget(`${base}${id}`, "info");
  const replies = list.length === 0 ? [] : ((await pipeline.exec()) ?? []);
  const entries: BatchListEntry[] = [];
  for (const [index, [error, raw]] of replies.entries()) {
    if (error || typeof raw !== "string") continue;
    const parsed = batchInfoSchema.safeParse(JSON.parse(raw));
    if (parsed.success) entries.push({ batchId: list[index]!, info: parsed.data });
  }
  return entries.sort((a, b) => b.info.createdAt - a.info.createdAt).slice(0, limit);
}

/** Redis glob special characters in a prefix such as "{reframe}" are taken literally. */
function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, "\\$&");
}
