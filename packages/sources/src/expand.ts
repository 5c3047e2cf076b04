import type { Anchor, Target } from "@reframe/geometry";
import type { OutpaintJobInput } from "@reframe/jobs";
import { type ListObjectsInput, listObjects } from "@reframe/storage";
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
  pipelineVersion?: string;
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
        ...(template.pipelineVersion ? { pipelineVersion: template.pipelineVersion } : {}),
      });
    }
  }
  return jobs;
}

function anchored(target: Target, rowAnchor: Anchor | undefined, runAnchor: Anchor | undefined): Target {
  if (target.kind === "margins") return target;
  const anchor = rowAnchor ?? target.anchor ?? runAnchor;
  return anchor === undefined || anchor === target.anchor ? target : { ...target, anchor };
}

/** Images only, unless the run gives its own include globs: other files would fail as sourceNotAnImage. */
export const DEFAULT_IMAGE_GLOBS = ["**/*.{jpg,jpeg,png,webp,JPG,JPEG,PNG,WEBP}"];

export interface PrefixSource {
  bucket: string;
  prefix: string;
  include?: readonly string[];
  exclude?: readonly string[];
}

/**
 * The objects under a prefix as source items, with their ETag (so changed content is new work and
 * unchanged content is not). Objects under any of `skip` (the run's own output and scratch prefixes)
 * are left out: a run over a bucket it also writes to must not take its outputs for sources.
 */
export async function* prefixItems(
  client: ListObjectsInput["client"],
  source: PrefixSource,
  { skip = [], signal }: { skip?: readonly { bucket: string; prefix: string }[]; signal?: AbortSignal } = {},
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
    if (skip.some((area) => area.bucket === object.bucket && object.key.startsWith(area.prefix))) continue;
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
