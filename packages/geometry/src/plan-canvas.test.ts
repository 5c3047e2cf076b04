import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type CanvasPlan, isCopyPlan, type Size } from "./canvas-plan.ts";
import { type CanvasPolicy, FIT_POLICIES, formatShare } from "./canvas-policy.ts";
import { PROVIDER_LIMITS } from "./limits.ts";
import { type PlanResult, planCanvas } from "./plan-canvas.ts";
import { BUILTIN_PRESETS, DEFAULT_PRESETS } from "./presets.ts";
import { ANCHOR_NAMES, type Anchor, parseTargetSpec, type Target } from "./target.ts";

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
    const source = { width: 100, height: 100 };
    const target = { kind: "size" as const, width: 300, height: 200, anchor: "top-left" as const };
    const fitted = plan(planCanvas({ source, target, limits }));
    expect(fitted.margins).toEqual({ top: 0, right: 100, bottom: 0, left: 0 });
    const downOnly = plan(planCanvas({ source, target, limits, policy: { fit: "down-only" } }));
    expect(downOnly.margins).toEqual({ top: 0, right: 200, bottom: 100, left: 0 });
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
    const refused = planCanvas({
      source: { width: 1536, height: 1024 },
      target,
      limits,
      policy: { overLimit: "fail" },
    });
    expect(refused).toMatchObject({ ok: false, reason: "over-limit" });
    const p = plan(planCanvas({ source: { width: 1536, height: 1024 }, target, limits }));
    expect(p.output.width).toBeLessThanOrEqual(2048);
    expect(p.output.width * p.output.height).toBeLessThanOrEqual(4_194_304);
  });

  it("says so when the canvas is too small or the preset is unknown", () => {
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

describe("canvases that fit", () => {
  const story = { kind: "preset" as const, name: "instagram-story" };

  it("a 512×512 photo fills the width of an Instagram story (1080×1920) instead of staying at 512 px", () => {
    const p = plan(planCanvas({ source: { width: 512, height: 512 }, target: story, limits }));
    expect(p).toMatchObject({
      output: { width: 1080, height: 1920 },
      scaledSource: { width: 1080, height: 1080 },
      sourceScale: 1080 / 512,
      margins: { top: 420, right: 0, bottom: 420, left: 0 },
      generatedShare: 0.4375,
      costUsd: 0.2,
      exactSizeMet: true,
    });
  });

  it("down-only keeps the photo at 512 px: 87% of the story is generated", () => {
    const p = plan(
      planCanvas({
        source: { width: 512, height: 512 },
        target: story,
        limits,
        policy: { fit: "down-only" },
      }),
    );
    expect(p).toMatchObject({ scaledSource: { width: 512, height: 512 }, sourceScale: 1 });
    expect(formatShare(p.generatedShare)).toBe("87%");
  });

  it("a 32×32 image to a story is refused: at the 4× cap it would be 99% generated", () => {
    expect(planCanvas({ source: { width: 32, height: 32 }, target: story, limits })).toEqual({
      ok: false,
      reason: "generated-share-over-limit",
      message:
        "99% of the canvas would be generated; the limit is 90% (the source 32×32 scaled ×4 to 128×128 on a 1080×1920 canvas)",
    });
  });

  it("a fit fills its dimension to the pixel, where floating point would leave it one short", () => {
    // 1080 / 535 × 535 is 1079.9999999999998.
    for (const width of [535, 1070, 2140]) {
      const p = plan(planCanvas({ source: { width, height: width }, target: story, limits }));
      expect(p.scaledSource).toEqual({ width: 1080, height: 1080 });
      expect(p.margins).toEqual({ top: 420, right: 0, bottom: 420, left: 0 });
    }
  });

  it("the upscale cap bounds the fit; past it the rest is generated", () => {
    const p = plan(planCanvas({ source: { width: 200, height: 200 }, target: story, limits }));
    expect(p).toMatchObject({ sourceScale: 4, scaledSource: { width: 800, height: 800 } });
    const capped = plan(
      planCanvas({
        source: { width: 200, height: 200 },
        target: story,
        limits,
        policy: { maxUpscale: 2, maxGeneratedShare: 0.95 },
      }),
    );
    expect(capped.scaledSource).toEqual({ width: 400, height: 400 });
  });

  it("a source of the canvas's shape is a copy at the planned scale, up or down, without cost", () => {
    for (const [width, height, scale] of [
      [540, 960, 2],
      [2160, 3840, 0.5],
    ] as const) {
      const p = plan(planCanvas({ source: { width, height }, target: story, limits }));
      expect(isCopyPlan(p)).toBe(true);
      expect(p).toMatchObject({
        sourceScale: scale,
        scaledSource: { width: 1080, height: 1920 },
        output: { width: 1080, height: 1920 },
        generatedShare: 0,
        costUsd: 0,
      });
    }
  });

  it("a ratio keeps the source's size whatever the policy, and its generated share is guarded too", () => {
    const square = { width: 200, height: 200 };
    const wide = plan(planCanvas({ source: square, target: { kind: "ratio", ratio: "10:1" }, limits }));
    expect(wide).toMatchObject({ sourceScale: 1, generatedShare: 0.9 });
    expect(planCanvas({ source: square, target: { kind: "ratio", ratio: "12:1" }, limits })).toMatchObject({
      reason: "generated-share-over-limit",
    });
    expect(
      planCanvas({
        source: square,
        target: { kind: "ratio", ratio: "12:1" },
        limits,
        policy: { maxGeneratedShare: 1 },
      }).ok,
    ).toBe(true);
  });

  it("a share just over the limit is printed with the decimals that show it", () => {
    expect(formatShare(0.9004, 0.9)).toBe("90.04%");
    expect(formatShare(0.9, 0.9004)).toBe("90%");
    expect(formatShare(0.8996, 0.9)).toBe("89.96%");
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
/** Tiny, ordinary and huge sides, and panoramas: the sizes a real library holds. */
const sideArb = fc.oneof(
  fc.integer({ min: 1, max: 128 }),
  fc.integer({ min: 64, max: 4000 }),
  fc.integer({ min: 4000, max: 12_000 }),
);
const sourceArb = fc.record({ width: sideArb, height: sideArb });
const ratioArb = fc.integer({ min: 25, max: 400 }).map((hundredths) => `${hundredths / 100}:1`);
const exactSizeArb = fc.integer({ min: 64, max: 3000 });
const targetArb: fc.Arbitrary<Target> = fc.oneof(
  fc.record({ kind: fc.constant("ratio" as const), ratio: ratioArb, anchor: anchorArb }),
  fc.record({
    kind: fc.constant("size" as const),
    width: exactSizeArb,
    height: exactSizeArb,
    anchor: anchorArb,
  }),
  fc.record({
    kind: fc.constant("preset" as const),
    name: fc.constantFrom(...BUILTIN_PRESETS.map((preset) => preset.name)),
    anchor: anchorArb,
  }),
  fc
    .record({
      kind: fc.constant("margins" as const),
      top: fc.integer({ min: 0, max: 1500 }),
      right: fc.integer({ min: 0, max: 1500 }),
      bottom: fc.integer({ min: 0, max: 1500 }),
      left: fc.integer({ min: 0, max: 1500 }),
    })
    .filter((m) => m.top + m.right + m.bottom + m.left > 0),
);
const policyArb: fc.Arbitrary<CanvasPolicy> = fc.record(
  {
    fit: fc.constantFrom(...FIT_POLICIES),
    maxUpscale: fc.double({ min: 1, max: 16, noNaN: true }),
    maxGeneratedShare: fc.double({ min: 0, max: 1, noNaN: true }),
    overLimit: fc.constantFrom("prescale" as const, "fail" as const),
  },
  { requiredKeys: [] },
);

const ANCHOR_X: Record<string, number> = { left: 0, center: 0.5, right: 1 };
const ANCHOR_Y: Record<string, number> = { top: 0, center: 0.5, bottom: 1 };
/** The anchor as fractions, worked out here from its name rather than taken from the planner. */
function anchorFractions(anchor: Anchor | undefined): { x: number; y: number } {
  if (anchor === undefined) return { x: 0.5, y: 0.5 };
  if (typeof anchor !== "string") return anchor;
  const [first, second] = anchor.split("-");
  if (second !== undefined) return { x: ANCHOR_X[second]!, y: ANCHOR_Y[first!]! };
  return { x: ANCHOR_X[first!] ?? 0.5, y: ANCHOR_Y[first!] ?? 0.5 };
}

/** The exact size a target asks for, or undefined for ratios and margins. */
function exactSizeOf(target: Target): Size | undefined {
  if (target.kind === "size") return { width: target.width, height: target.height };
  if (target.kind !== "preset") return undefined;
  const preset = DEFAULT_PRESETS.get(target.name)!;
  return preset.kind === "size" ? { width: preset.width!, height: preset.height! } : undefined;
}

const withinLimits = (output: Size) =>
  Math.max(output.width, output.height) <= limits.maxSide &&
  output.width * output.height <= limits.maxArea &&
  Math.min(output.width, output.height) >= limits.minSide;

describe("planCanvas properties", () => {
  it("the source sits at its anchor at the planned scale, the limits hold, the share is what the plan says", () => {
    fc.assert(
      fc.property(sourceArb, targetArb, policyArb, (source, target, policy) => {
        const result = planCanvas({ source, target, limits, policy });
        if (!result.ok) return true;
        const p: CanvasPlan = result.plan;
        const { margins, output, scaledSource, sourceScale } = p;
        expect(Object.values(margins).every((m) => Number.isInteger(m) && m >= 0)).toBe(true);
        expect(output.width).toBe(scaledSource.width + margins.left + margins.right);
        expect(output.height).toBe(scaledSource.height + margins.top + margins.bottom);
        // At the planned scale: each side within a pixel of the source's side × the scale.
        expect(Math.abs(scaledSource.width - Math.max(1, source.width * sourceScale))).toBeLessThanOrEqual(1);
        expect(Math.abs(scaledSource.height - Math.max(1, source.height * sourceScale))).toBeLessThanOrEqual(
          1,
        );
        // At the anchor: the new pixels are split as the anchor says (margins are given as they are).
        if (target.kind !== "margins") {
          const { x, y } = anchorFractions(target.anchor);
          expect(Math.abs(margins.left - x * (margins.left + margins.right))).toBeLessThanOrEqual(1);
          expect(Math.abs(margins.top - y * (margins.top + margins.bottom))).toBeLessThanOrEqual(1);
        } else if (sourceScale === 1) {
          const { kind: _kind, ...given } = target;
          expect(margins).toEqual(given);
        }
        const generated = output.width * output.height - scaledSource.width * scaledSource.height;
        expect(p.generatedShare).toBeCloseTo(generated / (output.width * output.height), 12);
        expect(p.generatedShare).toBeLessThanOrEqual(policy.maxGeneratedShare ?? 0.9);
        if (isCopyPlan(p)) {
          expect(p.costUsd).toBe(0);
          expect(scaledSource).toEqual(output);
        } else {
          expect(withinLimits(output)).toBe(true);
          expect(p.costUsd).toBeCloseTo(Math.ceil((output.width * output.height) / 1_048_576) * 0.1, 10);
        }
        const exact = exactSizeOf(target);
        if (exact === undefined || policy.fit === "down-only") expect(sourceScale).toBeLessThanOrEqual(1);
        expect(sourceScale).toBeLessThanOrEqual(policy.maxUpscale ?? 4);
        if (exact && p.exactSizeMet) expect(output).toEqual(exact);
        if (exact && !p.exactSizeMet) expect(withinLimits(exact)).toBe(false);
        // A fit within the cap fills the canvas in one dimension.
        const fill = exact && Math.min(exact.width / source.width, exact.height / source.height);
        if (fill && policy.fit !== "down-only" && fill <= (policy.maxUpscale ?? 4))
          expect(scaledSource.width === output.width || scaledSource.height === output.height).toBe(true);
        return true;
      }),
      { numRuns: 2000 },
    );
  });

  it("a plan is refused for its generated share exactly when the share it would have is over the limit", () => {
    fc.assert(
      fc.property(
        sourceArb,
        targetArb,
        policyArb,
        fc.double({ min: 0, max: 1, noNaN: true }),
        (source, target, policy, limit) => {
          const unguarded = planCanvas({
            source,
            target,
            limits,
            policy: { ...policy, maxGeneratedShare: 1 },
          });
          const guarded = planCanvas({
            source,
            target,
            limits,
            policy: { ...policy, maxGeneratedShare: limit },
          });
          if (!unguarded.ok) {
            expect(guarded).toEqual(unguarded);
          } else if (unguarded.plan.generatedShare > limit) {
            expect(guarded).toMatchObject({ ok: false, reason: "generated-share-over-limit" });
            if (!guarded.ok)
              expect(guarded.message).toContain(
                `${formatShare(unguarded.plan.generatedShare, limit)} of the canvas would be generated; the limit is ${formatShare(limit, unguarded.plan.generatedShare)}`,
              );
          } else {
            expect(guarded).toEqual(unguarded);
          }
          return true;
        },
      ),
      { numRuns: 1000 },
    );
  });

  it("fit never generates more than down-only, and never scales past the cap", () => {
    fc.assert(
      fc.property(
        sourceArb,
        targetArb,
        fc.double({ min: 1, max: 16, noNaN: true }),
        (source, target, cap) => {
          const open = { maxGeneratedShare: 1, maxUpscale: cap };
          const fit = planCanvas({ source, target, limits, policy: { ...open, fit: "fit" } });
          const down = planCanvas({ source, target, limits, policy: { ...open, fit: "down-only" } });
          if (!fit.ok || !down.ok) return true;
          expect(fit.plan.output).toEqual(down.plan.output);
          expect(fit.plan.generatedShare).toBeLessThanOrEqual(down.plan.generatedShare);
          expect(fit.plan.sourceScale).toBeGreaterThanOrEqual(down.plan.sourceScale);
          expect(fit.plan.sourceScale).toBeLessThanOrEqual(cap);
          expect(down.plan.sourceScale).toBeLessThanOrEqual(1);
          return true;
        },
      ),
      { numRuns: 1000 },
    );
  });

  it("with overLimit fail, a ratio plan is refused exactly when the unscaled canvas breaks a limit", () => {
    fc.assert(
      fc.property(sourceArb, ratioArb, (source, ratio) => {
        const result = planCanvas({
          source,
          target: { kind: "ratio", ratio },
          limits,
          policy: { overLimit: "fail", maxGeneratedShare: 1 },
        });
        const loose = planCanvas({
          source,
          target: { kind: "ratio", ratio },
          limits: { ...limits, maxSide: 1e9, maxArea: 1e18 },
          policy: { maxGeneratedShare: 1 },
        });
        if (!loose.ok || isCopyPlan(loose.plan)) return true;
        const { width, height } = loose.plan.output;
        const breaks = width > limits.maxSide || height > limits.maxSide || width * height > limits.maxArea;
        expect(!result.ok && result.reason === "over-limit").toBe(breaks);
        return true;
      }),
      { numRuns: 500 },
    );
  });
});
