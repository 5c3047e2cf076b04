import { anchorSchema, parseTargetSpec, targetSchema } from "@reframe/geometry";
import { optionsSchema, outputSchema, routeEntrySchema } from "@reframe/jobs";
import { outputAreasOf } from "@reframe/sources";
import { areaContains, areasOverlap, describeArea, type S3Area } from "@reframe/storage";
import { CronExpressionParser } from "cron-parser";
import { parseDocument } from "yaml";
import { z } from "zod";

/**
 * The pipelines file (YAML): named pipelines, each a source, targets and an output, with an optional
 * schedule (cron in a time zone), downstream route, budget per run and upload triggers. Validation
 * reports every problem as "pipeline <name>: <field> <rule>", before anything is applied.
 *
 *   pipelines:
 *     nightly-banners:
 *       source: { bucket: marketing, prefix: banners/, include: ["**\/*.jpg"] }
 *       targets: ["16:9", preset:x-header, { kind: ratio, ratio: "4:5", anchor: top }]
 *       output: { bucket: marketing-out, prefix: reformats/, format: WEBP }
 *       schedule: { cron: "0 2 * * *", timezone: Europe/Paris }
 *       route: [cdn-purge]
 *       budget: { maxCostUsd: 25, uploadsPerDayUsd: 10 }
 *       triggers: [{ bucket: marketing, prefix: incoming/, suffix: [.jpg, .png] }]
 */

/** What upload triggers may add per rolling 24 hours when the pipeline's budget names no ceiling. */
export const DEFAULT_UPLOADS_PER_DAY_USD = 10;

const usd = z.number().positive("must be more than 0");

export const PIPELINE_NAME_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/;
const PIPELINE_NAME_RULE = "must be 1-63 lower-case letters, digits and '-', starting with a letter or digit";

/** A target as a command-line spec ("16:9", "preset:x-header") or as an object ({kind: ratio, …}). */
const targetEntry = z.unknown().transform((value, context) => {
  if (typeof value === "string") {
    const parsed = parseTargetSpec(value);
    if (parsed.ok) return parsed.target;
    context.addIssue({ code: "custom", message: `${value}: ${parsed.message}` });
    return z.NEVER;
  }
  const parsed = targetSchema.safeParse(value);
  if (parsed.success) return parsed.data;
  for (const issue of parsed.error.issues)
    context.addIssue({ code: "custom", message: issue.message, path: issue.path });
  return z.NEVER;
});

const globs = z.array(z.string().min(1, "must not be empty")).default([]);

const pipelineSourceSchema = z.strictObject({
  bucket: z.string().min(3, "must be an S3 bucket name"),
  prefix: z.string().default(""),
  include: globs,
  exclude: globs,
});

export const triggerSchema = z.strictObject({
  bucket: z.string().min(3, "must be an S3 bucket name"),
  prefix: z.string().default(""),
  /** Key endings, any of them (".jpg"); none = any key. Compared case-insensitively. */
  suffix: z.union([z.string().transform((one) => [one]), z.array(z.string().min(1))]).default([]),
  minSize: z.int("must be a whole number of bytes").min(0).optional(),
  maxSize: z.int("must be a whole number of bytes").min(1).optional(),
});
export type Trigger = z.output<typeof triggerSchema>;

