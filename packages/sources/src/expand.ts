import { type Anchor, type Target, targetLabel } from "@reframe/geometry";
import type { OutpaintJobInput } from "@reframe/jobs";
import {
  DEFAULT_KEY_TEMPLATE,
  inArea,
  type ListObjectsInput,
  listObjects,
  outputAreaOf,
  type S3Area,
} from "@reframe/storage";
import type { SourceItem } from "./source-item.ts";

/** What a run asks of every source, unless a manifest row says otherwise. */
export interface JobTemplate {
  targets: readonly Target[];
  /** For targets that name no anchor of their own. */
  anchor?: Anchor;
  output: OutpaintJobInput["output"];
  options?: OutpaintJobInput["options"];
  route?: string[];
  labels?: OutpaintJobInput["labels"];
  processingVersion?: string;
}

/**
 * One job per source and target. A row's anchor wins over the target's own, which wins over the
 * run's; a row's output settings, mode and canvas policy are laid over the run's.
 */
export function expandJobs(items: Iterable<SourceItem>, template: JobTemplate): OutpaintJobInput[] {
  const jobs: OutpaintJobInput[] = [];
  // Jobs without overrides share the template's objects: validating and hashing then sees them once.
  const options = template.options ?? {};
  const route = template.route ?? [];
  const labels = template.labels ?? {};
  for (const item of items) {
    const { overrides } = item;
    for (const target of overrides.targets ?? template.targets) {
      jobs.push({
        source: item.source,
        target: anchored(target, overrides.anchor, template.anchor),
        output: overrides.output ? { ...template.output, ...overrides.output } : template.output,
        options: overrides.options ? { ...options, ...overrides.options } : options,
        route,
        labels,
        ...(template.processingVersion ? { processingVersion: template.processingVersion } : {}),
      });
    }
  }
  return jobs;
}

/**
 * Where a run's outputs may land: one output area per target (storage's outputAreaOf), without
 * repeats. A listing leaves them out, and `pipelines apply` refuses a trigger that watches one.
 */
export function outputAreasOf(template: Pick<JobTemplate, "targets" | "output">): S3Area[] {
  const { output } = template;
  const place = {
    bucket: output.bucket,
    keyTemplate: output.keyTemplate ?? DEFAULT_KEY_TEMPLATE,
    prefix: output.prefix,
  };
  const areas = new Map<string, S3Area>();
  for (const target of template.targets) {
    const area = outputAreaOf(place, targetLabel(target));
    areas.set(`${area.bucket}/${area.prefix}`, area);
  }
  return [...areas.values()];
}

function anchored(target: Target, rowAnchor: Anchor | undefined, runAnchor: Anchor | undefined): Target {
  if (target.kind === "margins") return target;
  const anchor = rowAnchor ?? target.anchor ?? runAnchor;
  return anchor === undefined || anchor === target.anchor ? target : { ...target, anchor };
}

/**
 * Images only, unless the run gives its own include globs: other files would fail as
 * sourceUnreadable. HEIC is listed so that a library's iPhone photos are counted (as refused when
 * sharp cannot decode them) rather than silently left out.
 */
export const DEFAULT_IMAGE_GLOBS = [
  "**/*.{jpg,jpeg,png,webp,gif,tif,tiff,avif,heic,heif,JPG,JPEG,PNG,WEBP,GIF,TIF,TIFF,AVIF,HEIC,HEIF}",
];

export interface PrefixSource {
  bucket: string;
  prefix: string;
  include?: readonly string[];
  exclude?: readonly string[];
}

/**
 * The objects under a prefix as source items, with their ETag (so changed content is new work and
 * unchanged content is not). Objects in any of `neverSources` (output areas, the scratch area) are
 * left out: a run over a bucket it also writes to must not take its outputs for sources.
 */
export async function* prefixItems(
  client: ListObjectsInput["client"],
  source: PrefixSource,
  { neverSources = [], signal }: { neverSources?: readonly S3Area[]; signal?: AbortSignal } = {},
): AsyncGenerator<SourceItem> {
  const include = source.include?.length ? source.include : DEFAULT_IMAGE_GLOBS;
  for await (const object of listObjects({
    client,
    bucket: source.bucket,
    prefix: source.prefix,
    include,
    exclude: source.exclude ?? [],
    signal,
  })) {
    if (neverSources.some((area) => inArea(area, object))) continue;
    yield {
      source: {
        kind: "s3",
        bucket: object.bucket,
        key: object.key,
        ...(object.etag ? { etag: object.etag } : {}),
      },
      origin: `s3://${object.bucket}/${object.key}`,
      overrides: {},
    };
  }
}
