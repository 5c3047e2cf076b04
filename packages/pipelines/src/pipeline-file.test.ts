import { targetLabel } from "@reframe/geometry";
import { inArea, renderKeyTemplate, splitKey } from "@reframe/storage";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { PipelinesFileError, parsePipelinesFile, pipelinesFileSchema } from "./pipeline-file.ts";

const valid = `
pipelines:
  nightly-banners:
    source: { bucket: marketing, prefix: banners/, include: ["**/*.jpg"] }
    targets: ["16:9", preset:x-header, { kind: ratio, ratio: "4:5", anchor: top }]
    output: { bucket: marketing-out, prefix: reformats/, format: WEBP, quality: 85 }
    schedule: { cron: "0 2 * * *", timezone: Europe/Paris }
    route: [cdn-purge]
    budget: { maxCostUsd: 25 }
  uploads:
    targets: ["1:1"]
    output: { bucket: marketing-out, prefix: uploads/ }
    triggers:
      - { bucket: marketing, prefix: incoming/, suffix: [.jpg, .PNG], maxSize: 52428800 }
`;

function problems(text: string): string[] {
  try {
    parsePipelinesFile(text, "p.yaml");
  } catch (error) {
    if (error instanceof PipelinesFileError)
      return error.issues.map((issue) => `${issue.pipeline ?? "-"} | ${issue.field} | ${issue.rule}`);
    throw error;
  }
  return [];
}

