import { Job, type Queue } from "bullmq";

/**
 * The trace context a job was added with (bullmq-otel writes it into the job's options), read with
 * one HGET: a process that touches the job from outside (a webhook) links its own span to the job's
 * trace with it. Undefined when the job is gone or was added while tracing was off.
 */
export async function jobTraceMetadata(
  queue: Pick<Queue, "toKey" | "getBackend">,
  jobId: string,
): Promise<string | undefined> {
  const client = await queue.getBackend().client;
  const raw = await client.hget(queue.toKey(jobId), "opts");
  if (!raw) return undefined;
  try {
    return Job.optsFromJSON(raw).telemetry?.metadata;
  } catch {
    return undefined;
  }
}
