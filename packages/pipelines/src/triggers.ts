import { enqueueMany, type OutpaintJobInput } from "@reframe/jobs";
import { expandJobs } from "@reframe/sources";
import type { CreatedObject } from "@reframe/storage";
import type { Queue } from "bullmq";
import { jobTemplateOf, outputAreaOf } from "./job-template.ts";
import type { Trigger } from "./pipeline-file.ts";
import type { AppliedPipeline } from "./pipeline-store.ts";

/**
 * Upload-triggered jobs: each created object is matched against every pipeline's triggers (bucket,
 * prefix, suffix, size) and becomes that pipeline's jobs. Two guards come first:
 * - the loop guard: an object under any pipeline's output area (or another ignored area, such as the
 *   worker's scratch prefix) is an output and never triggers a job, even if a trigger would match;
 * - duplicates: the job id hashes bucket, key and ETag (or version, or the event's sequencer), so a
 *   redelivered or repeated event for the same object version adds nothing.
 */

export type ObjectDisposition = "matched" | "output" | "unmatched";

export interface IntakeResult {
  objects: number;
  /** Objects by what happened to them. */
  dispositions: Record<ObjectDisposition, number>;
  /** Jobs new to the queue, and jobs the same events had already added. */
  added: number;
  duplicates: number;
  jobIds: string[];
}

export function triggerMatches(trigger: Trigger, object: CreatedObject): boolean {
  if (trigger.bucket !== object.bucket || !object.key.startsWith(trigger.prefix)) return false;
  const key = object.key.toLowerCase();
  if (trigger.suffix.length > 0 && !trigger.suffix.some((suffix) => key.endsWith(suffix.toLowerCase())))
    return false;
  if (object.size !== undefined) {
    if (trigger.minSize !== undefined && object.size < trigger.minSize) return false;
    if (trigger.maxSize !== undefined && object.size > trigger.maxSize) return false;
  }
  return true;
}

export function dispositionOf(
  object: CreatedObject,
  pipelines: readonly AppliedPipeline[],
  ignoreAreas: readonly { bucket: string; prefix: string }[] = [],
): { disposition: ObjectDisposition; pipelines: AppliedPipeline[] } {
  const areas = [...pipelines.map((applied) => outputAreaOf(applied.definition)), ...ignoreAreas];
  if (areas.some((area) => area.bucket === object.bucket && object.key.startsWith(area.prefix)))
    return { disposition: "output", pipelines: [] };
  const matched = pipelines.filter((applied) =>
    applied.definition.triggers.some((trigger) => triggerMatches(trigger, object)),
  );
  return { disposition: matched.length > 0 ? "matched" : "unmatched", pipelines: matched };
}

/** The jobs the objects trigger, enqueued in one call (idempotent, all-or-nothing validation). */
export async function ingestCreatedObjects(
  objects: readonly CreatedObject[],
  {
    pipelines,
    queue,
    ignoreAreas = [],
  }: {
    pipelines: readonly AppliedPipeline[];
    queue: Queue;
    ignoreAreas?: readonly { bucket: string; prefix: string }[];
  },
): Promise<IntakeResult> {
  const dispositions: Record<ObjectDisposition, number> = { matched: 0, output: 0, unmatched: 0 };
  const inputs: OutpaintJobInput[] = [];
  for (const object of objects) {
    const outcome = dispositionOf(object, pipelines, ignoreAreas);
    dispositions[outcome.disposition] += 1;
    for (const applied of outcome.pipelines) {
      const item = {
        source: {
          kind: "s3" as const,
          bucket: object.bucket,
          key: object.key,
          ...(object.eTag ? { etag: object.eTag } : {}),
          ...(object.versionId ? { versionId: object.versionId } : {}),
          ...(object.sequencer ? { sequencer: object.sequencer } : {}),
        },
        origin: `s3://${object.bucket}/${object.key}`,
        overrides: {},
      };
      inputs.push(
        ...expandJobs([item], jobTemplateOf(applied.name, applied.definition, { requester: "s3-event" })),
      );
    }
  }
  const result = inputs.length > 0 ? await enqueueMany(queue, inputs) : undefined;
  return {
    objects: objects.length,
    dispositions,
    added: result?.added ?? 0,
    duplicates: (result?.existing ?? 0) + (result?.duplicates ?? 0),
    jobIds: result?.jobIds ?? [],
  };
}
