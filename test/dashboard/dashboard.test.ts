import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { uploadSampleScenes } from "@reframe/demo";
import {
  createBatchStore,
  createBreakerStore,
  createOutpaintQueue,
  enqueueMany,
  type OutpaintJobInput,
} from "@reframe/jobs";
import { LOCAL_BUCKETS, type LocalStack, startLocalStack } from "@reframe/local-stack";
import { createRedisClient } from "@reframe/redis";
import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

/**
 * The dashboard in a real browser (Debian's chromium driven by playwright-core; no browser download):
 * log in, see a batch's page with its source beside its outputs, see that nothing of the queues is
 * served without the session cookie, and keep a screenshot under out/dashboard/.
 */

const CHROMIUM = [process.env.CHROMIUM_PATH, "/usr/bin/chromium", "/usr/bin/chromium-browser"].find(
  (path): path is string => Boolean(path && existsSync(path)),
);
const OUT = fileURLToPath(new URL("../../out/dashboard/", import.meta.url));
const BATCH = "dashboard-demo";
const TARGETS = ["16:9", "9:16", "4:5"];

if (!CHROMIUM)
  console.warn("dashboard browser tests skipped: no chromium (apt-get install chromium, or CHROMIUM_PATH)");

describe.skipIf(!CHROMIUM)("the dashboard in a browser", () => {
  let stack: LocalStack;
  let browser: Browser;
  let base: string;

  beforeAll(async () => {
    stack = await startLocalStack({ api: true, workers: 1, apiEnv: { DASHBOARD_ACTIONS: "on" } });
    base = `${stack.api!.url}/dashboard`;
    const s3 = stack.s3Client();
    const connection = createRedisClient(stack.redisSettings, { role: "worker" });
    const queue = createOutpaintQueue({ connection, prefix: "{reframe}" });
    try {
      const samples = await uploadSampleScenes(s3);
      const batches = createBatchStore(connection, { prefix: "{reframe}" });
      await batches.open(BATCH, { kind: "bulk", createdAt: Date.now(), estimatedCostUsd: 1.2 });
      const jobs = samples.flatMap((sample) =>
        TARGETS.map(
          (ratio) =>
            ({
              source: { kind: "s3", bucket: LOCAL_BUCKETS.sources, key: sample.key },
              target: { kind: "ratio", ratio, anchor: "center" },
              output: { bucket: LOCAL_BUCKETS.outputs, prefix: "dash/" },
              labels: { batchId: BATCH },
            }) as OutpaintJobInput,
        ),
      );
      jobs.push({
        source: { kind: "s3", bucket: LOCAL_BUCKETS.sources, key: "samples/gone.jpg" },
        target: { kind: "ratio", ratio: "1:1" },
        output: { bucket: LOCAL_BUCKETS.outputs, prefix: "dash/" },
        labels: { batchId: BATCH },
      } as OutpaintJobInput);
      await enqueueMany(queue, jobs, { batch: { store: batches, batchId: BATCH } });
      await batches.seal(BATCH);
      const deadline = Date.now() + 60_000;
      while (!(await batches.status(BATCH))?.closedAt) {
        if (Date.now() > deadline) throw new Error("the batch did not end within 60 s");
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    } finally {
      await queue.close();
      connection.disconnect();
      s3.destroy();
    }
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
    await mkdir(OUT, { recursive: true });
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await stack?.stop();
  });

  async function loggedIn(): Promise<Page> {
    const page = await browser.newPage({ viewport: { width: 1360, height: 900 } });
    await page.goto(base);
    expect(page.url()).toBe(`${base}/login`);
    await page.fill("input[name=token]", stack.api!.token);
    await page.click("button");
    await page.waitForURL(base);
    return page;
  }

  it("without the session cookie nothing of the queues, batches or jobs is served", async () => {
    for (const path of [
      "",
      `/batches/${BATCH}`,
      "/pipelines",
      "/queues",
      "/queues/api/queues",
      "/queues/api/queues/outpaint/x",
    ]) {
      const response = await fetch(`${base}${path}`, { redirect: "manual" });
      const body = await response.text();
      expect([303, 401], path).toContain(response.status);
      expect(body, path).not.toMatch(/outpaint|samples\/|dashboard-demo|completed/);
    }
    // A made-up cookie and the API's bearer token open nothing either.
    const forged = await fetch(`${base}/queues/api/queues`, {
      headers: {
        cookie: "reframe_dashboard=v1.99999999999999.abc.def",
        authorization: `Bearer ${stack.api!.token}`,
      },
    });
    expect(forged.status).toBe(401);
    const page = await browser.newPage();
    await page.goto(`${base}/batches/${BATCH}`);
    expect(page.url()).toBe(`${base}/login`);
    expect(await page.content()).not.toContain("samples/");
    await page.close();
  });

  it("a wrong token does not log in", async () => {
    const page = await browser.newPage();
    await page.goto(`${base}/login`);
    await page.fill("input[name=token]", "not-the-token-at-all");
    await page.click("button");
    await page.waitForURL(`${base}/login?failed=1`);
    expect(await page.textContent("body")).toContain("does not open the dashboard");
    await page.close();
  });

  it("logged in, the batch page shows each source beside its outputs, from thumbnails, and the failure", async () => {
    const page = await loggedIn();
    const cookies = await page.context().cookies();
    const session = cookies.find((cookie) => cookie.name === "reframe_dashboard");
    expect(session).toMatchObject({ httpOnly: true, sameSite: "Strict", path: "/dashboard" });
    expect(await page.textContent("body")).toContain(BATCH);
    await page.click(`a[href="/dashboard/batches/${BATCH}"]`);
    await page.waitForURL(`${base}/batches/${BATCH}`);
    const sections = page.locator("section.source");
    await expect.poll(() => sections.count()).toBe(5);
    const pictures = page.locator("section.source img");
    // Four sources and twelve outputs; the missing source's place says it has no picture.
    await expect.poll(() => pictures.count()).toBe(17);
    // Every picture loads (decoded, not broken) once scrolled to (they load lazily), and none is a
    // presigned URL.
    for (let index = 0; index < 17; index += 1) await pictures.nth(index).scrollIntoViewIfNeeded();
    await expect
      .poll(() =>
        page.$$eval("section.source img", (images) =>
          images.every((image) => {
            const picture = image as unknown as { complete: boolean; naturalWidth: number };
            return picture.complete && picture.naturalWidth > 0;
          }),
        ),
      )
      .toBe(true);
    const sources = await page.$$eval("img", (images) =>
      images.map((image) => image.getAttribute("src") ?? ""),
    );
    for (const src of sources) expect(src).toMatch(/^\/dashboard\/thumb\?ref=s3%3A%2F%2F/);
    expect(await page.content()).not.toMatch(/X-Amz-Signature|X-Amz-Credential/);
    const text = await page.textContent("body");
    expect(text).toContain("sourceNotFound");
    expect(text).toContain("16x9 → ");
    expect(text).toContain("Retry the failed job");
    await page.screenshot({ path: `${OUT}batch.png`, fullPage: true });
    // A picture's URL without the cookie is refused.
    const response = await fetch(new URL(sources[0]!, stack.api!.url));
    expect(response.status).toBe(401);
    await page.close();
  });

  it("Bull Board lists the queues with the cookie, and refuses an action from another origin", async () => {
    const page = await loggedIn();
    const api = await page.request.get(`${base}/queues/api/queues?activeQueue=outpaint&status=completed`);
    expect(api.status()).toBe(200);
    const listed = (await api.json()) as { queues: { name: string }[] };
    expect(listed.queues.map((queue) => queue.name)).toContain("outpaint");
    const forged = await page.request.put(`${base}/queues/api/queues/outpaint/pause`, {
      headers: { origin: "https://evil.example" },
    });
    expect(forged.status()).toBe(403);
    const notOffered = await page.request.put(`${base}/queues/api/queues/outpaint/obliterate`, {
      headers: { origin: stack.api!.url },
    });
    expect(notOffered.status()).toBe(403);
    await page.goto(`${base}/queues`);
    await page.waitForSelector("text=outpaint", { timeout: 20_000 });
    await page.screenshot({ path: `${OUT}bull-board.png` });
    await page.close();
  });

  it("overview and pipelines pages render for a logged-in operator", async () => {
    // A provider breaker that opened (as the workers record outage failures) gets its card.
    const connection = createRedisClient(stack.redisSettings, { role: "worker" });
    const breaker = createBreakerStore(connection, "provider", "provider.example.test", undefined, {
      prefix: "{reframe}",
    });
    // S3's, likewise.
    const s3 = createBreakerStore(connection, "s3", "s3.example.test", undefined, { prefix: "{reframe}" });
    for (let i = 0; i < 5; i += 1) {
      await breaker.recordFailure(Date.now());
      await s3.recordFailure(Date.now());
    }
    connection.disconnect();
    const page = await loggedIn();
    const body = await page.textContent("body");
    expect(body).toContain("The outpaint queue is running");
    expect(body).toMatch(
      /Provider breaker open — the provider at provider\.example\.test is unavailable for \d/,
    );
    expect(body).toMatch(/S3 breaker open — S3 at s3\.example\.test is unavailable for \d/);
    await page.screenshot({ path: `${OUT}overview.png`, fullPage: true });
    await page.goto(`${base}/pipelines`);
    expect(await page.textContent("h1")).toBe("Pipelines");
    await page.close();
  });
});
