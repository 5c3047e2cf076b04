/**
 * Names shared by every process that touches reframe's Redis: the queue prefix, the queue names and
 * the keys of the task store.
 *
 * The prefix is braced ("{reframe}") so that Redis Cluster hashes only "reframe": every BullMQ key
 * and every task-store key lands in one hash slot, which multi-key Lua scripts and MULTI need
 * (BullMQ "patterns/redis-cluster"). A prefix without braces still works on a single Redis.
 */

export const DEFAULT_QUEUE_PREFIX = "{reframe}";
export const OUTPAINT_QUEUE = "outpaint";
/** Deliveries of events to outbound endpoints (Standard Webhooks): one job per event and endpoint. */
export const DELIVERY_QUEUE = "webhook-deliveries";
/** The BullMQ job name of every job in the outpaint queue. */
export const OUTPAINT_JOB_NAME = "outpaint";

/** BullMQ joins prefix, queue name and job id with ":"; a name or id containing one breaks that. */
export const QUEUE_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

/**
 * Task-store keys. One hash per provider task (taskUUID) rather than one big hash for all tasks, so
 * that each task can expire on its own (Redis 7.0 has no per-field TTL): a task whose job is never
 * finalised (removed by hand, obliterated) cannot leak.
 *
 * - `task(taskUUID)`: hash { jobId, registeredAt, outcome (JSON) }, expires
 *   TASK_RETENTION_MS after the task's deadline.
 * - `pending`: sorted set of taskUUIDs still waiting for an outcome, score = next poll time (epoch
 *   ms); the reconciler reads it, storing an outcome removes the member.
 */
export interface TaskStoreKeys {
  task(taskUUID: string): string;
  pending: string;
}

export function taskStoreKeys(prefix: string = DEFAULT_QUEUE_PREFIX): TaskStoreKeys {
  return {
    task: (taskUUID) => `${prefix}:task:${taskUUID}`,
    pending: `${prefix}:tasks:pending`,
  };
}

/**
 * How long a task's record outlives its deadline. A job can sit parked behind a paused queue (credits
 * exhausted) for a long time and must still find its outcome when it wakes, or it would pay for the
 * same work again; 7 days matches the completed-job retention of the outpaint queue.
 */
export const TASK_RETENTION_MS = 7 * 24 * 60 * 60 * 1000;
