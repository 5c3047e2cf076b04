import { PassThrough } from "node:stream";
import { DEFAULT_SOURCE_LIMITS } from "@reframe/config";
import { createGuardedFetch, type GuardedFetch } from "@reframe/egress";
import { type EmbeddedS3, startEmbeddedS3 } from "@reframe/embedded-s3";
import { createOutpaintQueue } from "@reframe/jobs";
import {
  applyPipelines,
  createPipelineRunQueue,
  createPipelineStore,
  parsePipelinesFile,
} from "@reframe/pipelines";
import { createRedisClient, type RedisClient } from "@reframe/redis";
import { createS3Client } from "@reframe/storage";
import { createLogger } from "@reframe/telemetry";
import {
  basicAuthorization,
  type LocalRedis,
  type LocalSns,
  startLocalSns,
  startRedisServer,
} from "@reframe/testkit";
import type { Queue } from "bullmq";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApiServer } from "../api-server.ts";
import { INTAKE_PATH } from "../intake-route.ts";
import { createSnsIntake } from "./sns-intake.ts";
import { createSnsVerifier } from "./sns-verifier.ts";

const API_TOKEN = "api-token-0123456789";
const INTAKE_TOKEN = "intake-token-0123456789";
const PREFIX = "{sns-test}";
const BASIC = basicAuthorization("reframe", INTAKE_TOKEN);

/** An S3 notification as S3 publishes it to SNS (the envelope's Message). */
const s3Event = (key: string, eTag: string) =>
  JSON.stringify({
    Records: [
      {
        eventVersion: "2.1",
        eventSource: "aws:s3",
        awsRegion: "us-east-1",
        eventTime: new Date().toISOString(),
        eventName: "ObjectCreated:Put",
        s3: {
          s3SchemaVersion: "1.0",
          configurationId: "reframe-uploads",
          bucket: { name: "media", arn: "arn:aws:s3:::media" },
          object: { key, size: 2048, eTag, sequencer: "0062E99A88DC407460" },
        },
      },
    ],
  });

/**
 * The SNS layer over real parts: a local SNS (its own CA and signing certificate, served over HTTPS
 * from localhost, which the configured host pattern allows) signs messages as SNS does; the API
 * verifies them through the egress guard, in front of the S3 event path and real Redis.
 */
