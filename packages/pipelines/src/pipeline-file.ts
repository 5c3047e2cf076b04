import { anchorSchema, parseTargetSpec, targetSchema } from "@reframe/geometry";
import { optionsSchema, outputSchema, routeEntrySchema } from "@reframe/jobs";
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
 *       budget: { maxCostUsd: 25 }
 *       triggers: [{ bucket: marketing, prefix: incoming/, suffix: [.jpg, .png] }]
 */

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

export const pipelineSourceSchema = z.strictObject({
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
    budget: z.strictObject({ maxCostUsd: z.number().positive("must be more than 0") }).optional(),
    triggers: z.array(triggerSchema).default([]),
  })
  .superRefine((pipeline, context) => {
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
    // Loop guard, checked before anything runs: a trigger must not watch where any pipeline writes.
    for (const [name, pipeline] of Object.entries(file.pipelines)) {
      pipeline.triggers.forEach((trigger, index) => {
        for (const [other, writer] of Object.entries(file.pipelines)) {
          if (!areasOverlap(trigger, writer.output.bucket, writer.output.prefix ?? "")) continue;
          context.addIssue({
            code: "custom",
            path: ["pipelines", name, "triggers", index],
            message: `watches s3://${trigger.bucket}/${trigger.prefix}, where pipeline ${other} writes its outputs (s3://${writer.output.bucket}/${writer.output.prefix ?? ""}); its outputs would trigger it again`,
          });
        }
      });
    }
  });
export type PipelinesFile = z.output<typeof pipelinesFileSchema>;

/** Two S3 areas overlap when one prefix contains the other in the same bucket. */
function areasOverlap(trigger: { bucket: string; prefix: string }, bucket: string, prefix: string): boolean {
  return (
    trigger.bucket === bucket && (trigger.prefix.startsWith(prefix) || prefix.startsWith(trigger.prefix))
  );
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
