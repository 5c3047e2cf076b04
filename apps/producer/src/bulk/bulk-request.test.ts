import { createHash } from "node:crypto";
import { outputAreasOf } from "@reframe/sources";
import { describe, expect, it } from "vitest";
import { UsageError } from "../cli/usage-error.ts";
import { type BulkFlags, deriveBatchId, parseBulkRequest } from "./bulk-request.ts";

const env = { OUTPUT_BUCKET: "outputs" };
const prefixRun = (extra: BulkFlags = {}): BulkFlags => ({
  source: "s3://library/photos/",
  target: ["16:9"],
  ...extra,
});

function usageError(flags: BulkFlags, environment: { OUTPUT_BUCKET?: string } = env): string {
  try {
    parseBulkRequest(flags, environment);
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    return (error as Error).message;
  }
  throw new Error("expected a UsageError");
}

describe("parseBulkRequest", () => {
  it("reads a prefix run with globs, targets and output settings, defaults filled in", () => {
    const request = parseBulkRequest(
      prefixRun({
        target: ["16:9", "preset:x-header", "1080x1350"],
        include: ["**/*.png"],
        exclude: ["drafts/**"],
        anchor: "top",
        prefix: "reformats/",
        format: "webp",
        quality: "80",
        route: "cdn, dam",
        "max-cost": "12.5",
        "chunk-size": "100",
      }),
      env,
    );
    expect(request).toMatchObject({
      sources: {
        kind: "prefix",
        bucket: "library",
        prefix: "photos/",
        include: ["**/*.png"],
        exclude: ["drafts/**"],
      },
      template: {
        targets: [
          { kind: "ratio", ratio: "16:9" },
          { kind: "preset", name: "x-header" },
          { kind: "size", width: 1080, height: 1350 },
        ],
        anchor: "top",
        output: { bucket: "outputs", prefix: "reformats/", format: "WEBP", quality: 80 },
        options: { mode: "high", variants: 1 },
        route: ["cdn", "dam"],
      },
      dryRun: false,
      maxCostUsd: 12.5,
      estimate: true,
      detach: false,
      chunkSize: 100,
    });
  });

  it("reads a manifest run, whose rows may bring their own targets", () => {
    const request = parseBulkRequest({ manifest: "rows.jsonl", "source-bucket": "library" }, env);
    expect(request.sources).toEqual({
      kind: "manifest",
      path: "rows.jsonl",
      format: "jsonl",
      sourceBucket: "library",
    });
    expect(request.template.targets).toEqual([]);
  });

  it("names the flag and the rule of every mistake", () => {
    expect(usageError({ target: ["1:1"] })).toMatch(/exactly one of --source .* or --manifest/);
    expect(usageError(prefixRun({ manifest: "m.csv" }))).toMatch(/exactly one of/);
    expect(usageError(prefixRun({ target: [] }))).toBe("bulk needs at least one --target");
    expect(usageError(prefixRun({ target: ["wide"] }))).toMatch(/^--target wide: unknown preset wide/);
    expect(usageError(prefixRun({ source: "photos/" }))).toBe(
      "--source photos/: expected s3://bucket/prefix/",
    );
    expect(usageError({ manifest: "rows.txt" })).toMatch(/^--manifest rows.txt: expected a .csv/);
    expect(usageError({ manifest: "m.csv", include: ["*.jpg"] })).toMatch(/filter a --source prefix/);
    expect(usageError(prefixRun({ "source-bucket": "b" }))).toMatch(/^--source-bucket is for manifests/);
    expect(usageError(prefixRun({ anchor: "middle" }))).toMatch(/^--anchor middle: must be one of top-left/);
    expect(usageError(prefixRun(), {})).toBe("--bucket is required (or set OUTPUT_BUCKET)");
    expect(usageError(prefixRun({ bucket: "Not_A_Bucket" }))).toMatch(
      /^--bucket \(or OUTPUT_BUCKET\): must be/,
    );
    expect(usageError(prefixRun({ quality: "5" }))).toBe("--quality: must be at least 20");
    expect(usageError(prefixRun({ format: "gif" }))).toBe("--format: must be one of JPG, PNG, WEBP");
    expect(usageError(prefixRun({ mode: "slow" }))).toBe("--mode: must be high or fast");
    expect(usageError(prefixRun({ "key-template": "{prefix}{oops}" }))).toMatch(
      /^--key-template: unknown field/,
    );
    expect(usageError(prefixRun({ route: "a:b" }))).toMatch(/^--route: must be a queue name/);
    expect(usageError(prefixRun({ batch: "-x" }))).toMatch(/^--batch: must be 1-128/);
    expect(usageError(prefixRun({ "max-cost": "-1" }))).toMatch(/^--max-cost -1: must be an amount/);
    expect(usageError(prefixRun({ "max-cost": "" }))).toMatch(/^--max-cost : must be an amount/);
    expect(usageError(prefixRun({ "max-cost": "5", "no-estimate": true }))).toMatch(/needs the estimate/);
    expect(usageError(prefixRun({ "chunk-size": "0" }))).toMatch(/^--chunk-size 0: must be a whole number/);
    expect(usageError(prefixRun({ fit: "stretch" }))).toBe("--fit: must be fit or down-only");
    expect(usageError(prefixRun({ "max-upscale": "0.5" }))).toBe("--max-upscale: must be at least 1");
    expect(usageError(prefixRun({ "max-upscale": "lots" }))).toBe("--max-upscale: must be a number");
    expect(usageError(prefixRun({ "max-generated-share": "95" }))).toBe(
      "--max-generated-share: must be from 0 to 1",
    );
    expect(usageError(prefixRun({ "max-generated-share": "half" }))).toBe(
      "--max-generated-share: must be a number",
    );
  });

  it("reads the canvas policy: fit or down-only, the upscale cap, the generated share as 0.95 or 95%", () => {
    const options = (extra: BulkFlags) => parseBulkRequest(prefixRun(extra), env).template.options;
    expect(options({ fit: "down-only", "max-upscale": "2", "max-generated-share": "95%" })).toMatchObject({
      fit: "down-only",
      maxUpscale: 2,
      maxGeneratedShare: 0.95,
    });
    expect(options({ "max-generated-share": "0.95" }).maxGeneratedShare).toBe(0.95);
    expect(options({ fit: "fit", "max-upscale": "4", "max-generated-share": "90%" })).toEqual(options({}));
  });
});

