import { readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import {
  configureSharp,
  createImageSlots,
  describeImageFile,
  providerInputEncoding,
  renderImage,
} from "@reframe/images";

/**
 * The images benchmark's baseline: the same resizes as the worker's pre-scaling (decode, orient,
 * Lanczos to the planned size, encode), with the same sharp settings and image concurrency, in one
 * process, from files on local disk: no S3, no queue, no provider. Prints one JSON line.
 * argv: DIRECTORY COUNT CONCURRENCY WIDTHxHEIGHT… (one planned size per source file, in name order).
 */
const [directory, count, concurrency, ...sizes] = process.argv.slice(2);
if (!directory || !count || !concurrency)
  throw new Error("usage: bare-sharp.ts DIR COUNT CONCURRENCY SIZES…");
configureSharp();
const sources = (await readdir(directory)).filter((name) => name.startsWith("source-")).sort();
const planned = sizes.map((size) => {
  const [width, height] = size.split("x").map(Number) as [number, number];
  return { width, height };
});
const limits = { maxPixels: 100_000_000, maxBytes: 200_000_000 };
const slots = createImageSlots(Number(concurrency));
const started = performance.now();
const cpuBefore = process.cpuUsage();
await Promise.all(
  Array.from({ length: Number(count) }, (_, i) =>
    slots.run(async () => {
      const source = join(directory, sources[i % sources.length]!);
      const described = await describeImageFile(source, limits);
      const encoding = providerInputEncoding(described);
      const file = join(directory, `out-${i}.${encoding.format}`);
      await renderImage({ source, described, size: planned[i % sources.length]!, file, encoding, limits });
      await rm(file);
    }),
  ),
);
const cpu = process.cpuUsage(cpuBefore);
console.log(
  JSON.stringify({
    seconds: (performance.now() - started) / 1000,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
  }),
);
