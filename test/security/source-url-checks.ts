import { enqueueMany, JobValidationError } from "@reframe/jobs";
import { beforeAll, describe, expect, it } from "vitest";
import { jobStates } from "../outpaint-flow/stack-fixture.ts";
import { outpaintJob, type SecurityStack } from "./security-stack.ts";

/**
 * URL sources as users give them, through the worker process (SOURCE_URL_ALLOW_HOSTS=127.0.0.1) and
 * a local web server that records every request. A refused source fails its job as `sourceRefused`
 * at plan, before any request reaches the address. DNS rebinding needs a resolver that changes its
 * answer, so it is proven in packages/egress (guarded-fetch.test.ts) with an injected one.
 */
export function describeSourceUrlChecks(get: () => SecurityStack): void {
  describe("source URLs", () => {
    let s: SecurityStack;
    let port: number;
    beforeAll(() => {
      s = get();
      port = s.web.port;
    });

    /** Enqueues one job per URL and expects each to fail as sourceRefused. */
    async function expectRefused(urls: string[]) {
      const inputs = urls.map((url) => outpaintJob({ kind: "url", url }, "done-sources"));
      const { jobIds, added } = await enqueueMany(s.clients.queue, inputs);
      expect(added).toBe(urls.length);
      await expect
        .poll(() => jobStates(s.clients.queue, jobIds), { timeout: 30_000 })
        .toEqual({ failed: urls.length });
      for (const [index, jobId] of jobIds.entries()) {
        const reason = (await s.clients.queue.getJob(jobId))!.failedReason;
        expect(reason, urls[index]).toMatch(/^sourceRefused: /);
      }
    }
    const seenOn = (host: string) => s.web.seen.filter((line) => line.startsWith(`${host} `));

    it("loopback, link-local (metadata) and private addresses are refused, and nothing is fetched", async () => {
      await expectRefused([
        `http://[::1]:${port}/refused.jpg`,
        `http://[::ffff:127.0.0.1]:${port}/refused.jpg`,
        "http://169.254.169.254/latest/meta-data/iam.jpg",
        "http://10.0.0.1/a.jpg",
        "http://172.16.0.1/a.jpg",
        "http://192.168.0.1/a.jpg",
        "http://100.64.0.1/a.jpg",
      ]);
      expect(s.web.seen.filter((line) => line.includes("refused.jpg"))).toEqual([]);
    });

    it("a name that resolves to loopback is refused after DNS resolution, and nothing is fetched", async () => {
      await expectRefused([s.web.imageUrl("localhost")]);
      expect(seenOn(`localhost:${port}`)).toEqual([]);
    });

    it("a redirect from an allow-listed host to loopback, a name resolving to it or the metadata service is refused", async () => {
      const before = s.web.seen.length;
      const redirects = [
        s.web.redirectUrl(s.web.imageUrl("localhost")),
        s.web.redirectUrl(`http://[::1]:${port}/refused.jpg`),
        s.web.redirectUrl("http://169.254.169.254/latest/meta-data/iam.jpg"),
      ];
      await expectRefused(redirects);
      // The allow-listed first hop was asked (once per job); what it pointed at never was.
      expect(s.web.seen.slice(before).every((line) => line.startsWith(`127.0.0.1:${port} /redirect?`))).toBe(
        true,
      );
      expect(seenOn(`localhost:${port}`)).toEqual([]);
    });

    it("schemes other than http(s) are refused when the job is enqueued, naming the field", async () => {
      for (const url of [
        "file:///etc/passwd",
        "ftp://example.com/a.jpg",
        "gopher://127.0.0.1:70/",
        "data:image/png;base64,AA",
      ]) {
        const error = await enqueueMany(s.clients.queue, [
          outpaintJob({ kind: "url", url }, "done-sources"),
        ]).catch((caught: unknown) => caught);
        expect(error, url).toBeInstanceOf(JobValidationError);
        expect((error as JobValidationError).issues).toContainEqual({
          path: ["inputs", 0, "source", "url"],
          rule: "must be an absolute http(s) URL",
        });
      }
      const viaApi = await fetch(`${s.api.url}/v1/jobs`, {
        method: "POST",
        headers: { authorization: `Bearer ${s.api.token}`, "content-type": "application/json" },
        body: JSON.stringify(outpaintJob({ kind: "url", url: "file:///etc/passwd" }, "done-sources")),
      });
      expect(viaApi.status).toBe(400);
      expect(await viaApi.json()).toMatchObject({
        issues: [{ path: "source.url", rule: "must be an absolute http(s) URL" }],
      });
    });

    it("an allow-listed host (SOURCE_URL_ALLOW_HOSTS) is fetched and its job completes", async () => {
      const url = s.web.imageUrl();
      const { jobIds } = await enqueueMany(s.clients.queue, [
        outpaintJob({ kind: "url", url }, "done-sources"),
      ]);
      await expect
        .poll(() => jobStates(s.clients.queue, jobIds), { timeout: 30_000 })
        .toEqual({ completed: 1 });
      expect(seenOn(`127.0.0.1:${port}`).some((line) => line.endsWith(new URL(url).pathname))).toBe(true);
    });
  });
}
