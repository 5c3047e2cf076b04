import type { Anchor, FitPolicy, Target } from "@reframe/geometry";
import type { OutpaintJobInput } from "@reframe/jobs";

/**
 * One source image of a run and what its row says differently from the run (a manifest row may name
 * its own targets, anchor or output settings). A prefix listing gives items without overrides.
 */
export interface SourceItem {
  source: OutpaintJobInput["source"];
  /** Where it came from, for messages: "s3://bucket/key" or "manifest.csv line 12". */
  origin: string;
  overrides: SourceOverrides;
}

export interface SourceOverrides {
  targets?: Target[];
  anchor?: Anchor;
  output?: { prefix?: string; format?: "JPG" | "PNG" | "WEBP"; quality?: number };
  options?: { mode?: "high" | "fast"; fit?: FitPolicy; maxUpscale?: number; maxGeneratedShare?: number };
}

export function sourceLabel(source: OutpaintJobInput["source"]): string {
  return source.kind === "s3" ? `s3://${source.bucket}/${source.key}` : source.url;
}
