import { COMPLETION_EVENT_TYPE } from "@reframe/jobs";
import { LOCAL_BUCKETS } from "@reframe/local-stack";
import { startWebhookReceiver, type WebhookReceiver } from "@reframe/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { uploadSource } from "../outpaint-flow/stack-fixture.ts";
import { reframe } from "../reframe-cli.ts";
import type { SecurityStack } from "./security-stack.ts";

/** Outbound endpoints: signed deliveries, the egress guard, secrets kept out of what is shown. */
export function describeOutboundChecks(get: () => SecurityStack): void {
  // Each CLI call is a process of its own: room for a busy machine.
  describe("outbound webhooks", { timeout: 180_000 }, () => {
    let s: SecurityStack;
    let receiver: WebhookReceiver;
    let offLimits: WebhookReceiver;
    beforeAll(async () => {
      s = get();
      receiver = await startWebhookReceiver({ secrets: [] });
      // 127.0.0.2 is loopback too, and not in the stack's DELIVERY_ALLOW_HOSTS.
      offLimits = await startWebhookReceiver({ secrets: [], host: "127.0.0.2" });
    });
    afterAll(async () => {
      await receiver?.close();
      await offLimits?.close();
    });
    const cli = (...args: string[]) => reframe(args, s.stack.workerEnvironment);

    it("deliveries are signed (verified by the standardwebhooks package); endpoints on private or metadata addresses are refused", async () => {
      const added = await cli("endpoints", "add", "sec-dam", receiver.url);
      const secret = /(whsec_\S+)/.exec(added.stdout)![1]!;
      s.neverLogged.add(secret);
      s.neverLogged.add(secret.slice("whsec_".length));
      receiver.setSecrets([secret]);
      await cli("endpoints", "add", "sec-private", offLimits.url);
      await cli("endpoints", "add", "sec-metadata", "http://169.254.169.254/latest/meta-data/");
      expect((await cli("endpoints", "list")).stdout).not.toContain(secret.slice("whsec_".length));
      await uploadSource(s.clients.s3, "security/outbound.jpg");
      const enqueued = await cli(
        "enqueue",
        "--source",
        `s3://${LOCAL_BUCKETS.sources}/security/outbound.jpg`,
        "--target",
        "1:1",
        "--route",
        "webhook:sec-dam,webhook:sec-private,webhook:sec-metadata",
        "--wait",
      );
      expect(enqueued.code, enqueued.stderr).toBe(0);
      await expect.poll(() => receiver.received.length, { timeout: 30_000 }).toBe(1);
      expect(receiver.received[0]).toMatchObject({ verified: true, body: { type: COMPLETION_EVENT_TYPE } });
      const failed = await cli("deliveries", "list", "--failed");
      expect(failed.stdout).toMatch(
        /sec-private[\s\S]*egressRefused: egress refused: 127\.0\.0\.2 is not a public address/,
      );
      expect(failed.stdout).toMatch(/sec-metadata[\s\S]*egressRefused: egress refused: 169\.254\.169\.254/);
      expect(offLimits.received).toEqual([]);
      expect(failed.stdout + (await cli("deliveries", "list")).stdout).not.toContain(secret.slice(6));
    });
  });
}