describe("the SNS layer of the intake", () => {
  let redisServer: LocalRedis;
  let redis: RedisClient;
  let queue: Queue;
  let sns: LocalSns;
  let egress: GuardedFetch;
  // The intake reads each matched object's header for its upload budget: an empty bucket answers
  // "not found", which counts nothing (the worker would fail such a job at plan).
  let s3: EmbeddedS3;
  let s3Client: ReturnType<typeof createS3Client>;
  let app: ReturnType<typeof createApiServer>;
  const logs: string[] = [];

  beforeAll(async () => {
    redisServer = await startRedisServer();
    s3 = await startEmbeddedS3({ buckets: ["media"], accessKeyId: "sns-key", secretAccessKey: "sns-secret" });
    s3Client = createS3Client({
      endpoint: s3.endpoint,
      region: "us-east-1",
      forcePathStyle: true,
      credentials: { accessKeyId: "sns-key", secretAccessKey: "sns-secret" },
    });
    redis = createRedisClient(redisServer.url, { role: "worker" });
    queue = createOutpaintQueue({ connection: redis, prefix: PREFIX });
    const runQueue = createPipelineRunQueue({ connection: redis, prefix: PREFIX });
    await applyPipelines(
      parsePipelinesFile(`
pipelines:
  social:
    targets: ["1:1", "9:16"]
    output: { bucket: media, prefix: reformats/ }
    triggers: [{ bucket: media, prefix: "uploads/", suffix: [.jpg] }]
`),
      { store: createPipelineStore(redis, { prefix: PREFIX }), runQueue },
    );
    await runQueue.close();
    sns = await startLocalSns();
    egress = createGuardedFetch({ allowHosts: ["localhost"], ca: sns.caPem, returnRedirects: true });
    const destination = new PassThrough();
    destination.on("data", (chunk: Buffer) => logs.push(...chunk.toString().split("\n").filter(Boolean)));
    const logger = createLogger({ name: "api", level: "debug", destination });
    const topicArns = [sns.topicArn];
    app = createApiServer({
      queue,
      redis,
      prefix: PREFIX,
      token: API_TOKEN,
      logger,
      intake: {
        token: INTAKE_TOKEN,
        scratch: [],
        s3: s3Client,
        sourceLimits: DEFAULT_SOURCE_LIMITS,
        sns: createSnsIntake({
          verifier: createSnsVerifier({
            fetch: egress.fetch,
            hostPattern: /^localhost$/,
            topicArns,
            maxAgeMs: 60 * 60 * 1000,
          }),
          topicArns,
          fetch: egress.fetch,
          redis,
          prefix: PREFIX,
          logger,
        }),
      },
    });
    await app.listen({ port: 0, host: "127.0.0.1" });
    // A redis-server, a certificate authority and three RSA keys: room for a busy machine.
  }, 60_000);
  afterAll(async () => {
    await app?.close();
    await egress?.close();
    await sns?.close();
    await queue?.close();
    await redis?.quit();
    await redisServer?.stop();
    s3Client?.destroy();
    await s3?.close();
  });

  const intakeUrl = () => {
    const address = app.server.address() as { port: number };
    return `http://127.0.0.1:${address.port}${INTAKE_PATH}`;
  };
  const deliver = (envelope: Parameters<LocalSns["deliver"]>[1], authorization = BASIC) =>
    sns.deliver(intakeUrl(), envelope, { authorization });
  const jobCount = () => queue.count();

  it("confirms a subscription once: SubscribeURL fetched once, a repeat changes nothing, both logged", async () => {
    const envelope = sns.envelope("SubscriptionConfirmation", "You have chosen to subscribe to the topic …");
    const first = await deliver(envelope);
    expect(first.status).toBe(200);
    expect(JSON.parse(first.body)).toMatchObject({ confirmed: true, topicArn: sns.topicArn });
    expect(JSON.parse(first.body).subscriptionArn).toMatch(/^arn:aws:sns:/);
    const again = await deliver(envelope);
    expect(JSON.parse(again.body)).toMatchObject({ confirmed: true, repeated: true });
    expect(sns.confirmations).toEqual([envelope.Token]);
    expect(logs.filter((line) => line.includes("SNS subscription confirmed"))).toHaveLength(1);
    expect(logs.some((line) => line.includes("confirmation repeated"))).toBe(true);
    expect(logs.join("\n")).not.toContain(envelope.Token!);
  });

  it.each(["1", "2"] as const)(
    "a notification (SignatureVersion %s) creates its jobs; the same message again creates none",
    async (signatureVersion) => {
      const before = await jobCount();
      const envelope = sns.envelope(
        "Notification",
        s3Event(`uploads/v${signatureVersion}.jpg`, `e${signatureVersion}`),
        {
          signatureVersion,
          subject: "Amazon S3 Notification",
        },
      );
      const first = await deliver(envelope);
      expect(first.status, first.body).toBe(202);
      expect(JSON.parse(first.body)).toMatchObject({ objects: 1, matched: 1, added: 2, duplicates: 0 });
      expect(await jobCount()).toBe(before + 2);
      const duplicate = await deliver(envelope);
      expect(JSON.parse(duplicate.body)).toMatchObject({ added: 0, duplicates: 2 });
      expect(await jobCount()).toBe(before + 2);
    },
  );

  const refusals: [string, () => Parameters<LocalSns["deliver"]>[1], RegExp][] = [
    [
      "a wrong signature",
      () => ({
        ...sns.envelope("Notification", s3Event("uploads/forged.jpg", "f1")),
        Message: s3Event("uploads/other.jpg", "f2"),
      }),
      /the signature does not match the message/,
    ],
    [
      "a foreign topic",
      () =>
        sns.envelope("Notification", s3Event("uploads/foreign.jpg", "f3"), {
          topicArn: "arn:aws:sns:us-east-1:999999999999:other",
        }),
      /topic arn:aws:sns:us-east-1:999999999999:other is not in SNS_TOPIC_ARNS/,
    ],
    [
      "an old message",
      () =>
        sns.envelope("Notification", s3Event("uploads/old.jpg", "f4"), {
          timestamp: new Date(Date.now() - 2 * 3_600_000),
        }),
      /older than the replay window/,
    ],
    [
      "a certificate URL on another host",
      () =>
        sns.envelope("Notification", s3Event("uploads/host.jpg", "f5"), {
          signingCertUrl: sns.certUrl.replace("localhost", "127.0.0.1"),
        }),
      /SigningCertURL host 127\.0\.0\.1 does not match the SNS certificate host pattern/,
    ],
    [
      "a certificate URL over http",
      () =>
        sns.envelope("Notification", s3Event("uploads/http.jpg", "f6"), {
          signingCertUrl: sns.certUrl.replace("https:", "http:"),
        }),
      /SigningCertURL must be https/,
    ],
    [
      "a confirmation whose SubscribeURL is on another host",
      () => ({
        ...sns.envelope("SubscriptionConfirmation", "x"),
        SubscribeURL: "https://attacker.example/?Action=ConfirmSubscription",
      }),
      /signature does not match|SubscribeURL host/,
    ],
  ];
  it.each(refusals)("refuses %s with a 4xx, and adds nothing", async (_name, make, rule) => {
    const before = await jobCount();
    const confirmations = sns.confirmations.length;
    const refused = await deliver(make());
    expect(refused.status).toBeGreaterThanOrEqual(400);
    expect(refused.status).toBeLessThan(500);
    expect(JSON.parse(refused.body).issues[0].rule).toMatch(rule);
    expect(await jobCount()).toBe(before);
    expect(sns.confirmations.length).toBe(confirmations);
  });

  it("logs an unsubscribe and does nothing else", async () => {
    const before = await jobCount();
    const answer = await deliver(sns.envelope("UnsubscribeConfirmation", "You have chosen to deactivate …"));
    expect(answer.status).toBe(200);
    expect(logs.some((line) => line.includes("SNS subscription ended"))).toBe(true);
    expect(await jobCount()).toBe(before);
  });

  it("keeps raw message delivery working (no envelope, the token alone), and its topic must be allowed", async () => {
    const raw = sns.envelope("Notification", s3Event("uploads/raw.jpg", "r1"));
    const answer = await sns.deliver(intakeUrl(), raw, { authorization: BASIC, raw: true });
    expect(answer.status, answer.body).toBe(202);
    expect(JSON.parse(answer.body)).toMatchObject({ added: 2 });
    const foreign = { ...raw, TopicArn: "arn:aws:sns:us-east-1:999999999999:other" };
    expect((await sns.deliver(intakeUrl(), foreign, { authorization: BASIC, raw: true })).status).toBe(403);
  });

  it("takes the intake token as Bearer or as Basic's password; a wrong password gets a Basic challenge", async () => {
    const envelope = sns.envelope("Notification", s3Event("uploads/auth.jpg", "a1"));
    expect((await deliver(envelope, `Bearer ${INTAKE_TOKEN}`)).status).toBe(202);
    expect((await deliver(envelope, basicAuthorization("anyone", INTAKE_TOKEN))).status).toBe(202);
    const wrong = await app.inject({
      method: "POST",
      url: INTAKE_PATH,
      headers: { authorization: basicAuthorization("reframe", `${INTAKE_TOKEN}x`) },
      payload: {},
    });
    expect(wrong.statusCode).toBe(401);
    expect(wrong.headers["www-authenticate"]).toEqual([
      'Basic realm="reframe intake", charset="UTF-8"',
      "Bearer",
    ]);
    const apiWithBasic = await app.inject({
      method: "GET",
      url: "/v1/jobs/op-x",
      headers: { authorization: basicAuthorization("reframe", API_TOKEN) },
    });
    expect(apiWithBasic.statusCode).toBe(401);
  });
});
