import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ImageProblemError } from "./image-problem.ts";
import { createImageSlots, type HeldSource, type SourceHold } from "./image-work.ts";
import { describeImageFile, providerInputEncoding, renderImage } from "./render.ts";
import type { SourceLimits } from "./source-limits.ts";
import { spoolToFile } from "./spool.ts";
import { type AwkwardFile, awkwardLibrary } from "./testing/awkward-library.ts";

const LIMITS: SourceLimits = { maxPixels: 100_000_000, maxBytes: 200_000_000 };

let directory: string;
let files: Map<string, AwkwardFile>;
beforeAll(async () => {
  directory = await mkdtemp(join(tmpdir(), "reframe-images-"));
  files = new Map((await awkwardLibrary({ photoWidth: 1200, photoHeight: 800 })).map((f) => [f.name, f]));
}, 60_000);
afterAll(async () => {
  if (directory) await rm(directory, { recursive: true, force: true });
});

async function local(name: string): Promise<string> {
  const path = join(directory, name);
  await writeFile(path, files.get(name)!.bytes);
  return path;
}

/** Renders a library file as the worker prepares a provider input, at `size`. */
async function providerInput(name: string, size: { width: number; height: number }) {
  const source = await local(name);
  const described = await describeImageFile(source, LIMITS);
  const encoding = providerInputEncoding(described);
  const rendered = await renderImage({
    source,
    described,
    size,
    file: join(directory, `${name}.out.${encoding.format}`),
    encoding,
    limits: LIMITS,
  });
  return { described, encoding, rendered, metadata: await sharp(rendered.file).metadata() };
}

describe("provider inputs from the awkward library", () => {
  it.each([
    ["deep-16bit.png", "png"],
    ["print-cmyk.jpg", "jpeg"],
    ["grey.jpg", "jpeg"],
    ["cutout-alpha.png", "png"],
    ["cutout-alpha.webp", "jpeg"],
    ["scan.tiff", "png"],
    ["photo.avif", "jpeg"],
    ["animated.gif", "png"],
  ])("%s becomes an 8-bit sRGB %s of three channels, of the planned size", async (name, format) => {
    const { rendered, metadata } = await providerInput(name, { width: 320, height: 240 });
    expect(rendered).toMatchObject({ width: 320, height: 240 });
    expect(metadata).toMatchObject({
      format,
      width: 320,
      height: 240,
      depth: "uchar",
      space: "srgb",
      channels: 3,
      hasAlpha: false,
    });
  });

  it("turns a phone photo upright (EXIF orientation 6 and 8) and scales it down", async () => {
    for (const name of ["phone-rotated-6.jpg", "phone-rotated-8.jpg"]) {
      const { described, metadata } = await providerInput(name, { width: 400, height: 600 });
      expect(described).toMatchObject({ width: 800, height: 1200 });
      expect(metadata).toMatchObject({ width: 400, height: 600 });
      expect(metadata.orientation ?? 1).toBe(1);
    }
  });

  it("lays a transparent cut-out on white", async () => {
    const { rendered } = await providerInput("cutout-alpha.png", { width: 640, height: 480 });
    const { data } = await sharp(rendered.file)
      .extract({ left: 0, top: 0, width: 1, height: 1 })
      .raw()
      .toBuffer({
        resolveWithObject: true,
      });
    expect([...data]).toEqual([255, 255, 255]);
  });

  it("takes an animated GIF's first frame and says it was animated", async () => {
    const { described, rendered } = await providerInput("animated.gif", { width: 120, height: 90 });
    expect(described).toMatchObject({ format: "gif", animated: true });
    const { data } = await sharp(rendered.file)
      .extract({ left: 60, top: 45, width: 1, height: 1 })
      .raw()
      .toBuffer({
        resolveWithObject: true,
      });
    expect(data[0]).toBeGreaterThan(200);
    expect(data[2]).toBeLessThan(80);
  });

  it("scales up as well as down (Lanczos): a 32×32 icon to 128×128", async () => {
    const { rendered } = await providerInput("icon-32.png", { width: 128, height: 128 });
    expect(rendered).toMatchObject({ width: 128, height: 128 });
  });

  it("refuses a truncated JPEG when decoding it, as unreadable", async () => {
    const source = await local("truncated.jpg");
    const described = await describeImageFile(source, LIMITS);
    const error = await renderImage({
      source,
      described,
      size: { width: 300, height: 225 },
      file: join(directory, "truncated.out.jpg"),
      encoding: providerInputEncoding(described),
      limits: LIMITS,
    }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ImageProblemError);
    expect((error as ImageProblemError).code).toBe("unreadable");
  });

  it("refuses a decode past MAX_SOURCE_PIXELS as too large", async () => {
    const source = await local("panorama.jpg");
    const error = await describeImageFile(source, { ...LIMITS, maxPixels: 1_000_000 }).catch(
      (caught: unknown) => caught,
    );
    expect(error).toMatchObject({ code: "tooLarge" });
  });
});

