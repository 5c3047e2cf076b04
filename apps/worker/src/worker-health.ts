import type { HealthReport } from "@reframe/telemetry";
import type { WorkerSession } from "./worker-session.ts";

/**
 * Readiness of a worker process (its metrics listener's `GET /healthz`, the Kubernetes readiness
 * probe): ready while its session's Redis connection is up and its BullMQ worker takes jobs. A
 * paused queue is still ready: the pause is the operator's, and the pod can do nothing about it.
 * Liveness is `GET /livez`: the watchdog already replaces a session that went silent, so a restart
 * is only for a process whose event loop no longer runs.
 */
export function workerHealth(
  session: WorkerSession | undefined,
  stopping: boolean,
  /** Why it takes no jobs yet, e.g. `S3 unreachable: cannot reach S3 at … (connection refused)`. */
  waitingFor?: string,
): HealthReport {
  if (stopping) return { ok: false, reason: "stopping: active jobs finish or park" };
  if (waitingFor) return { ok: false, reason: waitingFor };
  if (!session) return { ok: false, reason: "starting: Redis, S3 and the provider are being checked" };
  const status = session.connection.status;
  if (status !== "ready") return { ok: false, reason: `Redis connection ${status}` };
  if (!session.worker.isRunning()) return { ok: false, reason: "the BullMQ worker is not taking jobs" };
  return { ok: true };
}
