import { randomUUID } from "node:crypto";
import { deflateRawSync, inflateRawSync } from "node:zlib";
import { DEFAULT_QUEUE_PREFIX, luaScript, type RedisClient, runScript } from "@reframe/redis";
import type { Queue } from "bullmq";
import { admissionRoom, checkWindow, chunkSpan, chunksPassed } from "./admission-window.ts";
import { BATCH_RETENTION_MS, type BatchStore, batchKeys } from "./batch-store.ts";
import { addToBatch, type IdentifiedJob, parseOutpaintJob } from "./enqueue.ts";
import { type OutpaintJob, outpaintJobId } from "./outpaint-job.ts";

/**
 * Windowed admission: a batch's jobs wait as a compact stream in Redis, and only a window of them at
 * a time is in the outpaint queue. A producer writes the stream once (`writeStream`, then `commit`
 * registers it); an admitter (admitter.ts) tops the window up from the stream's position as the
 * batch's jobs end, and seals the batch after the last one.
 *
 * The stream is stored in Redis rather than in S3: chunks of STREAM_CHUNK_JOBS jobs as deflated JSON
 * (jobs of one run differ in their source and little else, so a job takes tens of bytes), in a list
 * whose head is the chunk that holds the position; passed chunks are dropped. A chunk holds the jobs
 * as the producer validated them, with their ids, so admitting one costs little more than adding it
 * (encodeChunk). It lives next to the batch it feeds (same prefix, same Cluster slot), so
 * registering it, moving its position and reading the batch's pending count are atomic, and a worker
 * needs nothing but the Redis it has.
 *
 * Every step is safe to repeat: admission goes through addToBatch with the batch, so a job admitted
 * twice (a crash between adding jobs and moving the position, or two admitters racing) is added once
 * and counted once; the position moves by compare and set (lua/admission-advance.lua).
 */

/** Jobs per stored chunk: one deflate, one list element. */
const STREAM_CHUNK_JOBS = 1000;

const ADMISSIONS_KEY = (prefix: string) => `${prefix}:admissions`;

const REGISTER = luaScript(new URL("./lua/admission-register.lua", import.meta.url));
const ADVANCE = luaScript(new URL("./lua/admission-advance.lua", import.meta.url));
const DONE = luaScript(new URL("./lua/admission-done.lua", import.meta.url));

/** A stream being written; nothing waits for admission until `commit`. */
export interface StreamWriter {
  /** Appends jobs (their labels.batchId must be the batch's). */
  write(jobs: readonly OutpaintJob[]): Promise<void>;
  /** Registers the stream (replacing one registered before); returns how many jobs wait. */
  commit(): Promise<{ jobs: number }>;
  /** Drops what was written: nothing was registered. */
  abort(): Promise<void>;
}

/** One admission pass over a batch. */
export interface AdmitResult {
  /** Jobs read from the stream and handed to the queue (added or skipped as already there). */
  admitted: number;
  added: number;
  existing: number;
  position: number;
  jobs: number;
  /** Every job of the stream is admitted and the batch is sealed: nothing is left to do. */
  finished: boolean;
  /** The seal closed the batch (nothing was pending): the caller announces its completion. */
  closed: boolean;
}

export interface Admission {
  writeStream(batchId: string, options: { window: number }): StreamWriter;
  /**
   * Admits what the window has room for, in slices of at most `sliceJobs`; after the stream's last
   * job, seals the batch. `shouldStop` is asked between slices. Undefined when no stream is registered.
   */
  admit(batchId: string, options?: { shouldStop?: () => boolean }): Promise<AdmitResult | undefined>;
  /** Batches whose stream is registered and not wholly admitted (or not sealed yet). */
  waitingBatches(): Promise<string[]>;
}

