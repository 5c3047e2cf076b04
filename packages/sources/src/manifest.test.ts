import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { expandJobs } from "./expand.ts";
import { ManifestError, manifestFormatOf, parseManifest, readManifest } from "./manifest.ts";

describe("parseManifest", () => {
  it("reads CSV rows of keys, s3 URIs and URLs with hints and per-row overrides", () => {
    const csv = [
      "key,bucket,etag,width,height,targets,anchor,prefix,format,quality,mode",
      "shoes/red.jpg,,abc,1024,768,,,,,,",
      "shoes/blue.jpg,other-bucket,,,,16:9|preset:x-header,top,spring/,WEBP,80,fast",
      "",
    ].join("\n");
    const items = parseManifest(csv, { name: "m.csv", format: "csv", defaultBucket: "library" });
    expect(items).toEqual([
      {
        source: {
          kind: "s3",
          bucket: "library",
          key: "shoes/red.jpg",
          etag: "abc",
          width: 1024,
          height: 768,
        },
        origin: "m.csv line 2",
        overrides: {},
      },
      {
        source: { kind: "s3", bucket: "other-bucket", key: "shoes/blue.jpg" },
        origin: "m.csv line 3",
        overrides: {
          targets: [
            { kind: "ratio", ratio: "16:9" },
            { kind: "preset", name: "x-header" },
          ],
          anchor: "top",
          output: { prefix: "spring/", format: "WEBP", quality: 80 },
          options: { mode: "fast" },
        },
      },
    ]);
  });

  it("reads JSON Lines with source URIs and URLs", () => {
    const jsonl =
      '{"source":"s3://lib/a b+c.png"}\n\n{"url":"https://cdn.example.com/x.jpg","targets":["4:5"]}\n';
    const items = parseManifest(jsonl, { name: "m.jsonl", format: "jsonl" });
    expect(items.map((item) => item.source)).toEqual([
      { kind: "s3", bucket: "lib", key: "a b+c.png" },
      { kind: "url", url: "https://cdn.example.com/x.jpg" },
    ]);
    expect(items[1]?.origin).toBe("m.jsonl line 3");
  });

  it("reports every bad row with its line, field and rule, and returns nothing", () => {
    const csv = [
      "key,url,quality,targets,anchor",
      "a.jpg,,10,,",
      ",,,,",
      "b.jpg,https://x.example/b.jpg,,,",
      "c.jpg,,,wide,",
      "d.jpg,,,,middle",
    ].join("\n");
    const error = (() => {
      try {
        parseManifest(csv, { name: "m.csv", format: "csv", defaultBucket: "lib" });
      } catch (caught) {
        return caught;
      }
    })() as ManifestError;
    expect(error).toBeInstanceOf(ManifestError);
    expect(error.issues).toEqual([
      { line: 2, field: "quality", rule: "must be at least 20" },
      { line: 3, field: "source", rule: "give exactly one of source, key or url" },
      { line: 4, field: "source", rule: "give exactly one of source, key or url" },
      { line: 5, field: "targets", rule: expect.stringContaining("wide:") },
      { line: 6, field: "anchor", rule: expect.stringContaining("anchor names") },
    ]);
    expect(error.message).toMatch(/^m\.csv: 5 bad rows\n {2}line 2: quality must be at least 20/);
  });

  it("reads a column's repeated cells as it reads them once, and still names a bad cell among them", () => {
    const rows = Array.from(
      { length: 5000 },
      (_, i) => `k${i}.jpg,${800 + (i % 3)},600,16:9|1:1,${i % 2 ? 90 : ""}`,
    );
    const header = "key,width,height,targets,quality";
    const items = parseManifest([header, ...rows].join("\n"), {
      name: "m.csv",
      format: "csv",
      defaultBucket: "lib",
    });
    expect(items).toHaveLength(5000);
    // Rows far into the file (their cells remembered) read as each row alone does.
    for (const i of [0, 1, 2, 4998, 4999]) {
      const [single] = parseManifest([header, rows[i]].join("\n"), {
        name: "m.csv",
        format: "csv",
        defaultBucket: "lib",
      });
      expect({ ...items[i], origin: "" }).toEqual({ ...single, origin: "" });
    }
    expect(items[4999]!.source).toEqual({
      kind: "s3",
      bucket: "lib",
      key: "k4999.jpg",
      width: 801,
      height: 600,
    });
    const bad = [header, ...rows.slice(0, 4500), "z.jpg,0,600,16:9,90", ...rows.slice(4500)].join("\n");
    expect(() => parseManifest(bad, { name: "m.csv", format: "csv", defaultBucket: "lib" })).toThrow(
      /line 4502: width must be at least 1/,
    );
  });

  it("reads a row's canvas policy, the generated share as 0.95 or 95%, and names a bad one", () => {
    const csv = [
      "key,fit,maxUpscale,maxGeneratedShare",
      "a.jpg,down-only,,",
      "b.jpg,fit,2,95%",
      "c.jpg,,,0.5",
    ].join("\n");
    const items = parseManifest(csv, { name: "m.csv", format: "csv", defaultBucket: "lib" });
    expect(items.map((item) => item.overrides)).toEqual([
      { options: { fit: "down-only" } },
      { options: { fit: "fit", maxUpscale: 2, maxGeneratedShare: 0.95 } },
      { options: { maxGeneratedShare: 0.5 } },
    ]);
    // A row's fit beats the run's down-only, even when the row names the default.
    const jobs = expandJobs(items, {
      targets: [{ kind: "preset", name: "instagram-story" }],
      output: { bucket: "out" },
      options: { fit: "down-only" },
    });
    expect(jobs.map((job) => job.options?.fit)).toEqual(["down-only", "fit", "down-only"]);
    const bad = ["key,fit,maxUpscale,maxGeneratedShare", "a.jpg,stretch,0,", "b.jpg,,many,150%"].join("\n");
    expect(() => parseManifest(bad, { name: "m.csv", format: "csv", defaultBucket: "lib" })).toThrow(
      expect.objectContaining({
        issues: [
          { line: 2, field: "fit", rule: "must be fit or down-only" },
          { line: 2, field: "maxUpscale", rule: "must be at least 1" },
          { line: 3, field: "maxUpscale", rule: "must be a number" },
          { line: 3, field: "maxGeneratedShare", rule: "must be from 0 to 1" },
        ],
      }),
    );
  });

  it("refuses a key without a bucket, and a JSON line that does not parse", () => {
    expect(() => parseManifest("key\na.jpg\n", { name: "m.csv", format: "csv" })).toThrow(
      /line 2: bucket is required/,
    );
    expect(() => parseManifest('{"key":\n', { name: "m.jsonl", format: "jsonl" })).toThrow(
      /line 1: \(row\) is not valid JSON/,
    );
  });

  it("knows manifests by their extension", () => {
    expect(manifestFormatOf("rows.CSV")).toBe("csv");
    expect(manifestFormatOf("rows.jsonl")).toBe("jsonl");
    expect(manifestFormatOf("rows.ndjson")).toBe("jsonl");
    expect(manifestFormatOf("rows.txt")).toBeUndefined();
  });
});

