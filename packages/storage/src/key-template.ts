import type { S3Area } from "./s3-area.ts";

/**
 * Output keys from templates like `{prefix}{target}/{dir}{name}.{ext}`. This module is the one
 * place that knows the fields, renders a key and says where a template's keys can land (the output
 * area). It imports nothing, so the job schema can validate templates without loading the S3 client.
 *
 * `{prefix}` and `{target}` are the same for every job of a run and target; `{dir}`, `{name}`,
 * `{ext}` and `{variant}` differ per source (and per variant), so a key's fixed start ends at the
 * first of those.
 */
export const KEY_TEMPLATE_FIELDS = ["prefix", "target", "dir", "name", "ext", "variant"] as const;
export type KeyTemplateField = (typeof KEY_TEMPLATE_FIELDS)[number];

/**
 * `{prefix}` and `{dir}` carry their own trailing "/" (or are empty), so an empty prefix or a source at
 * the bucket root leaves no empty path segment: "photos/cat.jpg" with prefix "reformats/" and target
 * 16:9 gives "reformats/16x9/photos/cat.jpg". The target label sits before `{dir}`, so the output
 * area is `{prefix}{target}/`, never the sources' own folders.
 */
export const DEFAULT_KEY_TEMPLATE = "{prefix}{target}/{dir}{name}.{ext}";

/** What a key is rendered from: every field, each a string (`dir` keeps its trailing "/" or is empty). */
export type KeyTemplateValues = Readonly<Record<KeyTemplateField, string>>;

/** The fields that are the same for every key of one output and target. */
const FIXED_FIELDS: ReadonlySet<string> = new Set<KeyTemplateField>(["prefix", "target"]);

export class KeyTemplateError extends Error {
  readonly code = "invalid-key-template";
  constructor(message: string) {
    super(message);
    this.name = "KeyTemplateError";
  }
}

type Token = { literal: string } | { field: string };

function tokens(template: string): Token[] {
  const parts: Token[] = [];
  let last = 0;
  for (const match of template.matchAll(/\{([^{}]*)\}/g)) {
    if (match.index > last) parts.push({ literal: template.slice(last, match.index) });
    parts.push({ field: match[1] ?? "" });
    last = match.index + match[0].length;
  }
  if (last < template.length) parts.push({ literal: template.slice(last) });
  return parts;
}

/** Every problem of a template, as rules ("must contain {name}"); empty when it is valid. */
export function keyTemplateProblems(template: string): string[] {
  const known = KEY_TEMPLATE_FIELDS as readonly string[];
  const unknown = tokens(template).flatMap((token) =>
    "field" in token && !known.includes(token.field) ? [token.field] : [],
  );
  const problems: string[] = [];
  if (unknown.length > 0)
    problems.push(
      `unknown field {${unknown[0]}}; known fields: ${KEY_TEMPLATE_FIELDS.map((f) => `{${f}}`).join(", ")}`,
    );
  if (!template.includes("{name}")) problems.push("must contain {name}");
  return problems;
}

/**
 * Empty, "." and ".." segments are dropped: a key never climbs out of its prefix, and an empty
 * `{prefix}` or `{dir}` leaves no "//".
 */
function normalizeSegments(path: string): string {
  return path
    .split("/")
    .filter((segment) => segment !== "" && segment !== "." && segment !== "..")
    .join("/");
}

export function renderKeyTemplate(template: string, values: KeyTemplateValues): string {
  const rendered = tokens(template)
    .map((token) => {
      if ("literal" in token) return token.literal;
      if (!Object.hasOwn(values, token.field))
        throw new KeyTemplateError(`unknown placeholder {${token.field}} in key template ${template}`);
      return values[token.field as KeyTemplateField];
    })
    .join("");
  // The file name, the last segment, must survive: a key that ends in "/", "." or ".." would be a
  // folder, or land outside the template's output area once the segment is dropped.
  const fileName = rendered.slice(rendered.lastIndexOf("/") + 1);
  if (fileName === "" || fileName === "." || fileName === "..")
    throw new KeyTemplateError(`key template ${template} renders a key without a file name: ${rendered}`);
  return normalizeSegments(rendered);
}

/** Where outputs go: a bucket, a key template and the `{prefix}` it is filled with. */
export interface OutputPlace {
  bucket: string;
  keyTemplate: string;
  prefix?: string | undefined;
}

/**
 * The output area: every key the template can render for this output and target starts with its
 * prefix. It is the template's fixed start once `{prefix}` and `{target}` are filled in, cut at the
 * first per-source field; a template that starts with a per-source field (`{dir}{name}-{target}…`)
 * can write anywhere, so its area is the whole bucket (prefix ""). This one function decides where
 * outputs may land for `pipelines apply`, the upload intake and the listings of runs and of
 * `reframe bulk`.
 */
export function outputAreaOf(output: OutputPlace, target: string): S3Area {
  let fixed = "";
  for (const token of tokens(output.keyTemplate)) {
    if ("literal" in token) fixed += token.literal;
    else if (FIXED_FIELDS.has(token.field))
      fixed += token.field === "prefix" ? (output.prefix ?? "") : target;
    else break;
  }
  return { bucket: output.bucket, prefix: fixedKeyStart(fixed) };
}

/**
 * The start every rendered key keeps: whole segments normalized as a rendered key is, and the
 * partial last segment kept, unless the text after it could make it a dropped segment ("." or ".."
 * followed by an empty `{dir}`), in which case the area stops at the last whole segment.
 */
function fixedKeyStart(fixed: string): string {
  const slash = fixed.lastIndexOf("/");
  const whole = normalizeSegments(fixed.slice(0, slash + 1));
  const partial = fixed.slice(slash + 1);
  const start = whole === "" ? "" : `${whole}/`;
  return partial === "." || partial === ".." ? start : start + partial;
}

/** `a/b/c.jpg` → { dir: "a/b/", name: "c", ext: "jpg" } (dir keeps its trailing slash, or is empty). */
export function splitKey(key: string): { dir: string; name: string; ext: string } {
  const slash = key.lastIndexOf("/");
  const dir = slash >= 0 ? key.slice(0, slash + 1) : "";
  const file = key.slice(slash + 1);
  const dot = file.lastIndexOf(".");
  return dot > 0 ? { dir, name: file.slice(0, dot), ext: file.slice(dot + 1) } : { dir, name: file, ext: "" };
}