export const pipelineSchema = z
  .strictObject({
    description: z.string().optional(),
    source: pipelineSourceSchema.optional(),
    targets: z.array(targetEntry).min(1, "must list at least one target"),
    /** For targets that name no anchor of their own. */
    anchor: anchorSchema.optional(),
    output: outputSchema,
    options: optionsSchema.prefault({}),
    schedule: z
      .strictObject({
        cron: z.string().min(1, "must not be empty"),
        timezone: z.string().default("UTC"),
      })
      .superRefine(({ cron, timezone }, context) => {
        if (!isTimeZone(timezone))
          context.addIssue({
            code: "custom",
            path: ["timezone"],
            message: `${timezone} is not an IANA time zone`,
          });
        else if (!isCron(cron, timezone))
          context.addIssue({
            code: "custom",
            path: ["cron"],
            message: `${cron} is not a cron expression (minute hour day month weekday, optional seconds first)`,
          });
      })
      .optional(),
    route: z.array(routeEntrySchema).default([]),
    budget: z
      .strictObject({
        /** Bounds one run (schedule or `pipelines run`): a run estimated above it is refused. */
        maxCostUsd: usd.optional(),
        /** Bound what upload triggers add in any 24 hours, and in any hour (upload-budget.ts). */
        uploadsPerDayUsd: usd.optional(),
        uploadsPerHourUsd: usd.optional(),
      })
      .superRefine((budget, context) => {
        if (Object.keys(budget).length === 0)
          context.addIssue({
            code: "custom",
            message: "must name maxCostUsd, uploadsPerDayUsd or uploadsPerHourUsd",
          });
        const { uploadsPerDayUsd: day, uploadsPerHourUsd: hour } = budget;
        if (hour !== undefined && hour > (day ?? DEFAULT_UPLOADS_PER_DAY_USD))
          context.addIssue({
            code: "custom",
            path: ["uploadsPerHourUsd"],
            message: `must not be more than uploadsPerDayUsd (${day ?? `${DEFAULT_UPLOADS_PER_DAY_USD}, the default`})`,
          });
      })
      .optional(),
    triggers: z.array(triggerSchema).default([]),
  })
  .superRefine((pipeline, context) => {
    if (pipeline.triggers.length === 0) {
      for (const field of ["uploadsPerDayUsd", "uploadsPerHourUsd"] as const)
        if (pipeline.budget?.[field] !== undefined)
          context.addIssue({
            code: "custom",
            path: ["budget", field],
            message: "bounds what upload triggers add, and this pipeline has no triggers",
          });
    }
    if (pipeline.source) return;
    if (pipeline.schedule)
      context.addIssue({ code: "custom", path: ["source"], message: "is required with a schedule" });
    else if (pipeline.triggers.length === 0)
      context.addIssue({
        code: "custom",
        path: ["source"],
        message: "is required unless the pipeline has triggers",
      });
  });
export type Pipeline = z.output<typeof pipelineSchema>;
export type PipelineInput = z.input<typeof pipelineSchema>;

export const pipelinesFileSchema = z
  .strictObject({
    version: z.literal(1, "must be 1").default(1),
    pipelines: z.record(z.string().regex(PIPELINE_NAME_PATTERN, PIPELINE_NAME_RULE), pipelineSchema),
  })
  .superRefine((file, context) => {
    // The loop guard, checked before anything runs: no trigger may watch any pipeline's output area.
    const writers = Object.entries(file.pipelines).map(([name, pipeline]) => ({
      name,
      pipeline,
      areas: outputAreasOf(pipeline),
    }));
    for (const [name, pipeline] of Object.entries(file.pipelines)) {
      // Runs leave output areas out of their listings: a source inside one would list nothing.
      const { source } = pipeline;
      const holder =
        source && writers.find((writer) => writer.areas.some((area) => areaContains(area, source)));
      if (source && holder) {
        const area = holder.areas.find((candidate) => areaContains(candidate, source))!;
        context.addIssue({
          code: "custom",
          path: ["pipelines", name, "source"],
          message: `s3://${source.bucket}/${source.prefix} lies where pipeline ${holder.name} writes its outputs (${describeArea(area)}, from its key template ${holder.pipeline.output.keyTemplate}); outputs are never sources, so a run would find nothing: give the outputs a prefix and key template that start outside the source`,
        });
      }
      pipeline.triggers.forEach((trigger, index) => {
        for (const writer of writers) {
          const area = writer.areas.find((candidate) => areasOverlap(trigger, candidate));
          if (!area) continue;
          context.addIssue({
            code: "custom",
            path: ["pipelines", name, "triggers", index],
            message: loopMessage(name, trigger, writer.name, writer.pipeline, area),
          });
        }
      });
    }
  });
