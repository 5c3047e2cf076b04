import { DEFAULT_QUEUE_PREFIX, luaScript, type RedisClient, runScript } from "@reframe/redis";
import { ErrorCode, Job, type Queue } from "bullmq";
import { TASK_RETENTION_MS, taskStoreKeys } from "./names.ts";
import { type TaskOutcomeRecord, taskOutcomeRecordSchema } from "./task-outcome.ts";

/**
 * The state shared by the worker, the reconciler and any number of webhook receivers: which job a
 * provider task belongs to, the task's outcome (the first final one wins; "not found" is provisional,
 * see store-outcome.lua), and which tasks still wait for one.
 * Everything lives in Redis under the queue prefix (names.ts), so any process can take any part.
 */

export interface TaskRegistration {
  taskUUID: string;
  jobId: string;
  /** Epoch ms: the task's record is kept until this plus TASK_RETENTION_MS. */
  deadline: number;
  /** Epoch ms: the reconciler's first poll. */
  nextCheckAt: number;
}

export interface TaskStore {
  registerTasks(tasks: readonly TaskRegistration[]): Promise<void>;
  storeOutcome(
    taskUUID: string,
    outcome: TaskOutcomeRecord,
  ): Promise<{ stored: boolean; jobId: string | null }>;
  getOutcomes(taskUUIDs: readonly string[]): Promise<Map<string, TaskOutcomeRecord>>;
  /** Pending tasks whose next check is due, earliest first. */
  duePending(now: number, limit: number): Promise<string[]>;
  /** Moves the next check of tasks that are still pending; tasks with an outcome stay out. */
  reschedule(entries: readonly { taskUUID: string; at: number }[]): Promise<void>;
  /** Removes everything about these tasks (their job finished). */
  forget(taskUUIDs: readonly string[]): Promise<void>;
  jobIdOf(taskUUID: string): Promise<string | null>;
  /** When the task was last registered (epoch ms), or null when unknown. */
  registeredAt(taskUUID: string): Promise<number | null>;
  /** The same for many tasks, in one round trip; in input order. */
  registeredAtMany(taskUUIDs: readonly string[]): Promise<(number | null)[]>;
  pendingCount(): Promise<number>;
}

const STORE_OUTCOME = luaScript(new URL("./lua/store-outcome.lua", import.meta.url));
const REGISTER_TASKS = luaScript(new URL("./lua/register-tasks.lua", import.meta.url));

export function createTaskStore(
  redis: RedisClient,
  { prefix = DEFAULT_QUEUE_PREFIX, now = Date.now }: { prefix?: string; now?: () => number } = {},
): TaskStore {
  const keys = taskStoreKeys(prefix);
  return {
    async registerTasks(tasks) {
      if (tasks.length === 0) return;
      const registeredAt = now();
      const args = tasks.flatMap((task) => [
        task.taskUUID,
        task.jobId,
        registeredAt,
        task.nextCheckAt,
        task.deadline + TASK_RETENTION_MS,
      ]);
      await runScript(
        redis,
        REGISTER_TASKS,
        [keys.pending, ...tasks.map((task) => keys.task(task.taskUUID))],
        args,
      );
    },

    async storeOutcome(taskUUID, outcome) {
      const record = JSON.stringify(taskOutcomeRecordSchema.parse(outcome));
      const [stored, jobId] = (await runScript(
        redis,
        STORE_OUTCOME,
        [keys.task(taskUUID), keys.pending],
        [taskUUID, record, outcome.kind === "resubmit" ? "1" : "0"],
      )) as [number, string | null];
      return { stored: stored === 1, jobId: jobId ?? null };
    },

    async getOutcomes(taskUUIDs) {
      const outcomes = new Map<string, TaskOutcomeRecord>();
      if (taskUUIDs.length === 0) return outcomes;
      const pipeline = redis.pipeline();
      for (const taskUUID of taskUUIDs) pipeline.hget(keys.task(taskUUID), "outcome");
      const replies = (await pipeline.exec()) ?? [];
      replies.forEach(([error, value], index) => {
        if (error) throw error;
        if (typeof value === "string") {
          outcomes.set(taskUUIDs[index]!, taskOutcomeRecordSchema.parse(JSON.parse(value)));
        }
      });
      return outcomes;
    },

    async duePending(at, limit) {
      if (limit <= 0) return [];
      return redis.zrangebyscore(keys.pending, "-inf", at, "LIMIT", 0, limit);
    },

    async reschedule(entries) {
      if (entries.length === 0) return;
      // XX: only tasks still pending; one whose outcome arrived meanwhile must not come back.
      const pairs = entries.flatMap((entry) => [entry.at, entry.taskUUID]);
      await redis.zadd(keys.pending, "XX", ...pairs);
    },

    async forget(taskUUIDs) {
      if (taskUUIDs.length === 0) return;
      await redis
        .multi()
        .del(...taskUUIDs.map((taskUUID) => keys.task(taskUUID)))
        .zrem(keys.pending, ...taskUUIDs)
        .exec();
    },

    jobIdOf: (taskUUID) => redis.hget(keys.task(taskUUID), "jobId"),

    async registeredAt(taskUUID) {
      const value = await redis.hget(keys.task(taskUUID), "registeredAt");
      return value === null ? null : Number(value);
    },

    async registeredAtMany(taskUUIDs) {
      if (taskUUIDs.length === 0) return [];
      const pipeline = redis.pipeline();
      for (const taskUUID of taskUUIDs) pipeline.hget(keys.task(taskUUID), "registeredAt");
      const replies = (await pipeline.exec()) ?? [];
      return replies.map(([error, value]) => {
        if (error) throw error;
        return typeof value === "string" ? Number(value) : null;
      });
    },

    pendingCount: () => redis.zcard(keys.pending),
  };
}

export type PromoteResult = "promoted" | "not-delayed" | "missing";

/**
 * Wakes a parked (delayed) job so a worker finalises it now. A delayed job holds no lock, so any
 * process may do this. A job that is waiting, active or finished is not an
 * error: it will read the stored outcome on its own next run.
 */
export async function promoteJob(queue: Queue, jobId: string): Promise<PromoteResult> {
  const job = await Job.fromId(queue, jobId);
  if (!job) return "missing";
  try {
    await job.promote();
    return "promoted";
  } catch (error) {
    if ((error as { code?: unknown }).code === ErrorCode.JobNotInState) return "not-delayed";
    throw error;
  }
}
