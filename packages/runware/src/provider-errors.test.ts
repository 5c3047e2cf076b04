import { describe, expect, it } from "vitest";
import {
  classifyProviderError,
  isOutage,
  isStorageTaskError,
  ProviderError,
  parseRetryAfter,
} from "./provider-errors.ts";

describe("classifyProviderError", () => {
  it.each([
    ["conflictTaskUUID", "accepted"],
    ["invalidOutputQuality", "terminal"],
    ["missingInputsImage", "terminal"],
    ["unsupportedParameter", "terminal"],
    ["contentPolicyViolation", "terminal"],
    ["modelNotFound", "terminal"],
    ["invalidApiKey", "pause"],
    ["insufficientCredits", "pause"],
    ["taskNotFound", "resubmit"],
    ["taskExpired", "resubmit"],
    ["rateLimitExceeded", "retryable"],
    ["uploadFailed", "retryable"],
    ["timeoutProvider", "retryable"],
    ["internalServerError", "retryable"],
  ] as const)("code %s → %s", (code, disposition) => {
    expect(classifyProviderError({ code }).disposition).toBe(disposition);
  });

  it.each([
    [408, "retryable"],
    [429, "retryable"],
    [500, "retryable"],
    [503, "retryable"],
    [504, "retryable"],
    [400, "terminal"],
    [422, "terminal"],
    [401, "pause"],
    [402, "pause"],
  ] as const)("an unknown code falls back to HTTP %i → %s", (status, disposition) => {
    expect(classifyProviderError({ status, code: "someNewCode" }).disposition).toBe(disposition);
  });

  it("a known code beats the status", () => {
    expect(classifyProviderError({ status: 400, code: "conflictTaskUUID" }).disposition).toBe("accepted");
    expect(classifyProviderError({ status: 500, code: "invalidOutpaint" }).disposition).toBe("terminal");
  });

  it("a transport failure with no status is retryable", () => {
    expect(classifyProviderError({ cause: new Error("ECONNRESET") })).toMatchObject({
      disposition: "retryable",
      category: "connection",
    });
  });

  it("carries Retry-After in milliseconds", () => {
    expect(classifyProviderError({ status: 429, retryAfter: "3" }).retryAfterMs).toBe(3000);
  });
});

describe("parseRetryAfter", () => {
  const now = Date.parse("2026-11-24T12:00:00Z");
  it("reads seconds, decimals and HTTP dates; clamps to an hour; ignores garbage", () => {
    expect(parseRetryAfter("2", now)).toBe(2000);
    expect(parseRetryAfter("0.5", now)).toBe(500);
    expect(parseRetryAfter("Tue, 24 Nov 2026 12:00:10 GMT", now)).toBe(10_000);
    expect(parseRetryAfter("99999", now)).toBe(3_600_000);
    expect(parseRetryAfter("soon", now)).toBeUndefined();
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
  });
});

describe("ProviderError.from", () => {
  it("classifies once and keeps the provider's code, status and parameter", () => {
    const error = ProviderError.from({
      status: 400,
      code: "invalidOutputQuality",
      message: "bad",
      parameter: "outputQuality",
    });
    expect(error).toBeInstanceOf(ProviderError);
    expect(error).toMatchObject({
      code: "invalidOutputQuality",
      status: 400,
      parameter: "outputQuality",
      disposition: "terminal",
    });
  });
});

describe("isOutage (what the provider breaker counts)", () => {
  const request = (input: Parameters<typeof ProviderError.from>[0]) => ProviderError.from(input);
  it.each([
    ["a 503", request({ status: 503, message: "down" }), true],
    ["a 500 with a known code", request({ status: 500, code: "internalServerError", message: "x" }), true],
    ["a 504 timeoutProvider", request({ status: 504, code: "timeoutProvider", message: "x" }), true],
    ["a request timeout", request({ code: "requestTimeout", cause: new Error("t"), message: "x" }), true],
    [
      "a refused connection",
      request({ code: "networkError", cause: new Error("ECONNREFUSED"), message: "x" }),
      true,
    ],
    ["a 429", request({ status: 429, message: "slow down" }), false],
    [
      "a 503 saying rateLimitExceeded",
      request({ status: 503, code: "rateLimitExceeded", message: "x" }),
      false,
    ],
    ["a 400", request({ status: 400, code: "invalidWidth", message: "x" }), false],
    ["a 401", request({ status: 401, message: "x" }), false],
    [
      "a task's own 5xx error",
      request({ status: 500, code: "taskFailed", taskUUID: "t", message: "x" }),
      false,
    ],
    ["not a provider error", new Error("boom"), false],
  ])("%s → %s", (_, error, expected) => {
    expect(isOutage(error)).toBe(expected);
  });
});

describe("isStorageTaskError (the provider could not reach our storage)", () => {
  it("names the presigned GET's and PUT's failures only", () => {
    expect(["downloadFailed", "uploadFailed"].map(isStorageTaskError)).toEqual([true, true]);
    expect(["inferenceError", "timeoutProvider", "taskNotFound"].map(isStorageTaskError)).toEqual([
      false,
      false,
      false,
    ]);
  });
});
