import sharp from "sharp";
import { beforeAll, describe, expect, it } from "vitest";
import { ImageProblemError } from "./image-problem.ts";
import { type ByteRange, inspectImage } from "./inspect.ts";
import type { SourceLimits } from "./source-limits.ts";
import { type AwkwardFile, awkwardLibrary, photoLike } from "./testing/awkward-library.ts";

const LIMITS: SourceLimits = { maxPixels: 100_000_000, maxBytes: 200_000_000 };

/** An in-memory source read by ranges, as S3 answers them; counts the reads. */
function rangesOf(bytes: Uint8Array, { withTotal = true } = {}) {
  const reads: [number, number][] = [];
  const read = async (start: number, end: number): Promise<ByteRange> => {
    reads.push([start, end]);
    return { bytes: bytes.subarray(start, end + 1), totalBytes: withTotal ? bytes.length : undefined };
  };
  return { read, reads };
}

async function problemOf(bytes: Uint8Array, limits = LIMITS): Promise<{ code: string; message: string }> {
  const error = await inspectImage(rangesOf(bytes).read, limits).catch((caught: unknown) => caught);
  expect(error).toBeInstanceOf(ImageProblemError);
  return { code: (error as ImageProblemError).code, message: (error as Error).message };
}

describe("inspectImage over the awkward library", () => {
  let files: Map<string, AwkwardFile>;
  beforeAll(async () => {
    files = new Map((await awkwardLibrary({ photoWidth: 1200, photoHeight: 800 })).map((f) => [f.name, f]));
  }, 60_000);
  const bytesOf = (name: string) => files.get(name)!.bytes;

  it.each([
    ["phone-rotated-6.jpg", "jpeg", { width: 800, height: 1200 }, ["EXIF orientation 6"]],
    ["phone-rotated-8.jpg", "jpeg", { width: 800, height: 1200 }, ["EXIF orientation 8"]],
    ["deep-16bit.png", "png", { width: 640, height: 480 }, ["16-bit"]],
    ["print-cmyk.jpg", "jpeg", { width: 640, height: 480 }, ["CMYK"]],
    ["grey.jpg", "jpeg", { width: 640, height: 480 }, ["grey"]],
    ["cutout-alpha.png", "png", { width: 640, height: 480 }, ["alpha"]],
    ["cutout-alpha.webp", "webp", { width: 640, height: 480 }, ["WebP"]],
    ["scan.tiff", "tiff", { width: 640, height: 480 }, ["TIFF"]],
    ["photo.avif", "avif", { width: 640, height: 480 }, ["AVIF"]],
    ["animated.gif", "gif", { width: 120, height: 90 }, ["GIF"]],
    ["panorama.jpg", "jpeg", { width: 8000, height: 300 }, []],
    ["icon-32.png", "png", { width: 32, height: 32 }, []],
  ])("%s is a %s of %j, converted for %j", async (name, format, size, conversions) => {
    expect(await inspectImage(rangesOf(bytesOf(name)).read, LIMITS)).toMatchObject({
      format,
      ...size,
      totalBytes: bytesOf(name).length,
      conversions,
    });
  });

  it.each([
    ["truncated.jpg", "unreadable", "is truncated: a JPEG without its end-of-image marker"],
    ["empty.jpg", "unreadable", "is empty (0 bytes)"],
    ["notes.jpg", "unreadable", "is not an image (no image format starts its first bytes)"],
    ["drawing.svg", "unsupported", "is an SVG image: refused"],
    [
      "bomb-40000.png",
      "tooLarge",
      "is 40000×40000 px (1600 MP), over the limit of 100 MP (MAX_SOURCE_PIXELS)",
    ],
  ])("%s is refused as %s: %s", async (name, code, message) => {
    const problem = await problemOf(bytesOf(name));
    expect(problem.code).toBe(code);
    expect(problem.message).toContain(message);
  });

  it("refuses the 40,000×40,000 PNG from its first bytes: one ranged read of a 4.7 MB file", async () => {
    const bomb = bytesOf("bomb-40000.png");
    expect(bomb.length).toBeGreaterThan(4_000_000);
    expect(bomb.length).toBeLessThan(6_000_000);
    const { read, reads } = rangesOf(bomb);
    await expect(inspectImage(read, LIMITS)).rejects.toThrowError(/MAX_SOURCE_PIXELS/);
    expect(reads).toEqual([[0, 65_535]]);
  });

  it("reads the TIFF directory where the header says it is, at the end of the file", async () => {
    const { read, reads } = rangesOf(bytesOf("scan.tiff"));
    await inspectImage(read, LIMITS);
    const directory = new DataView(bytesOf("scan.tiff").buffer, bytesOf("scan.tiff").byteOffset).getUint32(
      4,
      true,
    );
    expect(directory).toBeGreaterThan(65_535);
    expect(reads).toEqual([
      [0, 65_535],
      [directory, directory + 65_535],
    ]);
  });

  it("knows a whole JPEG by its end marker in the last 64 KiB, without downloading it", async () => {
    const { read, reads } = rangesOf(bytesOf("panorama.jpg"));
    await inspectImage(read, LIMITS);
    const size = bytesOf("panorama.jpg").length;
    expect(reads).toEqual([
      [0, 65_535],
      [size - 65_536, size - 1],
    ]);
  });
});

