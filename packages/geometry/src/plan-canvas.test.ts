import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { PROVIDER_LIMITS } from "./limits.ts";
import { type PlanResult, planCanvas } from "./plan-canvas.ts";
import { ANCHOR_NAMES, type Anchor, parseTargetSpec } from "./target.ts";

const limits = PROVIDER_LIMITS["runware:bfl:flux@outpainting"];
const plan = (result: PlanResult) => {
  if (!result.ok) throw new Error(`${result.reason}: ${result.message}`);
  return result.plan;
};

describe("planCanvas examples", () => {
  it("96×64 to 16:9, centred: 114×64 with 9 px each side", () => {
    const p = plan(
      planCanvas({ source: { width: 96, height: 64 }, target: { kind: "ratio", ratio: "16:9" }, limits }),
    );
    expect(p).toMatchObject({
      output: { width: 114, height: 64 },
      margins: { top: 0, right: 9, bottom: 0, left: 9 },
      costUsd: 0.1,
    });
  });

  it("a top-left anchor puts every new pixel right and below", () => {
    const p = plan(
      planCanvas({
        source: { width: 100, height: 100 },
        target: { kind: "size", width: 300, height: 200, anchor: "top-left" },
        limits,
      }),
    );
    expect(p.margins).toEqual({ top: 0, right: 200, bottom: 100, left: 0 });
  });

  it("a source larger than an exact size is scaled down, then padded to exactly that size", () => {
    const p = plan(
      planCanvas({
        source: { width: 2000, height: 1000 },
        target: { kind: "size", width: 1080, height: 1350 },
        limits,
      }),
    );
    expect(p).toMatchObject({
      output: { width: 1080, height: 1350 },
      scaledSource: { width: 1080, height: 540 },
      exactSizeMet: true,
    });
    expect(p.sourceScale).toBeLessThan(1);
  });

  it("a preset beyond the limits keeps its ratio and says the exact size was not met", () => {
    const p = plan(
      planCanvas({
        source: { width: 1000, height: 1000 },
        target: { kind: "preset", name: "youtube-banner" },
        limits,
      }),
    );
    expect(p.exactSizeMet).toBe(false);
    expect(p.requested).toEqual({ width: 2560, height: 1440 });
    expect(p.output.width).toBeLessThanOrEqual(2048);
    expect(Math.abs(p.output.width / p.output.height - 16 / 9)).toBeLessThan(0.01);
  });

  it("1536×1024 plus 512 on every side breaks the per-side limit: refused with fail, pre-scaled otherwise", () => {
    const target = { kind: "margins" as const, top: 512, right: 512, bottom: 512, left: 512 };
    const refused = planCanvas({ source: { width: 1536, height: 1024 }, target, limits, overLimit: "fail" });
    expect(refused).toMatchObject({ ok: false, reason: "over-limit" });
    const p = plan(planCanvas({ source: { width: 1536, height: 1024 }, target, limits }));
    expect(p.output.width).toBeLessThanOrEqual(2048);
    expect(p.output.width * p.output.height).toBeLessThanOrEqual(4_194_304);
  });

  it("says so when there is nothing to add, the canvas is too small, or the preset is unknown", () => {
    expect(
      planCanvas({ source: { width: 160, height: 90 }, target: { kind: "ratio", ratio: "16:9" }, limits }),
    ).toMatchObject({ reason: "already-at-target" });
    expect(
      planCanvas({ source: { width: 40, height: 30 }, target: { kind: "ratio", ratio: "1:1" }, limits }),
    ).toMatchObject({ reason: "too-small" });
    expect(
      planCanvas({ source: { width: 400, height: 300 }, target: { kind: "preset", name: "nope" }, limits }),
    ).toMatchObject({ reason: "invalid-target" });
  });

  it("costs $0.10 per started megapixel", () => {
    const p = plan(
      planCanvas({
        source: { width: 1024, height: 1024 },
        target: { kind: "margins", top: 0, right: 512, bottom: 0, left: 512 },
        limits,
      }),
    );
    expect(p.costUsd).toBe(0.2);
  });
});

