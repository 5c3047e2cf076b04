import type { OutpaintJobInput } from "@reframe/jobs";
import type { JobTemplate } from "@reframe/sources";
import type { Pipeline } from "./pipeline-file.ts";

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

/** Where a pipeline writes: objects there are outputs, never sources (the loop guard). */
export function outputAreaOf(pipeline: Pipeline): { bucket: string; prefix: string } {
  return { bucket: pipeline.output.bucket, prefix: pipeline.output.prefix ?? "" };
}
