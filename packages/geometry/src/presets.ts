import { z } from "zod";

/**
 * Social and marketing sizes as versioned data (the sizes platforms commonly publish, as of the version below). Platforms change
 * them silently, so users can override or add presets; the version goes into the processing version.
 */
export const PRESETS_VERSION = "2026-11";

export const presetSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, "must be lower-case letters, digits and dashes"),
    label: z.string().min(1),
    kind: z.enum(["size", "ratio"]),
    width: z.number().int().min(1).optional(),
    height: z.number().int().min(1).optional(),
    ratio: z.tuple([z.number().positive(), z.number().positive()]),
  })
  .refine((p) => p.kind === "ratio" || (p.width !== undefined && p.height !== undefined), {
    message: "a size preset needs width and height",
    path: ["width"],
  });
export type Preset = z.infer<typeof presetSchema>;

const size = (name: string, label: string, width: number, height: number): Preset => ({
  name,
  label,
  kind: "size",
  width,
  height,
  ratio: [width, height],
});
const ratio = (w: number, h: number): Preset => ({
  name: `ratio-${String(w).replace(".", "_")}x${h}`,
  label: `${w}:${h}`,
  kind: "ratio",
  ratio: [w, h],
});

export const BUILTIN_PRESETS: readonly Preset[] = [
  size("instagram-square", "Instagram square", 1080, 1080),
  size("instagram-portrait", "Instagram portrait", 1080, 1350),
  size("instagram-landscape", "Instagram landscape", 1080, 566),
  size("instagram-story", "Instagram story / Reels", 1080, 1920),
  size("facebook-feed", "Facebook feed", 1200, 630),
  size("facebook-cover", "Facebook cover", 820, 312),
  size("x-post", "X post", 1600, 900),
  size("x-header", "X header", 1500, 500),
  size("linkedin-feed", "LinkedIn feed", 1200, 627),
  size("linkedin-banner", "LinkedIn banner", 1584, 396),
  size("youtube-thumbnail", "YouTube thumbnail", 1280, 720),
  size("youtube-banner", "YouTube banner", 2560, 1440),
  size("pinterest-pin", "Pinterest pin", 1000, 1500),
  ratio(1, 1),
  ratio(4, 5),
  ratio(9, 16),
  ratio(16, 9),
  ratio(1.91, 1),
  ratio(3, 1),
  ratio(4, 1),
  ratio(2, 3),
];

export type PresetTable = ReadonlyMap<string, Preset>;

/** The built-in presets with a user's overrides (same name replaces, new names add). */
export function loadPresets(overrides: unknown = []): PresetTable {
  const parsed = z.array(presetSchema).safeParse(overrides);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const [index, ...field] = issue.path;
    const name =
      Array.isArray(overrides) && typeof index === "number"
        ? (overrides[index] as { name?: string })?.name
        : undefined;
    throw new Error(`preset ${name ?? `#${String(index)}`}: ${field.join(".") || "preset"} ${issue.message}`);
  }
  return new Map([...BUILTIN_PRESETS, ...parsed.data].map((preset) => [preset.name, preset]));
}

export const DEFAULT_PRESETS: PresetTable = loadPresets();
