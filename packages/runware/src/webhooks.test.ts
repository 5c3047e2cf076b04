import { describe, expect, it } from "vitest";
import { parseWebhookBody, taskWebhookURL, verifyTaskWebhookToken } from "./webhooks.ts";

const secret = "a-server-secret-of-some-length";
const taskUUID = "6f1c2f9e-2b7a-4d43-9d8e-0c5a2b1e7f10";
const tokenOf = (url: string) => new URL(url).searchParams.get("token");

describe("per-task webhook URLs", () => {
  it("carry the taskUUID in the path and an HMAC token that verifies", () => {
    const url = taskWebhookURL({ baseUrl: "https://hooks.example.com/", taskUUID, secret });
    expect(url).toMatch(
      new RegExp(`^https://hooks\\.example\\.com/runware/${taskUUID}\\?token=[A-Za-z0-9_-]{43}$`),
    );
    expect(verifyTaskWebhookToken({ taskUUID, token: tokenOf(url), secret })).toEqual({ ok: true });
  });

  it("refuse a missing token, a wrong one, one of a different length, and another task's token", () => {
    const other = taskWebhookURL({
      baseUrl: "https://h",
      taskUUID: "00000000-0000-5000-8000-000000000000",
      secret,
    });
    expect(verifyTaskWebhookToken({ taskUUID, token: undefined, secret })).toEqual({
      ok: false,
      reason: "missing-token",
    });
    expect(verifyTaskWebhookToken({ taskUUID, token: "x".repeat(43), secret })).toEqual({
      ok: false,
      reason: "bad-token",
    });
    expect(verifyTaskWebhookToken({ taskUUID, token: "short", secret })).toEqual({
      ok: false,
      reason: "bad-token",
    });
    expect(verifyTaskWebhookToken({ taskUUID, token: tokenOf(other), secret })).toEqual({
      ok: false,
      reason: "bad-token",
    });
    expect(
      verifyTaskWebhookToken({
        taskUUID,
        token: tokenOf(taskWebhookURL({ baseUrl: "https://h", taskUUID, secret: "another-secret" })),
        secret,
      }),
    ).toMatchObject({ ok: false });
  });
});

describe("parseWebhookBody", () => {
  it("reads results and errors from the envelope", () => {
    expect(
      parseWebhookBody({ data: [{ taskType: "imageInference", taskUUID, imageUUID: "i", seed: 1 }] }),
    ).toMatchObject({ ok: true, results: [{ taskUUID, imageUUID: "i" }], errors: [] });
    expect(parseWebhookBody({ errors: [{ code: "uploadFailed", message: "m", taskUUID }] })).toMatchObject({
      ok: true,
      results: [],
      errors: [{ code: "uploadFailed" }],
    });
  });

  it("refuses bodies that are not envelopes, hold nothing, or hold results without a taskUUID", () => {
    expect(parseWebhookBody("text")).toMatchObject({ ok: false });
    expect(parseWebhookBody({ data: [] })).toMatchObject({ ok: false });
    expect(parseWebhookBody({ data: [{ taskType: "imageInference" }] })).toMatchObject({
      ok: false,
      reason: expect.stringContaining("data[0]"),
    });
  });
});
