import { LOCAL_BUCKETS } from "@reframe/local-stack";
import { basicAuthorization } from "@reframe/testkit";
import { beforeAll, describe, expect, it } from "vitest";
import type { SecurityStack } from "./security-stack.ts";

/** The S3 event intake as SNS reaches it: HTTP Basic credentials, signed envelopes. */
export function describeSnsChecks(get: () => SecurityStack): void {
  describe("SNS at the intake", () => {
    let s: SecurityStack;
    beforeAll(() => {
      s = get();
    });
    const intake = () => `${s.api.url}/v1/events/s3`;
    const jobCount = async () =>
      Object.values(await s.clients.queue.getJobCounts()).reduce((a, b) => a + b, 0);
    const event = (key: string) =>
      JSON.stringify({
        Records: [
          {
            eventName: "ObjectCreated:Put",
            s3: { bucket: { name: LOCAL_BUCKETS.sources }, object: { key, size: 10, eTag: "e-sns" } },
          },
        ],
      });

    it("the intake takes its token as Bearer or as HTTP Basic's password; anything else is 401 with a Basic challenge", async () => {
      const token = s.api.intakeToken;
      s.neverLogged.add(basicAuthorization("reframe", token));
      const before = await jobCount();
      for (const [what, authorization] of [
        ["no credentials", undefined],
        [
          "a wrong password",
          basicAuthorization("reframe", `${token.slice(0, -1)}${token.endsWith("x") ? "y" : "x"}`),
        ],
        ["the API token as password", basicAuthorization("reframe", s.api.token)],
        ["the token as the user name", basicAuthorization(token, "")],
        ["an empty password", basicAuthorization("reframe", "")],
      ] as const) {
        const answer = await s.sns.deliver(
          intake(),
          s.sns.envelope("Notification", event("incoming/a.jpg")),
          {
            ...(authorization ? { authorization } : {}),
          },
        );
        expect(answer.status, what).toBe(401);
      }
      const challenge = await fetch(intake(), { method: "POST" });
      expect(challenge.headers.get("www-authenticate")).toMatch(/^Basic realm="reframe intake"/);
      expect(await jobCount()).toBe(before);
      for (const authorization of [basicAuthorization("reframe", token), `Bearer ${token}`]) {
        const answer = await s.sns.deliver(
          intake(),
          s.sns.envelope("Notification", event("incoming/b.jpg")),
          {
            authorization,
          },
        );
        expect(answer.status, authorization.split(" ")[0]).toBe(202);
      }
    });

    it("a confirmation is fetched once; forged, foreign, old or off-host messages are refused with 4xx, adding nothing", async () => {
      const authorization = basicAuthorization("reframe", s.api.intakeToken);
      const confirmation = s.sns.envelope("SubscriptionConfirmation", "subscribe");
      s.neverLogged.add(confirmation.Token!);
      for (let i = 0; i < 2; i += 1)
        expect((await s.sns.deliver(intake(), confirmation, { authorization })).status).toBe(200);
      expect(s.sns.confirmations).toEqual([confirmation.Token]);
      const before = await jobCount();
      const signed = s.sns.envelope("Notification", event("incoming/c.jpg"));
      for (const [what, envelope] of [
        ["a changed message", { ...signed, Message: event("incoming/d.jpg") }],
        [
          "a foreign topic",
          s.sns.envelope("Notification", event("incoming/e.jpg"), { topicArn: "arn:aws:sns:us-east-1:1:x" }),
        ],
        [
          "an old message",
          s.sns.envelope("Notification", event("incoming/f.jpg"), { timestamp: new Date(0) }),
        ],
        [
          "a certificate on another host",
          { ...signed, SigningCertURL: signed.SigningCertURL.replace("localhost", "127.0.0.1") },
        ],
      ] as const) {
        const answer = await s.sns.deliver(intake(), envelope, { authorization });
        expect(answer.status, what).toBeGreaterThanOrEqual(400);
        expect(answer.status, what).toBeLessThan(500);
      }
      expect(await jobCount()).toBe(before);
    });
  });
}
