import { describe, expect, it } from "vitest";
import { envelopeSchema, imageInferenceTaskSchema, WATERMARK_POSITIONS } from "./schemas.ts";

const base = {
  taskType: "imageInference",
  taskUUID: "6f1c2f9e-2b7a-4d43-9d8e-0c5a2b1e7f10",
  model: "bfl:flux@outpainting",
  inputs: { image: "https://example.com/a.jpg" },
  outpaint: { left: 256, right: 256 },
};
const accepts = (extra: Record<string, unknown>) =>
  imageInferenceTaskSchema.safeParse({ ...base, ...extra }).success;
const watermark = (w: Record<string, unknown>) => accepts({ advancedFeatures: { watermark: w } });

describe("imageInferenceTaskSchema", () => {
  it("accepts every option of the API page", () => {
    expect(
      accepts({
        outputType: "dataURI",
        outputFormat: "WEBP",
        outputQuality: 80,
        webhookURL: "https://hooks.example.com/runware/x?token=t",
        deliveryMethod: "async",
        uploadEndpoint: "https://bucket.s3.amazonaws.com/out.webp?X-Amz-Signature=abc",
        safety: { checkContent: true },
        ttl: 60,
        includeCost: true,
        numberResults: 20,
        settings: { autoCrop: true, mode: "fast" },
        advancedFeatures: {
          watermark: {
            text: "© reframe",
            displayPosition: "top-left",
            tiled: true,
            opacity: 0.29,
            fontColor: "#fff",
            bgColor: "transparent",
          },
        },
      }),
    ).toBe(true);
  });

  it.each([
    ["outputQuality", 19, false],
    ["outputQuality", 20, true],
    ["outputQuality", 99, true],
    ["outputQuality", 100, false],
    ["ttl", 59, false],
    ["ttl", 60, true],
    ["numberResults", 0, false],
    ["numberResults", 1, true],
    ["numberResults", 21, false],
    ["outputFormat", "GIF", false],
    ["deliveryMethod", "later", false],
    ["width", 1024, false],
    ["height", 1024, false],
    ["positivePrompt", "a beach", false],
  ])("%s = %s → accepted %s", (key, value, ok) => {
    expect(accepts({ [key]: value })).toBe(ok);
  });

  it.each([
    [{ text: "a" }, false],
    [{ text: "ab" }, true],
    [{ text: "x".repeat(32) }, true],
    [{ text: "x".repeat(33) }, false],
    [{ text: "ok", opacity: 0.09 }, false],
    [{ text: "ok", opacity: 0.1 }, true],
    [{ text: "ok", opacity: 1 }, true],
    [{ text: "ok", opacity: 1.01 }, false],
    [{ text: "ok", opacity: 0.555 }, false],
    [{ text: "ok", image: "https://example.com/logo.png" }, false],
    [{ displayPosition: "top-left" }, false],
    [{ text: "ok", displayPosition: "middle" }, false],
    [{ text: "ok", fontColor: "white" }, false],
  ])("watermark %j → accepted %s", (spec, ok) => {
    expect(watermark(spec)).toBe(ok);
  });

  it("takes each of the nine positions", () => {
    for (const displayPosition of WATERMARK_POSITIONS)
      expect(watermark({ text: "ok", displayPosition })).toBe(true);
  });

  it.each([
    [{ top: 0, right: 0, bottom: 0, left: 0 }, false],
    [{ top: -1, left: 10 }, false],
    [{ left: 10.5 }, false],
    [{ bottom: 1 }, true],
  ])("outpaint %j → accepted %s", (outpaint, ok) => {
    expect(accepts({ outpaint })).toBe(ok);
  });

  it.each([
    ["6f1c2f9e-2b7a-4d43-9d8e-0c5a2b1e7f10", true],
    ["data:image/png;base64,iVBORw0KGgo=", true],
    ["iVBORw0KGgoAAAANSUhEUgAAAAEAAAAB", true],
    ["ftp://example.com/a.jpg", false],
    ["not an image", false],
  ])("inputs.image %s → accepted %s", (image, ok) => {
    expect(accepts({ inputs: { image } })).toBe(ok);
  });
});

describe("envelopeSchema", () => {
  it("folds data as an object and the legacy singular error into lists", () => {
    expect(envelopeSchema.parse({ data: { taskUUID: "x" }, error: { code: "c", message: "m" } })).toEqual({
      data: [{ taskUUID: "x" }],
      errors: [{ code: "c", message: "m" }],
    });
  });
});
