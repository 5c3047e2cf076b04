import { COMPLETION_EVENT_TYPE, DELIVERY_QUEUE } from "@reframe/jobs";
import { LOCAL_BUCKETS, type LocalStack, startLocalStack } from "@reframe/local-stack";
import { startWebhookReceiver, type WebhookReceiver } from "@reframe/testkit";
import { Queue } from "bullmq";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type StackClients, stackClients, uploadSource } from "../outpaint-flow/stack-fixture.ts";
import { reframe } from "../reframe-cli.ts";

/**
 * Outbound webhooks over real processes: endpoints declared with the CLI, a job routed to one, the
 * worker process delivering its completion event signed per Standard Webhooks to a receiver that
 * verifies with the standardwebhooks package, and the deliveries audited and replayed with the CLI.
 */
// Each CLI call is a process of its own, as a user runs it: give the file room on a busy machine.
describe("outbound webhooks", { timeout: 180_000 }, () => {
  let stack: LocalStack;
  let clients: StackClients;
  let receiver: WebhookReceiver;
  let secret: string;
  let answer = 200;
  let deliveries: Queue;
  beforeAll(async () => {
    stack = await startLocalStack({
      workers: 1,
      emulatorEnv: { EMULATOR_LATENCY_MS: "50-150" },
      workerEnv: { DELIVERY_RETRY_SCHEDULE: "200ms,200ms,200ms" },
    });
    clients = stackClients(stack);
    deliveries = new Queue(DELIVERY_QUEUE, { connection: clients.connection, prefix: "{reframe}" });
    receiver = await startWebhookReceiver({ secrets: [], answer: () => ({ status: answer }) });
  });
  afterAll(async () => {
    await receiver?.close();
    await deliveries?.close();
    await clients?.close();
    await stack?.stop();
  });
  const cli = (...args: string[]) => reframe(args, stack.workerEnvironment);

  it("endpoints add generates a whsec_ secret, shown once; list never shows it", async () => {
    const added = await cli("endpoints", "add", "dam", receiver.url, "--event-types", COMPLETION_EVENT_TYPE);
    expect(added.code, added.stderr).toBe(0);
    secret = /secret \(shown once; give it to the receiver\): (whsec_\S+)/.exec(added.stdout)![1]!;
    receiver.setSecrets([secret]);
    expect((await cli("endpoints", "add", "dam", receiver.url)).stderr).toMatch(
      /endpoint dam exists already/,
    );
    expect((await cli("endpoints", "add", "x", "ftp://a")).stderr).toMatch(/url: must be an http\(s\) URL/);
    const listed = await cli("endpoints", "list");
    expect(listed.stdout).toMatch(/^dam {2}http:\/\/127\.0\.0\.1:\d+\/hooks {2}enabled/);
    expect(listed.stdout).toContain("signing secrets: 1");
    expect(listed.stdout).not.toContain(secret.slice(6));
  });

  it("a job routed to webhook:dam is delivered to it, signed, and listed with its attempts", async () => {
    await uploadSource(clients.s3, "outbound/a.jpg", 320, 240);
    answer = 500; // the first attempts fail, then the endpoint recovers
    setTimeout(() => {
      answer = 200;
    }, 300);
    const enqueued = await cli(
      "enqueue",
      "--source",
      `s3://${LOCAL_BUCKETS.sources}/outbound/a.jpg`,
      "--target",
      "1:1",
      "--route",
      "webhook:dam",
      "--wait",
    );
    expect(enqueued.code, enqueued.stderr).toBe(0);
    await expect
      .poll(() => receiver.received.filter((r) => r.status === 200).length, { timeout: 20_000 })
      .toBe(1);
    const ids = new Set(receiver.received.map((request) => request.id));
    expect(ids.size).toBe(1);
    expect(receiver.received.every((request) => request.verified)).toBe(true);
    const delivered = receiver.received.at(-1)!;
    expect(delivered.body).toMatchObject({ type: COMPLETION_EVENT_TYPE, specversion: "1.0" });
    const listed = await cli("deliveries", "list", "--endpoint", "dam");
    expect(listed.stdout).toMatch(
      new RegExp(`^dlv-\\w+ {2}dam {2}${COMPLETION_EVENT_TYPE.replaceAll(".", "\\.")} {2}DELIVERED`),
    );
    expect(listed.stdout).toMatch(/ {2}200 {2}\d+ ms/);
    if (receiver.received.length > 1) expect(listed.stdout).toMatch(/ {2}500 {2}\d+ ms {2}HTTP 500/);
    expect((await cli("deliveries", "list", "--failed")).stdout).toBe("no deliveries\n");
  });

  it("deliveries retry sends the same webhook-id again, by id and by endpoint and time", async () => {
    const before = receiver.received.length;
    const eventId = receiver.received.at(-1)!.id;
    const id = /^(dlv-\w+)/.exec((await cli("deliveries", "list")).stdout)![1]!;
    const byId = await cli("deliveries", "retry", id);
    expect(byId.stdout).toBe("1 delivery sent again (same webhook-id)\n");
    await expect.poll(() => receiver.received.length, { timeout: 10_000 }).toBe(before + 1);
    const bySince = await cli("deliveries", "retry", "--endpoint", "dam", "--since", "10m");
    expect(bySince.stdout).toMatch(/^1 delivery sent again/);
    await expect.poll(() => receiver.received.length, { timeout: 10_000 }).toBe(before + 2);
    expect(receiver.received.slice(before).map((request) => [request.id, request.verified])).toEqual([
      [eventId, true],
      [eventId, true],
    ]);
    expect((await cli("deliveries", "retry")).code).toBe(2);
  });

  it("rotate-secret: the new secret signs at once and the old one still does during the grace period", async () => {
    const rotated = await cli("endpoints", "rotate-secret", "dam", "--grace", "1h");
    const next = /new secret of dam \(shown once\): (whsec_\S+)/.exec(rotated.stdout)![1]!;
    expect(next).not.toBe(secret);
    for (const only of [[next], [secret]]) {
      receiver.setSecrets(only);
      const before = receiver.received.length;
      const id = /^(dlv-\w+)/.exec((await cli("deliveries", "list")).stdout)![1]!;
      await cli("deliveries", "retry", id);
      await expect.poll(() => receiver.received.length, { timeout: 10_000 }).toBe(before + 1);
      expect(receiver.received.at(-1)!.verified).toBe(true);
    }
  });

  it("endpoints disable holds deliveries (nothing sent); enable and retry sends them", async () => {
    expect((await cli("endpoints", "disable", "dam")).stdout).toBe("endpoint dam disabled\n");
    expect((await cli("endpoints", "list")).stdout).toMatch(/DISABLED since \S+: disabled by hand/);
    const before = receiver.received.length;
    const id = /^(dlv-\w+)/.exec((await cli("deliveries", "list")).stdout)![1]!;
    await cli("deliveries", "retry", id);
    await expect.poll(() => deliveries.getFailedCount(), { timeout: 20_000 }).toBe(1);
    expect((await cli("deliveries", "list", "--failed")).stdout).toMatch(
      /last error: endpointDisabled: endpoint dam is disabled/,
    );
    expect(receiver.received.length).toBe(before);
    expect((await cli("endpoints", "enable", "dam")).stdout).toMatch(/^endpoint dam enabled\n/);
    await cli("deliveries", "retry", "--endpoint", "dam", "--since", "1h");
    await expect.poll(() => receiver.received.length, { timeout: 10_000 }).toBe(before + 1);
  });
});