export type PipelinesFile = z.output<typeof pipelinesFileSchema>;

/** Names both pipelines, where each looks, and the rule, so that the fix is plain. */
function loopMessage(
  name: string,
  trigger: S3Area,
  writer: string,
  pipeline: Pipeline,
  area: S3Area,
): string {
  const { keyTemplate, prefix } = pipeline.output;
  const where =
    area.prefix === ""
      ? `its key template ${keyTemplate} starts with a per-source field, so its outputs can land anywhere in ${describeArea(area)}`
      : `its key template ${keyTemplate}${prefix ? ` with prefix ${prefix}` : ""} writes under ${describeArea(area)}`;
  const whose = writer === name ? "its own outputs" : `outputs of pipeline ${writer}`;
  return `watches ${describeArea(trigger)}, where pipeline ${writer} writes its outputs (${where}); ${whose} would start pipeline ${name} again, a loop. A trigger must not watch any pipeline's output area: give the outputs another bucket, or a prefix and key template that start outside ${describeArea(trigger)}`;
}

export interface PipelinesFileIssue {
  /** The pipeline's name, or undefined for the file as a whole. */
  pipeline: string | undefined;
  field: string;
  rule: string;
}

export class PipelinesFileError extends Error {
  readonly code = "invalid-pipelines-file";
  readonly issues: PipelinesFileIssue[];
  constructor(fileName: string, issues: PipelinesFileIssue[]) {
    super(
      [
        `${fileName}: ${issues.length} problem${issues.length === 1 ? "" : "s"}`,
        ...issues.map(
          (issue) => `  ${issue.pipeline ? `pipeline ${issue.pipeline}: ` : ""}${issue.field} ${issue.rule}`,
        ),
      ].join("\n"),
    );
    this.name = "PipelinesFileError";
    this.issues = issues;
  }
}

/** Parses and validates a pipelines file; throws PipelinesFileError naming every problem. */
export function parsePipelinesFile(text: string, fileName = "pipelines.yaml"): PipelinesFile {
  const document = parseDocument(text);
  if (document.errors.length > 0) {
    throw new PipelinesFileError(
      fileName,
      document.errors.map((error) => ({
        pipeline: undefined,
        field: `line ${error.linePos?.[0]?.line ?? "?"}:`,
        rule: error.message.split("\n")[0] ?? "is not valid YAML",
      })),
    );
  }
  const parsed = pipelinesFileSchema.safeParse(document.toJS());
  if (parsed.success) return parsed.data;
  throw new PipelinesFileError(
    fileName,
    parsed.error.issues.map((issue) => {
      const [section, name, ...field] = issue.path.map(String);
      // A bad pipeline name is reported by zod as an invalid record key, its rule nested inside.
      if (issue.code === "invalid_key" && name !== undefined)
        return { pipeline: name, field: "(name)", rule: issue.issues[0]?.message ?? PIPELINE_NAME_RULE };
      return section === "pipelines" && name !== undefined
        ? { pipeline: name, field: field.join(".") || "(pipeline)", rule: issue.message }
        : { pipeline: undefined, field: issue.path.join(".") || "(file)", rule: issue.message };
    }),
  );
}

function isTimeZone(timeZone: string): boolean {
  try {
    new Intl.DateTimeFormat("en", { timeZone });
    return true;
  } catch {
    return false;
  }
}

function isCron(pattern: string, tz: string): boolean {
  const fields = pattern.trim().split(/\s+/).length;
  if (fields < 5 || fields > 6) return false;
  try {
    CronExpressionParser.parse(pattern, { tz });
    return true;
  } catch {
    return false;
  }
}
