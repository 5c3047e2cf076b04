import { DEFAULT_QUEUE_PREFIX } from "@reframe/jobs";
import { inArea, type S3Area } from "@reframe/storage";
import type { Redis } from "ioredis";

/**
 * The intake's second loop guard, independent of key templates: the worker records every key it is
 * about to write (an output before its presigned URL leaves for the provider, a copy or a
 * pre-scaled scratch object before its PUT), and the intake never starts a job for a recorded key.
 * The provider writes through a presigned URL that signs only the host, so reframe cannot mark its
 * objects with metadata; the record is in Redis instead:
 *   written:<bucket>        zset  key -> until when it counts as reframe's (epoch ms)
 *   pipelines:watched       set   "<bucket>/<prefix>" of every trigger (kept by the pipeline store)
 * Bounded: only keys in an area some trigger watches are recorded (with `apply`'s check, outputs
 * never land there, so in a sound setup nothing is), and each for a day, longer than S3 takes to
 * deliver an event. The worker reads the watched areas at most once a second: a trigger applied
 * within that second may take one output for an upload once, whose own output is then recorded.
 */

export const WRITTEN_OBJECT_RETENTION_MS = 86_400_000;
const WATCHED_CACHE_MS = 1000;

export interface WrittenObjects {
  /** Records keys reframe is about to write into `bucket`; call it before the write can happen. */
  record(bucket: string, keys: readonly string[]): Promise<void>;
  /** Per object, in order: whether reframe wrote it (within the retention). */
  written(objects: readonly { bucket: string; key: string }[]): Promise<boolean[]>;
}

export function watchedAreasKey(prefix: string): string {
  return `${prefix}:pipelines:watched`;
}

export function createWrittenObjects(
  redis: Redis,
  { prefix = DEFAULT_QUEUE_PREFIX, now = Date.now }: { prefix?: string; now?: () => number } = {},
): WrittenObjects {
  const writtenKey = (bucket: string) => `${prefix}:written:${bucket}`;
  let watched: { areas: S3Area[]; readAt: number } | undefined;
  const watchedAreas = async (): Promise<S3Area[]> => {
    const at = now();
    if (!watched || at - watched.readAt >= WATCHED_CACHE_MS) {
      const members = await redis.smembers(watchedAreasKey(prefix));
      watched = {
        readAt: at,
        areas: members.map((member) => {
          const slash = member.indexOf("/");
          return { bucket: member.slice(0, slash), prefix: member.slice(slash + 1) };
        }),
      };
    }
    return watched.areas;
  };
  return {
    async record(bucket, keys) {
      const areas = (await watchedAreas()).filter((area) => area.bucket === bucket);
      const recorded = keys.filter((key) => areas.some((area) => inArea(area, { bucket, key })));
      if (recorded.length === 0) return;
      const at = now();
      const until = at + WRITTEN_OBJECT_RETENTION_MS;
      await redis
        .multi()
        .zremrangebyscore(writtenKey(bucket), "-inf", at)
        .zadd(writtenKey(bucket), ...recorded.flatMap((key) => [until, key]))
        .pexpire(writtenKey(bucket), WRITTEN_OBJECT_RETENTION_MS)
        .exec();
    },
    async written(objects) {
      if (objects.length === 0) return [];
      const at = now();
      const byBucket = Map.groupBy(objects, (object) => object.bucket);
      const pipeline = redis.pipeline();
      for (const [bucket, members] of byBucket)
        pipeline.zmscore(writtenKey(bucket), ...members.map((object) => object.key));
      const replies = (await pipeline.exec()) ?? [];
      const found = new Set<string>();
      [...byBucket].forEach(([bucket, members], index) => {
        const [error, scores] = replies[index] ?? [];
        if (error) throw error;
        (scores as (string | null)[]).forEach((score, position) => {
          if (score !== null && Number(score) > at) found.add(`${bucket}/${members[position]!.key}`);
        });
      });
      return objects.map((object) => found.has(`${object.bucket}/${object.key}`));
    },
  };
}