describe("deriveBatchId", () => {
  const id = (flags: BulkFlags, manifest?: string) =>
    deriveBatchId(
      parseBulkRequest(flags, env),
      manifest === undefined ? undefined : createHash("sha256").update(manifest).digest("hex"),
    );

  it("is the same for the same request, however it is spelt", () => {
    const base = id(prefixRun({ target: ["16:9", "1:1"], include: ["a/**", "b/**"] }));
    expect(base).toMatch(/^bulk-[0-9a-f]{12}$/);
    expect(id(prefixRun({ target: ["1:1", "16:9"], include: ["b/**", "a/**"] }))).toBe(base);
    expect(
      id(prefixRun({ target: ["16:9", "1:1"], include: ["a/**", "b/**"], format: "jpg", quality: "90" })),
    ).toBe(base);
    // The canvas policy at its defaults: the batch of a run from before these options.
    expect(
      id(
        prefixRun({
          target: ["16:9", "1:1"],
          include: ["a/**", "b/**"],
          fit: "fit",
          "max-upscale": "4",
          "max-generated-share": "0.9",
        }),
      ),
    ).toBe(base);
    // How a run is carried out, not what it asks for: same batch.
    expect(
      id(prefixRun({ target: ["16:9", "1:1"], include: ["a/**", "b/**"], "chunk-size": "10", detach: true })),
    ).toBe(base);
  });

  it("differs when the sources, targets, output, options or route differ", () => {
    const base = id(prefixRun());
    const others = [
      id(prefixRun({ source: "s3://library/other/" })),
      id(prefixRun({ exclude: ["x/**"] })),
      id(prefixRun({ target: ["4:5"] })),
      id(prefixRun({ anchor: "top" })),
      id(prefixRun({ bucket: "elsewhere" })),
      id(prefixRun({ prefix: "p/" })),
      id(prefixRun({ mode: "fast" })),
      id(prefixRun({ fit: "down-only" })),
      id(prefixRun({ "max-generated-share": "1" })),
      id(prefixRun({ route: "cdn" })),
    ];
    expect(new Set([base, ...others]).size).toBe(others.length + 1);
  });

  it("follows a manifest's content, not its path", () => {
    const rows = "key\na.jpg\n";
    expect(id({ manifest: "/tmp/one/rows.csv", target: ["1:1"] }, rows)).toBe(
      id({ manifest: "rows.csv", target: ["1:1"] }, rows),
    );
    expect(id({ manifest: "rows.csv", target: ["1:1"] }, `${rows}b.jpg\n`)).not.toBe(
      id({ manifest: "rows.csv", target: ["1:1"] }, rows),
    );
  });
});

describe("the output areas of a bulk run", () => {
  it("is the key template's fixed start per target, which a listing leaves out", () => {
    const request = parseBulkRequest(prefixRun({ target: ["16:9", "preset:x-header"], prefix: "out/" }), env);
    expect(outputAreasOf(request.template)).toEqual([
      { bucket: "outputs", prefix: "out/16x9/" },
      { bucket: "outputs", prefix: "out/x-header/" },
    ]);
    const flat = parseBulkRequest(prefixRun({ "key-template": "{dir}{name}-{target}.{ext}" }), env);
    expect(outputAreasOf(flat.template)).toEqual([{ bucket: "outputs", prefix: "" }]);
  });
});