describe("inspectImage, reading more", () => {
  it("reads on when a JPEG's header segments run past the first 64 KiB", async () => {
    const jpeg = await (await photoLike(300, 200)).jpeg().toBuffer();
    // Two 60 KiB APP2 segments after SOI push the frame header to about 120 KiB.
    const segment = (fill: number) => {
      const body = Buffer.alloc(60_000, fill);
      const head = Buffer.from([0xff, 0xe2, 0, 0]);
      head.writeUInt16BE(body.length + 2, 2);
      return Buffer.concat([head, body]);
    };
    const padded = Buffer.concat([jpeg.subarray(0, 2), segment(1), segment(2), jpeg.subarray(2)]);
    const { read, reads } = rangesOf(padded);
    expect(await inspectImage(read, LIMITS)).toMatchObject({ format: "jpeg", width: 300, height: 200 });
    expect(reads[1]).toEqual([65_536, 8 * 65_536 - 1]);
  });

  it("works with a server that gives no total size, and leaves the end check to the download", async () => {
    const jpeg = await (await photoLike(1600, 1200)).jpeg({ quality: 95 }).toBuffer();
    expect(jpeg.length).toBeGreaterThan(65_536);
    const { read, reads } = rangesOf(jpeg, { withTotal: false });
    expect(await inspectImage(read, LIMITS)).toMatchObject({
      width: 1600,
      height: 1200,
      totalBytes: undefined,
    });
    expect(reads).toHaveLength(1);
  });

  it("accepts data after a JPEG's end marker (a phone's trailer, a motion photo)", async () => {
    const jpeg = await (await photoLike(900, 600)).jpeg().toBuffer();
    const trailer = Buffer.alloc(20_000, 0x55);
    expect(await inspectImage(rangesOf(Buffer.concat([jpeg, trailer])).read, LIMITS)).toMatchObject({
      width: 900,
      conversions: [],
    });
  });

  it("refuses a source over MAX_SOURCE_BYTES from the size its first read reports", async () => {
    const jpeg = await (await photoLike(600, 400)).jpeg({ quality: 95 }).toBuffer();
    expect(jpeg.length).toBeGreaterThan(10_000);
    const problem = await problemOf(jpeg, { ...LIMITS, maxBytes: 10_000 });
    expect(problem.code).toBe("tooLarge");
    expect(problem.message).toMatch(/^is \d+ kB, over the limit of 10 kB \(MAX_SOURCE_BYTES\)$/);
  });

  it("names a format it does not read", async () => {
    const bmp = Buffer.alloc(54 + 4 * 4 * 3);
    bmp.write("BM", 0, "latin1");
    bmp.writeUInt32LE(bmp.length, 2);
    bmp.writeUInt32LE(54, 10);
    bmp.writeUInt32LE(40, 14);
    bmp.writeInt32LE(4, 18);
    bmp.writeInt32LE(4, 22);
    bmp.writeUInt16LE(1, 26);
    bmp.writeUInt16LE(24, 28);
    const problem = await problemOf(bmp);
    expect(problem.code).toBe("unsupported");
    expect(problem.message).toMatch(
      /^is a BMP image, which reframe does not read \(it reads JPEG, PNG, WebP/,
    );
  });

  it("describes an 8-bit sRGB PNG without alpha as readable by the provider as it is", async () => {
    const png = await sharp({ create: { width: 64, height: 48, channels: 3, background: "#123" } })
      .png()
      .toBuffer();
    expect(await inspectImage(rangesOf(png).read, LIMITS)).toEqual({
      format: "png",
      width: 64,
      height: 48,
      orientation: 1,
      totalBytes: png.length,
      conversions: [],
    });
  });
});
