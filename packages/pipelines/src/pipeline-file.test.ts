import { describe, expect, it } from "vitest";
import { PipelinesFileError, parsePipelinesFile } from "./pipeline-file.ts";

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
      "loop | triggers.0 | watches s3://media/, where pipeline loop writes its outputs (s3://media/reformats/); its outputs would trigger it again",
    ]);
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