describe("spoolToFile", () => {
  it("writes a download to a file and stops past MAX_SOURCE_BYTES", async () => {
    async function* chunks(count: number) {
      for (let i = 0; i < count; i += 1) yield new Uint8Array(1000).fill(i);
    }
    expect(await spoolToFile(chunks(5), join(directory, "ok.bin"), LIMITS)).toBe(5000);
    const error = await spoolToFile(chunks(50), join(directory, "big.bin"), {
      ...LIMITS,
      maxBytes: 20_000,
    }).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: "tooLarge" });
    expect((error as Error).message).toBe(
      "is over the limit of 20 kB (MAX_SOURCE_BYTES): the download stopped after 21 kB",
    );
  });

  it("writes every byte in order when the chunks are batched (3 MB in 64 KiB chunks)", async () => {
    const expected = Buffer.alloc(3_000_000);
    for (let i = 0; i < expected.length; i += 1) expected[i] = (i * 7 + (i >> 16)) % 251;
    async function* chunks() {
      for (let at = 0; at < expected.length; at += 65_536) yield expected.subarray(at, at + 65_536);
    }
    const file = join(directory, "batched.bin");
    expect(await spoolToFile(chunks(), file, LIMITS)).toBe(expected.length);
    expect((await readFile(file)).equals(expected)).toBe(true);
  });
});