describe("parseTargetSpec", () => {
  it.each([
    ["16:9", { kind: "ratio", ratio: "16:9" }],
    ["1.91:1", { kind: "ratio", ratio: "1.91:1" }],
    ["1080x1350", { kind: "size", width: 1080, height: 1350 }],
    ["preset:x-header", { kind: "preset", name: "x-header" }],
    ["instagram-story", { kind: "preset", name: "instagram-story" }],
    ["margins:0,256,0,256", { kind: "margins", top: 0, right: 256, bottom: 0, left: 256 }],
  ])("%s", (spec, target) => {
    expect(parseTargetSpec(spec)).toEqual({ ok: true, target });
  });

  it.each([
    ["16-9", /expected a ratio/],
    ["margins:1,2,3", /four non-negative integers/],
    ["preset:nope", /unknown preset nope/],
    ["0:9", /greater than 0/],
  ])("%s is refused with its rule", (spec, message) => {
    const parsed = parseTargetSpec(spec);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.message).toMatch(message);
  });
});

const anchorArb: fc.Arbitrary<Anchor> = fc.oneof(
  fc.constantFrom(...ANCHOR_NAMES),
  fc.record({ x: fc.double({ min: 0, max: 1, noNaN: true }), y: fc.double({ min: 0, max: 1, noNaN: true }) }),
);
const sourceArb = fc.record({
  width: fc.integer({ min: 64, max: 4000 }),
  height: fc.integer({ min: 64, max: 4000 }),
});
const ratioArb = fc.integer({ min: 25, max: 400 }).map((hundredths) => `${hundredths / 100}:1`);

describe("planCanvas properties", () => {
  it("the source sits once at its anchor, the ratio is within a pixel, the limits hold, nothing is cropped", () => {
    fc.assert(
      fc.property(sourceArb, ratioArb, anchorArb, (source, ratio, anchor) => {
        const result = planCanvas({ source, target: { kind: "ratio", ratio, anchor }, limits });
        if (!result.ok) return ["already-at-target", "too-small"].includes(result.reason);
        const { margins, output, scaledSource, sourceScale, costUsd } = result.plan;
        expect(Object.values(margins).every((m) => Number.isInteger(m) && m >= 0)).toBe(true);
        expect(output.width).toBe(scaledSource.width + margins.left + margins.right);
        expect(output.height).toBe(scaledSource.height + margins.top + margins.bottom);
        expect(sourceScale).toBeLessThanOrEqual(1);
        const r = Number(ratio.split(":")[0]);
        const grownWidth = margins.left + margins.right > 0;
        if (grownWidth) expect(Math.abs(output.width - output.height * r)).toBeLessThanOrEqual(1);
        else expect(Math.abs(output.height - output.width / r)).toBeLessThanOrEqual(1);
        expect(Math.max(output.width, output.height)).toBeLessThanOrEqual(limits.maxSide);
        expect(output.width * output.height).toBeLessThanOrEqual(limits.maxArea);
        expect(Math.min(output.width, output.height)).toBeGreaterThanOrEqual(limits.minSide);
        expect(costUsd).toBeCloseTo(Math.ceil((output.width * output.height) / 1_048_576) * 0.1, 10);
        const x =
          typeof anchor === "string"
            ? ({ "top-left": 0, left: 0, "bottom-left": 0, top: 0.5, center: 0.5, bottom: 0.5 }[
                anchor as string
              ] ?? 1)
            : anchor.x;
        const horizontal = margins.left + margins.right;
        if (horizontal > 0) expect(Math.abs(margins.left - x * horizontal)).toBeLessThanOrEqual(1);
        return true;
      }),
      { numRuns: 500 },
    );
  });

  it("with overLimit fail, a plan is refused exactly when the unscaled canvas breaks a limit", () => {
    fc.assert(
      fc.property(sourceArb, ratioArb, (source, ratio) => {
        const result = planCanvas({ source, target: { kind: "ratio", ratio }, limits, overLimit: "fail" });
        const loose = planCanvas({
          source,
          target: { kind: "ratio", ratio },
          limits: { ...limits, maxSide: 1e9, maxArea: 1e18 },
        });
        if (!loose.ok) return true;
        const { width, height } = loose.plan.output;
        const breaks = width > limits.maxSide || height > limits.maxSide || width * height > limits.maxArea;
        expect(!result.ok && result.reason === "over-limit").toBe(breaks);
        return true;
      }),
      { numRuns: 500 },
    );
  });
});
