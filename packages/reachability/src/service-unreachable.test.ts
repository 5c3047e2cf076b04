import { freePort } from "@reframe/testkit";
import { describe, expect, it } from "vitest";
import {
  asUnreachable,
  connectionProblem,
  formatDelay,
  publicUrl,
  ServiceUnreachableError,
  unreachableMessage,
} from "./service-unreachable.ts";

describe("unreachable services", () => {
  it("says which service, where and why in one line", () => {
    expect(unreachableMessage({ service: "Redis", at: "redis://127.0.0.1:6379" }, "connection refused")).toBe(
      "cannot reach Redis at redis://127.0.0.1:6379 (connection refused)",
    );
  });

  it("names the problem of a real refused connection, through fetch's wrapping", async () => {
    const port = await freePort();
    const error = await fetch(`http://127.0.0.1:${port}/`).catch((e: unknown) => e);
    expect(connectionProblem(error)).toBe("connection refused");
    const wrapped = asUnreachable({ service: "S3", at: `http://127.0.0.1:${port}` }, error);
    expect(wrapped).toBeInstanceOf(ServiceUnreachableError);
    expect((wrapped as Error).message).toBe(
      `cannot reach S3 at http://127.0.0.1:${port} (connection refused)`,
    );
    expect((wrapped as Error).message).not.toContain("\n");
  });

  it("finds the problem in causes, aggregates and Redis's refusals", () => {
    const refused = Object.assign(new Error("connect ECONNREFUSED ::1:6379"), { code: "ECONNREFUSED" });
    expect(connectionProblem(new AggregateError([refused, refused]))).toBe("connection refused");
    expect(connectionProblem(new Error("fetch failed", { cause: { code: "ENOTFOUND" } }))).toBe(
      "host not found",
    );
    expect(connectionProblem(Object.assign(new Error("t"), { name: "TimeoutError" }))).toBe("timed out");
    const wrongPass = Object.assign(new Error("WRONGPASS invalid username-password pair"), {
      name: "ReplyError",
    });
    expect(connectionProblem(wrongPass)).toBe("wrong user name or password");
  });

  it("leaves other errors alone: an answer is not a reachability problem", () => {
    const denied = Object.assign(new Error("Access Denied"), { name: "AccessDenied", code: "AccessDenied" });
    expect(connectionProblem(denied)).toBeUndefined();
    expect(asUnreachable({ service: "S3", at: "x" }, denied)).toBe(denied);
    expect(connectionProblem("ECONNREFUSED")).toBeUndefined();
  });

  it("shows URLs without credentials, query or fragment", () => {
    expect(publicUrl("redis://:s3cret@redis.internal:6380/2")).toBe("redis://redis.internal:6380/2");
    expect(publicUrl("rediss://user:pw@cache.example.com:6379")).toBe("rediss://cache.example.com:6379");
    expect(publicUrl("http://127.0.0.1:9000")).toBe("http://127.0.0.1:9000");
    expect(publicUrl("https://api.runware.ai/v1?key=abc#x")).toBe("https://api.runware.ai/v1");
    expect(publicUrl("not a url")).toBe("(an invalid URL)");
  });

  it("formats waits as a person reads them", () => {
    expect([250, 1000, 1500, 10_000].map(formatDelay)).toEqual(["250 ms", "1 s", "1.5 s", "10 s"]);
  });
});