export function createAdmission(
  redis: RedisClient,
  {
    queue,
    store,
    prefix = DEFAULT_QUEUE_PREFIX,
    chunkSize = 500,
    sliceJobs = 5000,
    retentionMs = BATCH_RETENTION_MS,
  }: {
    queue: Queue;
    store: BatchStore;
    prefix?: string;
    /** Jobs per enqueue round trip (one state lookup, one batch join, one addBulk). */
    chunkSize?: number;
    /** Jobs read and enqueued per position move: bounds an admitter's memory whatever the window. */
    sliceJobs?: number;
    retentionMs?: number;
  },
): Admission {
  const index = ADMISSIONS_KEY(prefix);
  return {
    writeStream(batchId, { window }) {
      checkWindow(window);
      const keys = batchKeys(prefix, batchId);
      const streamId = randomUUID();
      const staging = `${keys.stream}:${streamId}`;
      let buffer: IdentifiedJob[] = [];
      let jobs = 0;
      const flush = async () => {
        if (buffer.length === 0) return;
        await redis.multi().rpush(staging, encodeChunk(buffer)).pexpire(staging, retentionMs).exec();
        buffer = [];
      };
      return {
        async write(batch) {
          for (const job of batch) {
            if (job.labels.batchId !== batchId)
              throw new TypeError(
                `a job of batch ${job.labels.batchId ?? "(none)"} in the stream of ${batchId}`,
              );
            buffer.push([outpaintJobId(job), job]);
            jobs += 1;
            if (buffer.length === STREAM_CHUNK_JOBS) await flush();
          }
        },
        async commit() {
          await flush();
          await runScript(
            redis,
            REGISTER,
            [keys.admission, keys.stream, staging, index, keys.batch],
            [batchId, streamId, jobs, window, STREAM_CHUNK_JOBS, retentionMs],
          );
          return { jobs };
        },
        async abort() {
          buffer = [];
          await redis.del(staging);
        },
      };
    },

    async admit(batchId, { shouldStop } = {}) {
      const keys = batchKeys(prefix, batchId);
      const total = { admitted: 0, added: 0, existing: 0 };
      for (;;) {
        const [[, record], [, pending]] = (await redis
          .multi()
          .hmget(keys.admission, "streamId", "position", "jobs", "window", "chunk")
          .scard(keys.pending)
          .exec()) as [[null, (string | null)[]], [null, number]];
        const [streamId, position, jobs, window, chunk] = record;
        if (!streamId) return undefined;
        const state = {
          window: Number(window),
          pending,
          position: Number(position),
          jobs: Number(jobs),
        };
        const count = Math.min(admissionRoom(state), sliceJobs);
        if (state.position >= state.jobs) {
          // Sealed only now, after the last job: a batch whose pending set empties between two
          // windows must not close. Sealing twice, announcing twice: each once (batch-store.ts).
          // A run started again may have registered a new stream since the record was read: then
          // nothing is sealed, and the next round admits that stream.
          const sealed = await store.seal(batchId, { admitted: streamId });
          if (sealed === "superseded") continue;
          const closed = sealed === "closed";
          await runScript(redis, DONE, [keys.admission, index], [batchId, streamId]);
          return { ...total, position: state.position, jobs: state.jobs, finished: true, closed };
        }
        if (count === 0 || shouldStop?.())
          return { ...total, position: state.position, jobs: state.jobs, finished: false, closed: false };
        const chunkJobs = Number(chunk);
        const span = chunkSpan(state.position, count, chunkJobs);
        const stored = await redis.lrangeBuffer(keys.stream, span.first, span.last);
        const slice = stored.flatMap(decodeChunk).slice(span.offset, span.offset + count);
        if (slice.length < count)
          throw new Error(`batch ${batchId}: its stream is shorter than its record says`);
        const result = await addToBatch(queue, slice, { chunkSize, batch: { store, batchId } });
        const to = state.position + count;
        await runScript(
          redis,
          ADVANCE,
          [keys.admission, keys.stream],
          [streamId, state.position, to, chunksPassed(state.position, to, chunkJobs), retentionMs],
        );
        total.admitted += count;
        total.added += result.added;
        total.existing += result.existing;
      }
    },

    async waitingBatches() {
      return redis.smembers(index);
    },
  };
}

/**
 * A chunk as stored: its job ids, and its jobs as the fields they share (`templates`: every field but
 * the source, each distinct set once) and a row per job of [template index, source]. The jobs were
 * validated and their ids computed when they were written (`write` takes parsed jobs only), so
 * admission neither validates nor hashes them again; a row is a fraction of a job's JSON to inflate
 * and parse.
 */
interface StoredChunk {
  ids: string[];
  templates: Omit<OutpaintJob, "source">[];
  rows: [template: number, source: OutpaintJob["source"]][];
}

function encodeChunk(jobs: readonly IdentifiedJob[]): Buffer {
  const chunk: StoredChunk = { ids: [], templates: [], rows: [] };
  const templates = new Map<string, number>();
  for (const [jobId, { source, ...template }] of jobs) {
    const key = JSON.stringify(template);
    let index = templates.get(key);
    if (index === undefined) {
      index = chunk.templates.push(template) - 1;
      templates.set(key, index);
    }
    chunk.ids.push(jobId);
    chunk.rows.push([index, source]);
  }
  return deflateRawSync(JSON.stringify(chunk));
}

function decodeChunk(stored: Buffer): IdentifiedJob[] {
  const chunk = JSON.parse(inflateRawSync(stored).toString("utf8")) as StoredChunk | unknown[];
  // A stream registered before chunks carried ids (a plain array of jobs): validated and hashed here.
  if (Array.isArray(chunk))
    return chunk.map((input) => {
      const job = parseOutpaintJob(input);
      return [outpaintJobId(job), job];
    });
  return chunk.rows.map(([template, source], index) => [
    chunk.ids[index]!,
    { ...chunk.templates[template]!, source } as OutpaintJob,
  ]);
}