describe("createImageSlots", () => {
  it("never runs more than its concurrency at once", async () => {
    const slots = createImageSlots(2);
    let running = 0;
    let most = 0;
    await Promise.all(
      Array.from({ length: 8 }, () =>
        slots.run(async () => {
          running += 1;
          most = Math.max(most, running);
          await new Promise((resolve) => setImmediate(resolve));
          running -= 1;
        }),
      ),
    );
    expect(most).toBe(2);
  });

  it("lends at most twice as many source slots as decodes, and lends a freed one again", () => {
    const slots = createImageSlots(1);
    const first = held(slots.tryHoldSource("a"));
    const second = held(slots.tryHoldSource("b"));
    first();
    first();
    const third = held(slots.tryHoldSource("c"));
    expect("release" in slots.tryHoldSource("d")).toBe(false);
    second();
    third();
    expect("release" in slots.tryHoldSource("e")).toBe(true);
  });

  it("lines up as many jobs again, hands each a freed slot at once in order, then parks the rest", async () => {
    const slots = createImageSlots(1);
    const a = held(slots.tryHoldSource("a"));
    const b = held(slots.tryHoldSource("b"));
    const handed: string[] = [];
    const line = ["c", "d"].map((waiter) => queued(slots.tryHoldSource(waiter)));
    for (const [i, hold] of line.entries()) void hold.then(() => handed.push(["c", "d"][i]!));
    expect(retryIn(slots.tryHoldSource("e"))).toBeGreaterThan(0);
    b();
    b();
    await Promise.resolve();
    expect(handed).toEqual(["c"]);
    // The slot went to the line, not back to the pool: the next job lines up behind d.
    const e = queued(slots.tryHoldSource("e"));
    expect(retryIn(slots.tryHoldSource("f"))).toBeGreaterThan(0);
    a();
    await Promise.resolve();
    expect(handed).toEqual(["c", "d"]);
    (await line[0]!).release();
    (await e).release();
    (await line[1]!).release();
    // Every slot free again: held at once.
    held(slots.tryHoldSource("f"));
    held(slots.tryHoldSource("g"));
  });

  it("wakes parked waiters in order as the line gets room for them, once each", async () => {
    let now = 0;
    const slots = createImageSlots(1, { now: () => now });
    const a = held(slots.tryHoldSource("a"));
    held(slots.tryHoldSource("b"));
    const c = queued(slots.tryHoldSource("c"));
    const d = queued(slots.tryHoldSource("d"));
    const woken: string[] = [];
    for (const waiter of ["w1", "w2", "w3"]) {
      retryIn(slots.tryHoldSource(waiter));
      slots.whenRoom(waiter, () => woken.push(waiter));
    }
    // Not parked (it got a slot): nothing to wake.
    slots.whenRoom("a", () => woken.push("a"));
    expect(woken).toEqual([]);
    a();
    // a's slot went to c: one place free in the line, for w1.
    expect(woken).toEqual(["w1"]);
    (await c).release();
    expect(woken).toEqual(["w1", "w2"]);
    // w1 comes back and lines up; the line is full again (d has a slot, w1 and w2's place).
    queued(slots.tryHoldSource("w1"));
    expect(woken).toEqual(["w1", "w2"]);
    // w2 never comes back (another worker took its job): after a while its place goes to w3.
    now = 6_000;
    (await d).release();
    expect(woken).toEqual(["w1", "w2", "w3"]);
  });

  it("parks each waiter until about when the line should have room for it, in the order they came", () => {
    let now = 0;
    // No jitter: random() = 0.5 is the middle of the ±20% spread.
    const slots = createImageSlots(1, { now: () => now, random: () => 0.5 });
    const release = [held(slots.tryHoldSource("a")), held(slots.tryHoldSource("b"))];
    // Each slot held 4 s: the mean hold moves towards 4 s (from 2 s, by a fifth each time).
    now = 4_000;
    for (const free of release) free();
    for (let i = 0; i < 20; i += 1) {
      const start = now;
      const hold = held(slots.tryHoldSource(`h${i}`));
      now = start + 4_000;
      hold();
    }
    now = 100_000;
    held(slots.tryHoldSource("x"));
    held(slots.tryHoldSource("y"));
    queued(slots.tryHoldSource("q1"));
    queued(slots.tryHoldSource("q2"));
    const waits = ["w1", "w2", "w3", "w4"].map((waiter) => retryIn(slots.tryHoldSource(waiter)));
    // Two source slots held about 4 s each: one frees about every 2 s. Behind the two in line, the
    // n-th waiter comes back after three quarters of (2 + n) × 2 s.
    expect(waits.map((ms) => Math.round(ms / 100) / 10)).toEqual([4.5, 6, 7.5, 9]);
    // A waiter that comes back early keeps its place rather than going to the back.
    expect(Math.round(retryIn(slots.tryHoldSource("w2")) / 100) / 10).toBe(6);
    // Bounded: never over a minute, however long the line.
    for (let i = 0; i < 100; i += 1) retryIn(slots.tryHoldSource(`more${i}`));
    expect(retryIn(slots.tryHoldSource("last"))).toBe(60_000);
  });

  it("forgets waiters that do not come back, so that they do not lengthen the others' waits", () => {
    let now = 0;
    const slots = createImageSlots(1, { now: () => now, random: () => 0.5 });
    held(slots.tryHoldSource("a"));
    held(slots.tryHoldSource("b"));
    queued(slots.tryHoldSource("c"));
    queued(slots.tryHoldSource("d"));
    for (let i = 0; i < 10; i += 1) retryIn(slots.tryHoldSource(`gone${i}`));
    const behindThem = retryIn(slots.tryHoldSource("late"));
    now = 10_000_000;
    expect(retryIn(slots.tryHoldSource("fresh"))).toBeLessThan(behindThem);
    // Behind the two in line only: three quarters of 3 × 2 s (the first estimate of a hold) over 2 slots.
    expect(retryIn(slots.tryHoldSource("fresh"))).toBe(2_250);
  });
});

function held(hold: SourceHold): () => void {
  if (!("release" in hold)) throw new Error("no source slot now");
  return hold.release;
}

function queued(hold: SourceHold): Promise<HeldSource> {
  if (!("queued" in hold)) throw new Error("not in the line");
  return hold.queued;
}

function retryIn(hold: SourceHold): number {
  if (!("retryInMs" in hold)) throw new Error("a source slot was lent or promised");
  return hold.retryInMs;
}
