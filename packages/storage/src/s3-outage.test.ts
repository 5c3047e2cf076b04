import { createServer } from "node:http";
import { type AddressInfo, createServer as createNetServer, type Socket } from "node:net";
import { GetObjectCommand, HeadObjectCommand } from "@aws-sdk/client-s3";
import { startEmbeddedS3 } from "@reframe/embedded-s3";
import { ServiceUnreachableError } from "@reframe/reachability";
import { freePort } from "@reframe/testkit";
import { describe, expect, it } from "vitest";
import { createS3Client } from "./client.ts";
import { asS3Unreachable, s3OutageNow, s3OutageOf } from "./s3-outage.ts";

const settings = (endpoint: string) => ({
  endpoint,
  region: "us-east-1",
  forcePathStyle: true,
  credentials: { accessKeyId: "outage-key", secretAccessKey: "outage-secret" },
});

/** An S3 server starts here, on a machine other tests share: more than vitest's 5 s. */
const TIMEOUT_MS = 30_000;

describe("an S3 outage, as a request meets it", () => {
  it(
    "is no connection, or a 5xx answer after the SDK's retries",
    async () => {
      const closed = createS3Client(settings(`http://127.0.0.1:${await freePort()}`));
      const failing = createServer((_request, response) => {
        response.writeHead(503, { "content-type": "application/xml" });
        response.end("<Error><Code>ServiceUnavailable</Code><Message>down</Message></Error>");
      });
      await new Promise<void>((resolve) => failing.listen(0, "127.0.0.1", resolve));
      const down = createS3Client(settings(`http://127.0.0.1:${(failing.address() as AddressInfo).port}`));
      try {
        const refused = await closed.send(new GetObjectCommand({ Bucket: "b", Key: "k" })).catch((e) => e);
        expect(refused).toBeInstanceOf(ServiceUnreachableError);
        expect(s3OutageOf(refused)).toBe("connection refused");
        expect(await s3OutageNow(closed, "b")).toBe("connection refused");
        expect(await s3OutageNow(down, "b")).toBe("answered 503");
        const unavailable = await down.send(new HeadObjectCommand({ Bucket: "b", Key: "k" })).catch((e) => e);
        expect(s3OutageOf(unavailable)).toBe("answered 503");
      } finally {
        closed.destroy();
        down.destroy();
        failing.close();
      }
    },
    TIMEOUT_MS,
  );

  it(
    "is S3 that accepts the connection and never answers: timed out, after the socket timeout",
    async () => {
      // A real server that takes the connection and the request and says nothing, ever.
      const sockets = new Set<Socket>();
      const hanging = createNetServer((socket) => {
        sockets.add(socket);
        socket.on("data", () => undefined);
      });
      await new Promise<void>((resolve) => hanging.listen(0, "127.0.0.1", resolve));
      const client = createS3Client({
        ...settings(`http://127.0.0.1:${(hanging.address() as AddressInfo).port}`),
        socketTimeoutMs: 300,
      });
      try {
        const startedAt = Date.now();
        const hung = await client.send(new GetObjectCommand({ Bucket: "b", Key: "k" })).catch((e) => e);
        expect(hung).toBeInstanceOf(ServiceUnreachableError);
        expect(s3OutageOf(hung)).toBe("timed out");
        expect((hung as Error).message).toMatch(
          /^cannot reach S3 at http:\/\/127\.0\.0\.1:\d+ \(timed out\)$/,
        );
        // The SDK's retries, each ended by the idle timeout: not left hanging.
        expect(Date.now() - startedAt).toBeLessThan(TIMEOUT_MS / 2);
        expect(await s3OutageNow(client, "b")).toBe("timed out");
      } finally {
        client.destroy();
        for (const socket of sockets) socket.destroy();
        hanging.close();
      }
    },
    TIMEOUT_MS,
  );

  it(
    "keeps a slow body that still flows: the socket timeout is an idle one, not a whole-request one",
    async () => {
      // 12 chunks 100 ms apart: 1.2 s in all, four times the 300 ms idle timeout.
      const slow = createServer((_request, response) => {
        response.writeHead(200, { "content-type": "application/octet-stream", "content-length": "12" });
        let sent = 0;
        const timer = setInterval(() => {
          response.write("x");
          sent += 1;
          if (sent === 12) {
            clearInterval(timer);
            response.end();
          }
        }, 100);
      });
      await new Promise<void>((resolve) => slow.listen(0, "127.0.0.1", resolve));
      const client = createS3Client({
        ...settings(`http://127.0.0.1:${(slow.address() as AddressInfo).port}`),
        socketTimeoutMs: 300,
      });
      try {
        const answer = await client.send(new GetObjectCommand({ Bucket: "b", Key: "k" }));
        expect(await answer.Body!.transformToString()).toBe("x".repeat(12));
      } finally {
        client.destroy();
        slow.close();
      }
    },
    TIMEOUT_MS,
  );

  it(
    "is not an answer: a missing object or a refused signature is the request's own",
    async () => {
      const s3 = await startEmbeddedS3({
        buckets: ["outage"],
        accessKeyId: "outage-key",
        secretAccessKey: "outage-secret",
      });
      const client = createS3Client(settings(s3.endpoint));
      const wrongKey = createS3Client({
        ...settings(s3.endpoint),
        credentials: { accessKeyId: "outage-key", secretAccessKey: "not-it" },
      });
      try {
        const missing = await client
          .send(new GetObjectCommand({ Bucket: "outage", Key: "no" }))
          .catch((e) => e);
        expect((missing as Error).name).toBe("NoSuchKey");
        expect(s3OutageOf(missing)).toBeUndefined();
        const refused = await wrongKey
          .send(new GetObjectCommand({ Bucket: "outage", Key: "no" }))
          .catch((e) => e);
        expect(s3OutageOf(refused)).toBeUndefined();
        // Asked directly: an answer, a refusal or a missing bucket included, is S3 there.
        expect(await s3OutageNow(client, "outage")).toBeUndefined();
        expect(await s3OutageNow(client, "no-such-bucket")).toBeUndefined();
        expect(await s3OutageNow(wrongKey, "outage")).toBeUndefined();
        expect(s3OutageOf(new Error("output k is not in the bucket yet"))).toBeUndefined();
        // A URL source's origin or Redis out of reach is not S3's outage.
        const origin = await fetch(`http://127.0.0.1:${await freePort()}/a.jpg`).catch((e) => e);
        expect(s3OutageOf(origin)).toBeUndefined();
        const redis = new ServiceUnreachableError(
          { service: "Redis", at: "redis://r" },
          "connection refused",
        );
        expect(s3OutageOf(redis)).toBeUndefined();
        expect(s3OutageOf(undefined)).toBeUndefined();
      } finally {
        client.destroy();
        wrongKey.destroy();
        await s3.close();
      }
    },
    TIMEOUT_MS,
  );

  it("is a body cut off midway too, once it is named S3's", () => {
    const reset = Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" });
    expect(s3OutageOf(reset)).toBeUndefined();
    expect(s3OutageOf(asS3Unreachable("b", reset))).toBe("connection reset");
    const tooLarge = new RangeError("the source is larger than MAX_SOURCE_BYTES");
    expect(asS3Unreachable("b", tooLarge)).toBe(tooLarge);
  });
});