describe("parsePipelinesFile", () => {
  it("reads pipelines with targets as specs or objects, defaults filled in", () => {
    const file = parsePipelinesFile(valid);
    const nightly = file.pipelines["nightly-banners"]!;
    expect(nightly.targets).toEqual([
      { kind: "ratio", ratio: "16:9" },
      { kind: "preset", name: "x-header" },
      { kind: "ratio", ratio: "4:5", anchor: "top" },
    ]);
    expect(nightly.source).toEqual({
      bucket: "marketing",
      prefix: "banners/",
      include: ["**/*.jpg"],
      exclude: [],
    });
    expect(nightly.output).toMatchObject({
      format: "WEBP",
      quality: 85,
      keyTemplate: "{prefix}{target}/{dir}{name}.{ext}",
    });
    expect(nightly.options).toMatchObject({ mode: "high", variants: 1 });
    expect(file.pipelines.uploads?.triggers[0]).toEqual({
      bucket: "marketing",
      prefix: "incoming/",
      suffix: [".jpg", ".PNG"],
      maxSize: 52428800,
    });
  });

  it("reads a pipeline's canvas policy, and names a bad one", () => {
    const policy = `
pipelines:
  stories:
    source: { bucket: marketing, prefix: photos/ }
    targets: [preset:instagram-story]
    output: { bucket: marketing-out, prefix: stories/ }
    options: { fit: down-only, maxUpscale: 2, maxGeneratedShare: 0.95 }
`;
    expect(parsePipelinesFile(policy).pipelines.stories?.options).toMatchObject({
      fit: "down-only",
      maxUpscale: 2,
      maxGeneratedShare: 0.95,
    });
    expect(problems(policy.replace("maxGeneratedShare: 0.95", "maxGeneratedShare: 95%"))).toEqual([
      "stories | options.maxGeneratedShare | must be a number",
    ]);
  });

  it("names the pipeline, the field and the rule of every problem", () => {
    const text = `
pipelines:
  Bad_Name:
    targets: ["1:1"]
    output: { bucket: out-bucket }
    source: { bucket: in-bucket }
  nightly:
    source: { bucket: in-bucket }
    targets: [wide, "16:9"]
    output: { bucket: out-bucket, quality: 5 }
    schedule: { cron: "every night", timezone: Mars/Olympus }
  cheap:
    source: { bucket: in-bucket }
    targets: []
    output: { bucket: out-bucket, colour: red }
    budget: { maxCostUsd: 0 }
  hourly:
    targets: ["1:1"]
    output: { bucket: out-bucket, prefix: x/ }
    schedule: { cron: "61 * * * *" }
`;
    expect(problems(text)).toEqual([
      expect.stringMatching(/^Bad_Name \| \(name\) \| must be 1-63 lower-case letters/),
      "nightly | targets.0 | wide: unknown preset wide (known: instagram-square, instagram-portrait, instagram-landscape, instagram-story, facebook-feed, facebook-cover, x-post, x-header, linkedin-feed, linkedin-banner, youtube-thumbnail, youtube-banner, pinterest-pin, ratio-1x1, ratio-4x5, ratio-9x16, ratio-16x9, ratio-1_91x1, ratio-3x1, ratio-4x1, ratio-2x3)",
      "nightly | output.quality | must be at least 20",
      "nightly | schedule.timezone | Mars/Olympus is not an IANA time zone",
      "cheap | targets | must list at least one target",
      expect.stringMatching(/^cheap \| output \| .*colour/),
      "cheap | budget.maxCostUsd | must be more than 0",
      "hourly | schedule.cron | 61 * * * * is not a cron expression (minute hour day month weekday, optional seconds first)",
      "hourly | source | is required with a schedule",
    ]);
  });

  it("refuses a trigger that watches where a pipeline writes (its outputs would trigger it again)", () => {
    const text = `
pipelines:
  loop:
    targets: ["1:1"]
    output: { bucket: media, prefix: reformats/ }
    triggers: [{ bucket: media, prefix: "" }]
`;
    expect(problems(text)).toEqual([
      "loop | triggers.0 | watches s3://media/, where pipeline loop writes its outputs (its key template {prefix}{target}/{dir}{name}.{ext} with prefix reformats/ writes under s3://media/reformats/1x1/); its own outputs would start pipeline loop again, a loop. A trigger must not watch any pipeline's output area: give the outputs another bucket, or a prefix and key template that start outside s3://media/",
    ]);
  });

  it("refuses the runaway loop met on a real library: a prefix the key template does not use, outputs next to the uploads", () => {
    const text = `
pipelines:
  rockets:
    targets: ["16:9"]
    output: { bucket: media, prefix: out/, keyTemplate: "{dir}{name}-{target}.{ext}" }
    triggers: [{ bucket: media, prefix: drop/ }]
`;
    expect(problems(text)).toEqual([
      expect.stringContaining(
        "rockets | triggers.0 | watches s3://media/drop/, where pipeline rockets writes its outputs (its key template {dir}{name}-{target}.{ext} starts with a per-source field, so its outputs can land anywhere in s3://media/)",
      ),
    ]);
  });

  it("names both pipelines when one's outputs would start the other", () => {
    const text = `
pipelines:
  uploads:
    targets: ["1:1"]
    output: { bucket: media-out }
    triggers: [{ bucket: media, prefix: incoming/ }]
  nightly:
    source: { bucket: media, prefix: library/ }
    targets: ["4:5", "9:16"]
    output: { bucket: media, prefix: incoming/, keyTemplate: "{prefix}{target}/{name}.{ext}" }
    schedule: { cron: "0 2 * * *" }
`;
    expect(problems(text)).toEqual([
      expect.stringContaining(
        "uploads | triggers.0 | watches s3://media/incoming/, where pipeline nightly writes its outputs (its key template {prefix}{target}/{name}.{ext} with prefix incoming/ writes under s3://media/incoming/4x5/); outputs of pipeline nightly would start pipeline uploads again",
      ),
    ]);
  });

  it("refuses a source that lies in an output area: a run would list nothing", () => {
    const text = `
pipelines:
  nightly:
    source: { bucket: media, prefix: photos/ }
    targets: ["16:9"]
    output: { bucket: media, prefix: out/, keyTemplate: "{dir}{name}-{target}.{ext}" }
    schedule: { cron: "0 2 * * *" }
  tidy:
    source: { bucket: media, prefix: photos/ }
    targets: ["1:1"]
    output: { bucket: media, prefix: photos/reformats/ }
    schedule: { cron: "0 3 * * *" }
`;
    expect(problems(text)).toEqual([
      "nightly | source | s3://media/photos/ lies where pipeline nightly writes its outputs (s3://media/, from its key template {dir}{name}-{target}.{ext}); outputs are never sources, so a run would find nothing: give the outputs a prefix and key template that start outside the source",
      "tidy | source | s3://media/photos/ lies where pipeline nightly writes its outputs (s3://media/, from its key template {dir}{name}-{target}.{ext}); outputs are never sources, so a run would find nothing: give the outputs a prefix and key template that start outside the source",
    ]);
  });

  it("accepts outputs beside a watched prefix, in the same bucket", () => {
    const text = `
pipelines:
  rockets:
    targets: ["16:9"]
    output: { bucket: media, prefix: out/, keyTemplate: "{prefix}{dir}{name}-{target}.{ext}" }
    triggers: [{ bucket: media, prefix: drop/ }]
`;
    expect(problems(text)).toEqual([]);
  });

  it("takes upload ceilings per day and hour, for pipelines with triggers, the hour within the day", () => {
    const pipeline = (budget: string, triggers = "[{ bucket: media, prefix: in/ }]") => `
pipelines:
  uploads:
    targets: ["1:1"]
    output: { bucket: media-out }
    triggers: ${triggers}
    budget: ${budget}
`;
    expect(problems(pipeline("{ uploadsPerDayUsd: 20, uploadsPerHourUsd: 5 }"))).toEqual([]);
    expect(problems(pipeline("{ uploadsPerHourUsd: 11 }"))).toEqual([
      "uploads | budget.uploadsPerHourUsd | must not be more than uploadsPerDayUsd (10, the default)",
    ]);
    expect(problems(pipeline("{}"))).toEqual([
      "uploads | budget | must name maxCostUsd, uploadsPerDayUsd or uploadsPerHourUsd",
    ]);
    expect(problems(pipeline("{ uploadsPerDayUsd: 0 }"))).toEqual([
      "uploads | budget.uploadsPerDayUsd | must be more than 0",
    ]);
    expect(
      problems(
        pipeline("{ uploadsPerDayUsd: 5 }", "[]").replace(
          "    targets",
          "    source: { bucket: media }\n    targets",
        ),
      ),
    ).toEqual([
      "uploads | budget.uploadsPerDayUsd | bounds what upload triggers add, and this pipeline has no triggers",
    ]);
  });

  describe("the loop guard (property)", () => {
    const buckets = fc.constantFrom("media", "media-out");
    const folder = fc.constantFrom("", "in/", "drop/", "out/", "out/16x9/", "a/b/", "dro");
    const literal = fc.constantFrom("", "/", "x/", "out/", "drop/", "-", ".", "o");
    const field = fc.constantFrom("{prefix}", "{target}", "{dir}", "{ext}", "{variant}");
    const keyTemplate = fc
      .array(fc.oneof(literal, field), { maxLength: 5 })
      .chain((parts) =>
        fc.constantFrom(
          `${parts.join("")}{name}.{ext}`,
          `${parts.join("")}{name}`,
          `{name}-${parts.join("")}`,
        ),
      );
    const pipeline = fc.record({
      output: fc.record({ bucket: buckets, prefix: folder, keyTemplate }),
      targets: fc.subarray(["16:9", "1:1", "preset:x-header"], { minLength: 1 }),
      triggers: fc.array(fc.record({ bucket: buckets, prefix: folder }), { maxLength: 2 }),
    });
    const sourceKey = fc
      .tuple(
        fc.constantFrom("", "drop/", "in/", "out/", "a/", "out/16x9/"),
        fc.constantFrom("cat", "r.x", "d"),
      )
      .map(([dir, name]) => `${dir}${name}.jpg`);

    it("either apply refuses the file, or no rendered output key lies where any trigger watches", () => {
      fc.assert(
        fc.property(
          fc.array(pipeline, { minLength: 1, maxLength: 3 }),
          fc.array(sourceKey, { minLength: 1, maxLength: 4 }),
          (pipelines, keys) => {
            const file = {
              pipelines: Object.fromEntries(
                pipelines.map((p, index) => [
                  `p${index}`,
                  {
                    ...p,
                    triggers: p.triggers.length > 0 ? p.triggers : [{ bucket: "media", prefix: "zz/" }],
                  },
                ]),
              ),
            };
            const parsed = pipelinesFileSchema.safeParse(file);
            if (!parsed.success) {
              // Refused, and for the loop guard's reason (the generated files are otherwise valid).
              expect(parsed.error.issues.every((issue) => issue.message.includes("a loop"))).toBe(true);
              return;
            }
            const triggers = Object.values(parsed.data.pipelines).flatMap((p) => p.triggers);
            for (const writer of Object.values(parsed.data.pipelines)) {
              for (const target of writer.targets) {
                for (const key of keys) {
                  const { dir, name } = splitKey(key);
                  let output: string;
                  try {
                    output = renderKeyTemplate(writer.output.keyTemplate, {
                      prefix: writer.output.prefix ?? "",
                      target: targetLabel(target),
                      dir,
                      name: `${name}-1920x1080`,
                      ext: "jpg",
                      variant: "1",
                    });
                  } catch {
                    continue;
                  }
                  const landed = { bucket: writer.output.bucket, key: output };
                  for (const trigger of triggers) expect(inArea(trigger, landed)).toBe(false);
                }
              }
            }
          },
        ),
        { numRuns: 400 },
      );
    }, 60_000);
  });

  it("reports YAML syntax errors with their line", () => {
    expect(problems("pipelines:\n  a: [unclosed\n")).toEqual([expect.stringMatching(/^- \| line \d+: \| /)]);
  });

  it("the error message lists every problem, one per line", () => {
    expect(() => parsePipelinesFile("pipelines:\n  x:\n    targets: []\n", "p.yaml")).toThrow(
      /^p\.yaml: \d+ problems\n {2}pipeline x: /,
    );
  });
});
