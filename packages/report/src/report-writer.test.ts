import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import sharp from "sharp";
import { afterEach, describe, expect, it } from "vitest";
import { type ReportSource, writeBatchReport } from "./report-writer.ts";

const png = (width: number, height: number) =>
  sharp({ create: { width, height, channels: 3, background: "#468" } })
    .png()
    .toBuffer();

const source = (n: number): ReportSource => ({
  source: `s3://src/photos/${n}.jpg`,
  outputs: [
    {
      target: "16x9",
      bucket: "out",
      key: `16x9/photos/${n}.jpg`,
      width: 1600,
      height: 900,
      ...(n === 2 ? { sourceScale: 2.109375, generatedShare: 0.4375 } : {}),
    },
  ],
  failures: n === 2 ? [{ target: "1x1", code: "sourceNotFound", message: "the source is gone" }] : [],
});

let directory: string | undefined;
afterEach(async () => {
  if (directory) await rm(directory, { recursive: true, force: true });
});

describe("writeBatchReport", () => {
  it("writes thumbnails beside the page for the first sources only, and lists the rest by name", async () => {
    directory = await mkdtemp(join(tmpdir(), "report-"));
    const loaded: string[] = [];
    const report = await writeBatchReport({
      file: join(directory, "index.html"),
      title: "batch b1",
      summary: [{ label: "completed", value: "3" }],
      sources: [0, 1, 2].map(source),
      maxSourcesWithPictures: 2,
      loadImage: async (ref) => {
        loaded.push(ref);
        if (ref === "s3://src/photos/1.jpg") throw new Error("NoSuchKey");
        return png(1600, 900);
      },
    });
    expect(loaded.sort()).toEqual([
      "s3://out/16x9/photos/0.jpg",
      "s3://out/16x9/photos/1.jpg",
      "s3://src/photos/0.jpg",
      "s3://src/photos/1.jpg",
    ]);
    expect(report).toMatchObject({ rows: 3, pictures: 3, missing: 1 });
    const html = await readFile(report.file, "utf8");
    const files = [...html.matchAll(/src="(thumbs\/[0-9a-f]+\.webp)"/g)].map((match) => match[1]!);
    expect(files).toHaveLength(3);
    for (const file of files) {
      const meta = await sharp(join(directory, file)).metadata();
      expect(meta.format).toBe("webp");
      expect(Math.max(meta.width, meta.height)).toBe(320);
    }
    expect(html).toContain("no picture: NoSuchKey");
    expect(html).toContain("16x9 → 1600×900, source ×2.11, 44% generated: s3://out/16x9/photos/2.jpg");
    expect(html).toContain('alt="16x9 → 1600×900"');
    expect(html).toContain("Pictures for the first 2 of 3 sources");
    expect(html).toContain("<td>s3://src/photos/2.jpg</td><td>1x1</td><td>sourceNotFound</td>");
    expect(html).not.toMatch(/X-Amz-|https?:\/\//);
  });

  it("writes a page for a batch with no sources", async () => {
    directory = await mkdtemp(join(tmpdir(), "report-"));
    const report = await writeBatchReport({
      file: join(directory, "nested", "index.html"),
      title: "empty",
      summary: [],
      sources: [],
      loadImage: async () => {
        throw new Error("not called");
      },
    });
    expect(existsSync(report.file)).toBe(true);
    expect(report).toMatchObject({ rows: 0, pictures: 0, missing: 0 });
  });
});
