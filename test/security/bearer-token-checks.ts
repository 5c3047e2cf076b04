import { LOCAL_BUCKETS } from "@reframe/local-stack";
import { beforeAll, describe, expect, it } from "vitest";
import { outpaintJob, type SecurityStack } from "./security-stack.ts";

/** The token with its last character changed (to one it is not: "x" could be the token itself). */
const wrongToken = (token: string) => `${token.slice(0, -1)}${token.endsWith("x") ? "y" : "x"}`;

/** The HTTP API process (`pnpm api`) as a caller without its token sees it. */
export function describeBearerTokenChecks(get: () => SecurityStack): void {
  describe("bearer tokens", () => {
    let s: SecurityStack;
    beforeAll(() => {
      s = get();
    });
    const newJob = () =>
      JSON.stringify(
        outpaintJob({ kind: "s3", bucket: LOCAL_BUCKETS.sources, key: "security/api.jpg" }, "done-api"),
      );
    const jobCount = async () =>
      Object.values(await s.clients.queue.getJobCounts()).reduce((a, b) => a + b, 0);

    it("the API answers 401 without its bearer token, on every route and unknown ones, and adds nothing", async () => {
      const before = await jobCount();
      for (const [method, path] of [
        ["POST", "/v1/jobs"],
        ["GET", "/v1/jobs/op-anything"],
        ["GET", "/v1/batches/anything"],
        ["GET", "/v1/no-such-route"],
        ["DELETE", "/v1/jobs/op-anything"],
      ] as const) {
        const response = await fetch(`${s.api.url}${path}`, {
          method,
          headers: { "content-type": "application/json" },
          ...(method === "POST" ? { body: newJob() } : {}),
        });
        expect(response.status, `${method} ${path}`).toBe(401);
        expect(response.headers.get("www-authenticate")).toBe("Bearer");
      }
      expect(await jobCount()).toBe(before);
    });

    it("the API answers 401 to a wrong token, another scheme, or the token outside the Authorization header", async () => {
      const { token } = s.api;
      const before = await jobCount();
      const attempts: [string, Record<string, string>, string][] = [
        ["a wrong token", { authorization: `Bearer ${wrongToken(token)}` }, "/v1/jobs"],
        ["a longer token", { authorization: `Bearer ${token}x` }, "/v1/jobs"],
        ["an empty token", { authorization: "Bearer " }, "/v1/jobs"],
        ["Basic", { authorization: `Basic ${Buffer.from(`api:${token}`).toString("base64")}` }, "/v1/jobs"],
        ["the bare token", { authorization: token }, "/v1/jobs"],
        ["the token in the query", {}, `/v1/jobs?token=${token}`],
        ["the token in another header", { "x-api-key": token }, "/v1/jobs"],
      ];
      for (const [what, headers, path] of attempts) {
        const response = await fetch(`${s.api.url}${path}`, {
          method: "POST",
          headers: { "content-type": "application/json", ...headers },
          body: newJob(),
        });
        expect(response.status, what).toBe(401);
      }
      expect(await jobCount()).toBe(before);
      const accepted = await fetch(`${s.api.url}/v1/jobs`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
        body: newJob(),
      });
      expect(accepted.status).toBe(202);
    });

    it("the API serves only its OpenAPI document and health check without a token", async () => {
      for (const path of ["/openapi.json", "/healthz"]) {
        expect((await fetch(`${s.api.url}${path}`)).status, path).toBe(200);
      }
    });

    it("the event intake answers 401 without its own token (the API's does not open it), and adds nothing", async () => {
      const event = JSON.stringify({
        Records: [
          {
            eventName: "ObjectCreated:Put",
            s3: {
              bucket: { name: LOCAL_BUCKETS.sources },
              object: { key: "incoming/x.jpg", size: 10, eTag: "e1" },
            },
          },
        ],
      });
      const before = await jobCount();
      for (const [what, headers] of [
        ["no token", {}],
        ["the API token", { authorization: `Bearer ${s.api.token}` }],
        ["a wrong token", { authorization: `Bearer ${wrongToken(s.api.intakeToken)}` }],
      ] as const) {
        const response = await fetch(`${s.api.url}/v1/events/s3`, {
          method: "POST",
          headers: { "content-type": "application/json", ...headers },
          body: event,
        });
        expect(response.status, what).toBe(401);
      }
      const withIntakeToken = await fetch(`${s.api.url}/v1/jobs`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${s.api.intakeToken}` },
        body: newJob(),
      });
      expect(withIntakeToken.status, "the intake token on the jobs route").toBe(401);
      const accepted = await fetch(`${s.api.url}/v1/events/s3`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${s.api.intakeToken}` },
        body: event,
      });
      expect(accepted.status).toBe(202);
      expect(await jobCount()).toBe(before);
    });
  });
}
