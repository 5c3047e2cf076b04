import { type EmbeddedS3, startEmbeddedS3 } from "@reframe/embedded-s3";
import { createRunwareClient, ProviderError, type RunwareClient } from "@reframe/runware";
import { createS3Client, presignOutputUpload, readImageDimensions } from "@reframe/storage";
import { freePort } from "@reframe/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  API_KEY,
  grayPng,
  type RunningEmulator,
  startEmulator,
  startPeer,
  task,
} from "./emulator-fixture.ts";

const CREDENTIALS = { accessKeyId: "delivery-test", secretAccessKey: "delivery-test-secret" };

describe("the emulator's delivery: async, webhooks, uploads, and the client", () => {
  let emulator: RunningEmulator;
  let peer: Awaited<ReturnType<typeof startPeer>>;
  let s3: EmbeddedS3;
  let client: RunwareClient;
  let dataURI: string;
  beforeAll(async () => {
    dataURI = `data:image/png;base64,${(await grayPng()).toString("base64")}`;
    peer = await startPeer(await grayPng());
    s3 = await startEmbeddedS3({ buckets: ["delivery"], ...CREDENTIALS });
    emulator = await startEmulator({
      EMULATOR_LATENCY_MS: "300-600",
      EMULATOR_WEBHOOK_RETRY_DELAYS_MS: "50,50,50",
    });
    client = createRunwareClient({ baseUrl: `${emulator.url}/v1`, apiKey: API_KEY, timeoutMs: 10_000 });
  });
  afterAll(async () => {
    await client?.close();
    await emulator?.stop();
    await s3?.close();
    await peer?.close();
  });

  const s3Client = () =>
    createS3Client({
      endpoint: s3.endpoint,
      region: "us-east-1",
      forcePathStyle: true,
      credentials: CREDENTIALS,
    });

  it("async: an immediate acknowledgement, then getResponse goes from processing to success", async () => {
    const submitted = task({ inputs: { image: dataURI }, deliveryMethod: "async", numberResults: 2 });
    const ack = await emulator.post([submitted]);
    expect(ack.json.data).toEqual([{ taskType: "imageInference", taskUUID: submitted.taskUUID }]);
    const poll = () => emulator.post([{ taskType: "getResponse", taskUUID: submitted.taskUUID }]);
    expect((await poll()).json.data!.map((item) => item.status)).toContain("processing");
    await expect
      .poll(async () => (await poll()).json.data!.map((item) => item.status), { timeout: 10_000 })
      .toEqual(["success", "success"]);
  });

  it("webhooks: one POST per result; a 500 twice then 200 is three attempts", async () => {
    peer.answerNext(500, 500);
    const submitted = task({
      inputs: { image: dataURI },
      deliveryMethod: "async",
      webhookURL: peer.hookUrl("retry"),
    });
    await emulator.post([submitted]);
    await expect
      .poll(() => peer.received.filter((r) => r.path === "/hook/retry").length, { timeout: 10_000 })
      .toBe(3);
    expect(peer.received.find((r) => r.path === "/hook/retry")!.body).toMatchObject({
      data: [{ taskUUID: submitted.taskUUID, imageUUID: expect.any(String) }],
    });
    expect((await emulator.counters()).tasks[submitted.taskUUID]).toMatchObject({
      webhookAttempts: 3,
      accepted: 1,
    });
  });

  it("webhook faults: dropped deliveries never come; duplicated ones come twice", async () => {
    await emulator.faults({ webhookDuplicateRate: 1 });
    await emulator.post([
      task({ inputs: { image: dataURI }, deliveryMethod: "async", webhookURL: peer.hookUrl("dup") }),
    ]);
    await expect
      .poll(() => peer.received.filter((r) => r.path === "/hook/dup").length, { timeout: 10_000 })
      .toBe(2);
    await emulator.faults({ webhookDuplicateRate: 0, webhookDropRate: 1 });
    const dropped = task({
      inputs: { image: dataURI },
      deliveryMethod: "async",
      webhookURL: peer.hookUrl("drop"),
    });
    await emulator.post([dropped]);
    await expect
      .poll(
        async () =>
          (await emulator.post([{ taskType: "getResponse", taskUUID: dropped.taskUUID }])).json.data![0]!
            .status,
        { timeout: 10_000 },
      )
      .toBe("success");
    expect(peer.received.filter((r) => r.path === "/hook/drop")).toHaveLength(0);
    await emulator.faults({ webhookDropRate: 0 });
  });

  it("uploadEndpoint: a presigned PUT lands the image in S3 at its size", async () => {
    const uploadEndpoint = await presignOutputUpload({
      client: s3Client(),
      bucket: "delivery",
      key: "out/a.png",
      expiresInSeconds: 300,
    });
    await emulator.post([task({ inputs: { image: dataURI }, uploadEndpoint })]);
    expect(
      await readImageDimensions({ client: s3Client(), bucket: "delivery", key: "out/a.png" }),
    ).toMatchObject({ width: 128, height: 64 });
  });

  it("a tampered or expired presigned URL is refused by S3 and the result is uploadFailed", async () => {
    const signed = await presignOutputUpload({
      client: s3Client(),
      bucket: "delivery",
      key: "out/b.png",
      expiresInSeconds: 300,
    });
    const tampered = signed.replace(
      /X-Amz-Signature=([0-9a-f])/,
      (_, c: string) => `X-Amz-Signature=${c === "0" ? "1" : "0"}`,
    );
    const expired = await presignOutputUpload({
      client: s3Client(),
      bucket: "delivery",
      key: "out/c.png",
      expiresInSeconds: 1,
    });
    await expect
      .poll(async () => (await fetch(expired, { method: "PUT", body: "x" })).status, { timeout: 5000 })
      .toBe(403);
    for (const uploadEndpoint of [tampered, expired]) {
      const reply = await emulator.post([task({ inputs: { image: dataURI }, uploadEndpoint })]);
      expect(reply.json.errors).toEqual([expect.objectContaining({ code: "uploadFailed" })]);
    }
  });

  it("an upload failure fault makes the result uploadFailed", async () => {
    await emulator.faults({ uploadFailureRate: 1 });
    const uploadEndpoint = await presignOutputUpload({
      client: s3Client(),
      bucket: "delivery",
      key: "out/d.png",
      expiresInSeconds: 300,
    });
    const failed = task({ inputs: { image: dataURI }, uploadEndpoint });
    const reply = await emulator.post([failed]);
    expect(reply.json.errors).toEqual([expect.objectContaining({ code: "uploadFailed" })]);
    await emulator.faults({ uploadFailureRate: 0 });
    expect((await emulator.counters()).tasks[failed.taskUUID]).toMatchObject({
      uploadFaults: 1,
      terminalFaults: 0,
    });
  });

  it("an upload endpoint or a webhook receiver that does not answer is named in one line, its signature and token left out", async () => {
    const closed = `http://127.0.0.1:${await freePort()}`;
    const uploadEndpoint = `${closed}/delivery/out/e.png?X-Amz-Signature=0123abcd&X-Amz-Expires=300`;
    const reply = await emulator.post([task({ inputs: { image: dataURI }, uploadEndpoint })]);
    expect(reply.json.errors).toEqual([
      expect.objectContaining({
        code: "uploadFailed",
        message: `Uploading the result to uploadEndpoint failed (cannot reach S3 at ${closed}/delivery/out/e.png (connection refused)).`,
      }),
    ]);
    const since = emulator.process.output().length;
    const hooked = task({
      inputs: { image: dataURI },
      deliveryMethod: "async",
      webhookURL: `${closed}/runware/hook?token=secret-token-value`,
    });
    await emulator.post([hooked]);
    await expect
      .poll(() => emulator.process.output().slice(since), { timeout: 10_000 })
      .toContain(
        `webhook gave up after every retry: cannot reach the webhook receiver at ${closed}/runware/hook (connection refused)`,
      );
    expect(emulator.process.output()).not.toContain("secret-token-value");
    expect(emulator.process.output().slice(since)).not.toContain('"stack"');
  });

  it("counters name the tasks an injected terminal error ended and count every fault that fired", async () => {
    const before = await emulator.counters();
    await emulator.faults({ terminalErrorRate: 1 });
    const blocked = task({ inputs: { image: dataURI } });
    const reply = await emulator.post([blocked]);
    await emulator.faults({ terminalErrorRate: 0, rate503: 1 });
    const unavailable = await emulator.post([task({ inputs: { image: dataURI } })]);
    await emulator.faults({ rate503: 0 });
    expect(reply.json.errors).toEqual([expect.objectContaining({ code: "contentPolicyViolation" })]);
    expect(unavailable.status).toBe(503);
    const after = await emulator.counters();
    expect(after.tasks[blocked.taskUUID]).toMatchObject({ terminalFaults: 1, accepted: 1 });
    expect(after.injected!.terminalErrorRate).toBe(before.injected!.terminalErrorRate! + 1);
    expect(after.injected!.rate503).toBe(before.injected!.rate503! + 1);
  });

  it("a taskUUID sent again while its first submission is still reading the input is a conflict, generated once", async () => {
    peer.holdImages();
    const submitted = task({ inputs: { image: peer.imageUrl }, deliveryMethod: "async" });
    const first = emulator.post([submitted]);
    await expect.poll(() => peer.heldImages(), { timeout: 5000 }).toBe(1);
    let again: Awaited<ReturnType<RunningEmulator["post"]>> | undefined;
    const second = emulator.post([submitted]).then((reply) => {
      again = reply;
    });
    // Either the second one is answered while the first still waits, or it reads the input too.
    await expect.poll(() => again !== undefined || peer.heldImages() > 1, { timeout: 5000 }).toBe(true);
    peer.releaseImages();
    await Promise.all([first, second]);
    expect(again!.json.errors).toEqual([expect.objectContaining({ code: "conflictTaskUUID" })]);
    expect((await first).json.data).toEqual([{ taskType: "imageInference", taskUUID: submitted.taskUUID }]);
    expect((await emulator.counters()).tasks[submitted.taskUUID]).toMatchObject({
      accepted: 1,
      conflicts: 1,
    });
  });

  it("the client submits many tasks in one request and matches every outcome by taskUUID", async () => {
    const before = (await emulator.counters()).totals.requests!;
    const tasks = Array.from({ length: 5 }, () =>
      task({ inputs: { image: dataURI }, deliveryMethod: "async" }),
    );
    const bad = task({ inputs: { image: dataURI }, deliveryMethod: "async", outputQuality: 5 });
    const outcomes = await client.submit([...tasks, bad] as never);
    expect((await emulator.counters()).totals.requests).toBe(before + 1);
    expect(tasks.map((t) => outcomes.get(t.taskUUID)?.kind)).toEqual(Array(5).fill("accepted"));
    expect(outcomes.get(bad.taskUUID)).toMatchObject({
      kind: "failed",
      error: { code: "invalidOutputQuality", disposition: "terminal" },
    });
    const again = await client.submit([tasks[0]] as never);
    expect(again.get(tasks[0]!.taskUUID)?.kind).toBe("alreadyAccepted");
    await expect
      .poll(
        async () =>
          [...(await client.getResponses(tasks.map((t) => t.taskUUID))).values()].map((o) => o.kind),
        { timeout: 10_000 },
      )
      .toEqual(Array(5).fill("completed"));
  });

  it("the client classifies: 429 → retryable with Retry-After, unknown task → resubmit, a bad key → pause", async () => {
    await emulator.faults({ rate429: 1 });
    const throttled = await client
      .submit([task({ inputs: { image: dataURI } })] as never)
      .catch((error: unknown) => error);
    await emulator.faults({ rate429: 0 });
    expect(throttled).toBeInstanceOf(ProviderError);
    expect(throttled).toMatchObject({ disposition: "retryable", status: 429, retryAfterMs: 1000 });
    const unknown = await client.getResponses(["6f1c2f9e-2b7a-4d43-9d8e-0c5a2b1e7f10"]);
    expect(unknown.get("6f1c2f9e-2b7a-4d43-9d8e-0c5a2b1e7f10")).toMatchObject({
      kind: "failed",
      error: { disposition: "resubmit" },
    });
    const refused = createRunwareClient({ baseUrl: `${emulator.url}/v1`, apiKey: "revoked" });
    await expect(refused.submit([task({ inputs: { image: dataURI } })] as never)).rejects.toMatchObject({
      code: "invalidApiKey",
      disposition: "pause",
    });
    await refused.close();
  });
});