describe("expandJobs", () => {
  it("makes one job per source and target; a row's anchor beats the target's, which beats the run's", () => {
    const items = parseManifest(
      ["key,targets,anchor,format", "a.jpg,,,", "b.jpg,1:1,bottom,PNG"].join("\n"),
      { name: "m.csv", format: "csv", defaultBucket: "lib" },
    );
    const jobs = expandJobs(items, {
      targets: [
        { kind: "ratio", ratio: "16:9", anchor: "left" },
        { kind: "preset", name: "x-header" },
        { kind: "margins", top: 0, right: 10, bottom: 0, left: 0 },
      ],
      anchor: "top",
      output: { bucket: "out", format: "JPG" },
      labels: { batchId: "b1" },
    });
    expect(
      jobs.map((job) => [job.source.kind === "s3" && job.source.key, job.target, job.output.format]),
    ).toEqual([
      ["a.jpg", { kind: "ratio", ratio: "16:9", anchor: "left" }, "JPG"],
      ["a.jpg", { kind: "preset", name: "x-header", anchor: "top" }, "JPG"],
      ["a.jpg", { kind: "margins", top: 0, right: 10, bottom: 0, left: 0 }, "JPG"],
      ["b.jpg", { kind: "ratio", ratio: "1:1", anchor: "bottom" }, "PNG"],
    ]);
    expect(jobs[0]?.labels).toEqual({ batchId: "b1" });
  });
});

describe("readManifest", () => {
  /** The text in small pieces, cut mid-line, as a file stream delivers it. */
  const pieces = (text: string, size = 7) =>
    Readable.from(
      Array.from({ length: Math.ceil(text.length / size) }, (_, i) => text.slice(i * size, (i + 1) * size)),
    );
  const collect = async (items: AsyncIterable<unknown>) => {
    const out: unknown[] = [];
    for await (const item of items) out.push(item);
    return out;
  };

  it("yields what parseManifest returns, CSV and JSON Lines, row by row", async () => {
    const csv = "key,bucket,width,height,targets\r\na.jpg,lib,10,20,16:9|1:1\r\n\r\nb.jpg,lib,,,\r\n";
    const jsonl =
      '{"source":"s3://lib/a.png"}\r\n\r\n{"url":"https://cdn.example.com/x.jpg","targets":["4:5"]}\n';
    for (const [text, format] of [
      [csv, "csv"],
      [jsonl, "jsonl"],
    ] as const) {
      const options = { name: `m.${format}`, format, defaultBucket: "lib" };
      expect(await collect(readManifest(pieces(text), options))).toEqual(parseManifest(text, options));
    }
  });

  it("reads to the end, then names the first bad rows and counts them all", async () => {
    const rows = Array.from({ length: 250 }, (_, i) => (i % 2 === 0 ? `${i}.jpg,50` : `${i}.jpg,10`));
    const text = ["key,quality", ...rows].join("\n");
    const seen: unknown[] = [];
    const error = await (async () => {
      try {
        for await (const item of readManifest(pieces(text, 64), {
          name: "m.csv",
          format: "csv",
          defaultBucket: "b",
        }))
          seen.push(item);
      } catch (caught) {
        return caught;
      }
    })();
    expect(seen).toHaveLength(125);
    expect(error).toBeInstanceOf(ManifestError);
    expect((error as ManifestError).count).toBe(125);
    expect((error as ManifestError).issues).toHaveLength(100);
    expect((error as ManifestError).issues[0]).toEqual({
      line: 3,
      field: "quality",
      rule: "must be at least 20",
    });
    expect((error as ManifestError).message).toMatch(/^m\.csv: 125 bad rows\n[\s\S]*… and 115 more$/);
  });
});
