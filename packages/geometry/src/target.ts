import { z } from "zod";
import { DEFAULT_PRESETS, type PresetTable } from "./presets.ts";

export const ANCHOR_NAMES = [
  "top-left",
  "top",
  "top-right",
  "left",
  "center",
  "right",
  "bottom-left",
  "bottom",
  "bottom-right",
] as const;
export type AnchorName = (typeof ANCHOR_NAMES)[number];

export const anchorSchema = z.union([
  z.enum(ANCHOR_NAMES),
  z.object({ x: z.number().min(0).max(1), y: z.number().min(0).max(1) }).strict(),
]);
export type Anchor = z.infer<typeof anchorSchema>;

const RATIO_PATTERN = /^(\d+(?:\.\d+)?):(\d+(?:\.\d+)?)$/;
const margin = z.number().int("must be an integer").min(0, "must be 0 or more");

export const ratioStringSchema = z
  .string()
  .regex(RATIO_PATTERN, { error: "must be W:H, e.g. 16:9 or 1.91:1", abort: true })
  .refine((value) => {
    const [, w, h] = value.match(RATIO_PATTERN) ?? [];
    return Number(w) > 0 && Number(h) > 0;
  }, "both sides of the ratio must be greater than 0");

export const targetSchema = z.discriminatedUnion("kind", [
  z
    .object({ kind: z.literal("margins"), top: margin, right: margin, bottom: margin, left: margin })
    .strict()
    .refine((m) => m.top + m.right + m.bottom + m.left > 0, "at least one margin must be greater than 0"),
  z.object({ kind: z.literal("ratio"), ratio: ratioStringSchema, anchor: anchorSchema.optional() }).strict(),
  z
    .object({
      kind: z.literal("size"),
      width: z.number().int().min(1),
      height: z.number().int().min(1),
      anchor: anchorSchema.optional(),
    })
    .strict(),
  z.object({ kind: z.literal("preset"), name: z.string().min(1), anchor: anchorSchema.optional() }).strict(),
]);
export type Target = z.infer<typeof targetSchema>;

export function parseRatio(value: string): number {
  const [, w, h] = value.match(RATIO_PATTERN) ?? [];
  return Number(w) / Number(h);
}

export type TargetSpecResult = { ok: true; target: Target } | { ok: false; message: string };

/** Command-line forms: `16:9`, `1080x1350`, `preset:instagram-story` (or a bare preset name), `margins:T,R,B,L`. */
export function parseTargetSpec(spec: string, presets: PresetTable = DEFAULT_PRESETS): TargetSpecResult {
  const text = spec.trim();
  let candidate: unknown;
  if (RATIO_PATTERN.test(text)) candidate = { kind: "ratio", ratio: text };
  else if (/^\d+x\d+$/i.test(text)) {
    const [width, height] = text.toLowerCase().split("x").map(Number);
    candidate = { kind: "size", width, height };
  } else if (text.startsWith("margins:")) {
    const parts = text.slice("margins:".length).split(",");
    if (parts.length !== 4 || parts.some((p) => !/^\d+$/.test(p.trim()))) {
      return {
        ok: false,
        message: "margins must be four non-negative integers: margins:top,right,bottom,left",
      };
    }
    const [top, right, bottom, left] = parts.map(Number);
    candidate = { kind: "margins", top, right, bottom, left };
  } else if (/^(preset:)?[a-z][a-z0-9-]*$/.test(text)) {
    const name = text.replace(/^preset:/, "");
    if (!presets.has(name))
      return { ok: false, message: `unknown preset ${name} (known: ${[...presets.keys()].join(", ")})` };
    candidate = { kind: "preset", name };
  } else
    return {
      ok: false,
      message: "expected a ratio (16:9), a size (1080x1350), preset:NAME or margins:T,R,B,L",
    };
  const parsed = targetSchema.safeParse(candidate);
  return parsed.success
    ? { ok: true, target: parsed.data }
    : { ok: false, message: parsed.error.issues[0]!.message };
}

/** A target as a path segment and a label in reports: 16x9, 1080x1350, x-header, m0-64-0-64. */
export function targetLabel(target: Target): string {
  switch (target.kind) {
    case "margins":
      return `m${target.top}-${target.right}-${target.bottom}-${target.left}`;
    case "ratio":
      return target.ratio.replace(":", "x");
    case "size":
      return `${target.width}x${target.height}`;
    case "preset":
      return target.name;
    default:
      throw new Error(`unknown target ${JSON.stringify(target satisfies never)}`);
  }
}
