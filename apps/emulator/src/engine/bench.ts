/**
 * Prints outpaint timings: a 1024×1024 source extended to 2048×1024 (512 px left and right),
 * median of 5 runs per mode after one warm-up. Run: node apps/emulator/src/engine/bench.ts
 */
import { performance } from "node:perf_hooks";
import { type OutpaintMode, outpaintImage } from "./outpaint.ts";
import type { RawImage } from "./raw-image.ts";

const RUNS = 5;

function benchSource(size: number): RawImage {
  const data = Buffer.alloc(size * size * 4);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const p = (y * size + x) * 4;
      data[p] = (x * 255) / size;
      data[p + 1] = (y * 255) / size;
      data[p + 2] = ((x ^ y) & 63) * 4;
      data[p + 3] = 255;
    }
  }
  return { data, width: size, height: size };
}

async function medianMs(source: RawImage, mode: OutpaintMode): Promise<number> {
  const margins = { top: 0, right: 512, bottom: 0, left: 512 };
  await outpaintImage({ source, margins, mode, seed: 1 });
  const times: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    const start = performance.now();
    await outpaintImage({ source, margins, mode, seed: run });
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(RUNS / 2)] ?? Number.NaN;
}

const source = benchSource(1024);
for (const mode of ["high", "fast"] as const) {
  const ms = await medianMs(source, mode);
  console.log(`outpaint ${mode}: 1024x1024 -> 2048x1024 median of ${RUNS}: ${ms.toFixed(1)} ms`);
}
