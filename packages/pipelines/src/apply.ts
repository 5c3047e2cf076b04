import type { Queue } from "bullmq";
import type { PipelinesFile } from "./pipeline-file.ts";
import { type PipelineStore, pipelineDigest } from "./pipeline-store.ts";
import {
  PIPELINE_RUN_JOB_NAME,
  PIPELINE_RUN_JOB_OPTIONS,
  type PipelineRunData,
  schedulerIdOf,
} from "./run-queue.ts";

export type ApplyChange = "created" | "updated" | "unchanged" | "removed";

export interface AppliedChange {
  pipeline: string;
  change: ApplyChange;
  /** The next scheduled run (epoch ms), for pipelines with a schedule. */
  nextRunAt: number | undefined;
}

/**
 * Makes Redis hold exactly the file's pipelines (declarative, like `kubectl apply` with pruning):
 * new or changed definitions are stored and their job schedulers upserted; an unchanged pipeline
 * whose scheduler exists is left alone, so applying the same file twice changes nothing (an upsert
 * would also be harmless, but it recomputes the next run); pipelines no longer in the file lose
 * their definition and scheduler. Runs already started are not touched.
 */
export async function applyPipelines(
  file: PipelinesFile,
  { store, runQueue, now = Date.now }: { store: PipelineStore; runQueue: Queue; now?: () => number },
): Promise<AppliedChange[]> {
  const applied = new Map((await store.all()).map((pipeline) => [pipeline.name, pipeline]));
  const changes: AppliedChange[] = [];
  for (const [name, definition] of Object.entries(file.pipelines)) {
    const before = applied.get(name);
    const schedulerId = schedulerIdOf(name);
    const scheduler = definition.schedule ? await runQueue.getJobScheduler(schedulerId) : undefined;
    const unchanged =
      before?.digest === pipelineDigest(definition) &&
      (definition.schedule === undefined || scheduler !== undefined);
    if (unchanged) {
      changes.push({ pipeline: name, change: "unchanged", nextRunAt: scheduler?.next });
      continue;
    }
    await store.put(name, definition, now());
    let nextRunAt: number | undefined;
    if (definition.schedule) {
      const data: PipelineRunData = { pipeline: name, trigger: "schedule" };
      await runQueue.upsertJobScheduler(
        schedulerId,
        { pattern: definition.schedule.cron, tz: definition.schedule.timezone },
        { name: PIPELINE_RUN_JOB_NAME, data, opts: PIPELINE_RUN_JOB_OPTIONS },
      );
      nextRunAt = (await runQueue.getJobScheduler(schedulerId))?.next;
    } else {
      await runQueue.removeJobScheduler(schedulerId);
    }
    changes.push({ pipeline: name, change: before ? "updated" : "created", nextRunAt });
  }
  for (const name of applied.keys()) {
    if (name in file.pipelines) continue;
    await runQueue.removeJobScheduler(schedulerIdOf(name));
    await store.remove(name);
    changes.push({ pipeline: name, change: "removed", nextRunAt: undefined });
  }
  return changes;
}
