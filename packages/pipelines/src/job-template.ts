import type { OutpaintJobInput } from "@reframe/jobs";
import { type JobTemplate, outputAreasOf } from "@reframe/sources";
import type { S3Area } from "@reframe/storage";
import type { Pipeline } from "./pipeline-file.ts";
import type { AppliedPipeline } from "./pipeline-store.ts";

/** What every job of a pipeline asks for; `labels` say where the job came from. */
export function jobTemplateOf(
  name: string,
  pipeline: Pipeline,
  labels: Omit<OutpaintJobInput["labels"] & object, "pipeline">,
): JobTemplate {
  return {
    targets: pipeline.targets,
    ...(pipeline.anchor === undefined ? {} : { anchor: pipeline.anchor }),
    output: pipeline.output,
    options: pipeline.options,
    route: pipeline.route,
    labels: { ...labels, pipeline: name },
  };
}

/**
 * The areas that are never a source: where any applied pipeline writes (one output area per
 * target) and the scratch area. Runs leave them out of their listings (the intake applies them
 * with the trigger's own area in view: triggers.ts).
 */
export function neverSourceAreas(
  pipelines: readonly AppliedPipeline[],
  scratch: readonly S3Area[],
): S3Area[] {
  return [...pipelines.flatMap((applied) => outputAreasOf(applied.definition)), ...scratch];
}
