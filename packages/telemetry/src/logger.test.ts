import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { createLogger } from "./logger.ts";
import { redactUrl } from "./redact.ts";

const presigned =
  "http://127.0.0.1:9000/out/a.jpg?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAEXAMPLE%2F20261124%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20261124T000000Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host&X-Amz-Signature=0123456789abcdef";

function capture(format: "json" | "pretty" = "json") {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      lines.push(String(chunk));
      done();
    },
  });
  return { lines, logger: createLogger({ name: "test", level: "debug", format, destination }) };
}

describe("createLogger", () => {
  it("writes JSON lines with the name and level", () => {
    const { lines, logger } = capture();
    logger.info({ jobId: "j1" }, "job planned");
    const line = JSON.parse(lines[0] ?? "");
    expect(line).toMatchObject({ name: "test", level: 30, jobId: "j1", msg: "job planned" });
  });

  it("redacts an Authorization header, apiKey fields and webhook secrets", () => {
    const { lines, logger } = capture();
    logger.debug(
      {
        headers: { authorization: "Bearer sk-live-123" },
        task: { apiKey: "sk-live-123" },
        webhookSecret: "whs",
      },
      "request",
    );
    expect(lines.join("")).not.toMatch(/sk-live-123|whs"/);
    expect(JSON.parse(lines[0] ?? "")).toMatchObject({
      headers: { authorization: "[REDACTED]" },
      task: { apiKey: "[REDACTED]" },
    });
  });

  it("redacts outbound webhook secrets, Basic credentials and a URL's password wherever they appear", () => {
    const { lines, logger } = capture();
    const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    logger.warn(
      { endpoint: { url: "https://reframe:intake-tok-123@api.example.com/v1/events/s3" } },
      `signing with ${secret}; sent Authorization: Basic cmVmcmFtZTppbnRha2UtdG9rLTEyMw==`,
    );
    const text = lines.join("");
    expect(text).not.toMatch(
      /MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw|intake-tok-123|cmVmcmFtZTppbnRha2UtdG9rLTEyMw/,
    );
    expect(text).toContain("whsec_[REDACTED]");
    expect(text).toContain("https://[REDACTED]@api.example.com/v1/events/s3");
  });

  it("redacts presigned signatures and credentials in fields, messages and errors", () => {
    const { lines, logger } = capture();
    logger.info({ uploadEndpoint: presigned }, `uploading to ${presigned}`);
    logger.error({ err: new Error(`PUT ${presigned} failed`) }, "upload failed");
    const text = lines.join("");
    expect(text).not.toContain("0123456789abcdef");
    expect(text).not.toContain("AKIAEXAMPLE");
    expect(text).toContain("X-Amz-Signature=[REDACTED]");
    expect(text).toContain("X-Amz-SignedHeaders=host");
  });

  it("redacts webhook tokens in URLs and bearer tokens inside messages", () => {
    const { lines, logger } = capture();
    logger.warn("webhook http://h/runware/t1?token=abc_DEF-123 refused; sent Bearer sk-9");
    const text = lines.join("");
    expect(text).not.toMatch(/abc_DEF-123|sk-9/);
  });

  it("pretty output is redacted too", () => {
    const { lines, logger } = capture("pretty");
    logger.info({ url: presigned }, "pretty");
    expect(lines.join("")).not.toContain("0123456789abcdef");
  });
});

describe("redactUrl", () => {
  it("keeps the URL usable for reading but drops the signature", () => {
    expect(redactUrl(presigned)).toMatch(
      /^http:\/\/127\.0\.0\.1:9000\/out\/a\.jpg\?X-Amz-Algorithm=AWS4-HMAC-SHA256/,
    );
    expect(redactUrl(presigned)).toContain("X-Amz-Credential=[REDACTED]");
  });
});
