import { connect } from "node:net";
import { outpaintEventSchema } from "@reframe/jobs";
import { taskWebhookURL } from "@reframe/runware";
import { beforeAll, describe, expect, it } from "vitest";
import { jobStates } from "../outpaint-flow/stack-fixture.ts";
import {
  jobState,
  type ParkedTask,
  parkedTasks,
  type SecurityStack,
  storedOutcome,
  WEBHOOKS_BODY_LIMIT_BYTES,
  WEBHOOKS_BODY_TIMEOUT_MS,
} from "./security-stack.ts";

/**
 * The webhook receiver as the internet sees it: a real process with WEBHOOKS_BODY_LIMIT_BYTES and
 * WEBHOOKS_BODY_TIMEOUT_MS from its environment, and real parked jobs whose provider task finished
 * but whose webhook never came. Each refusal is checked against that state: nothing stored, the job
 * still parked. Variants of a rule (every malformed shape) are unit tests in apps/webhooks.
 */
export function describeWebhookChecks(get: () => SecurityStack): void {
  describe("webhooks", () => {
    let s: SecurityStack;
    let a: ParkedTask;
    let b: ParkedTask;
    beforeAll(async () => {
      s = get();
      [a, b] = (await parkedTasks(s, "webhook", 2)) as [ParkedTask, ParkedTask];
    });

    const urlOf = (task: ParkedTask) =>
      taskWebhookURL({ baseUrl: s.stack.webhooksUrl!, taskUUID: task.taskUUID, secret: s.webhookSecret });
    const tokenOf = (task: ParkedTask) => new URL(urlOf(task)).searchParams.get("token")!;
    const post = (url: string, body: string) =>
      fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body });
    const deliveryOf = (task: ParkedTask) => JSON.stringify({ data: [task.result] });

    /** Nothing stored for these tasks, and their jobs still parked. */
    async function expectUntouched(...tasks: ParkedTask[]) {
      for (const task of tasks) {
        expect(await storedOutcome(s, task.taskUUID), `outcome of ${task.taskUUID}`).toBeNull();
        expect(await jobState(s, task.jobId)).toBe("delayed");
      }
    }

    it("a wrong, missing or another task's token is refused with 401 and nothing is stored", async () => {
      const path = `${s.stack.webhooksUrl}/runware/${a.taskUUID}`;
      const forged = "forged-token-0123456789abcdefghijk";
      const otherTask = tokenOf(b);
      s.neverLogged.add(forged).add(otherTask).add(tokenOf(a));
      for (const url of [
        path,
        `${path}?token=`,
        `${path}?token=${forged}`,
        `${path}?token=${otherTask}`,
        `${path}?token=${tokenOf(a).toUpperCase()}`,
        `${path}?token=${forged}&token=${tokenOf(a)}`,
      ]) {
        const response = await post(url, deliveryOf(a));
        expect(response.status, url.replace(/token=.*/, "token=…")).toBe(401);
        expect(await response.json()).toEqual({ ok: false, error: "unauthorized" });
      }
      await expectUntouched(a, b);
    });

    it("one task's valid URL with another task's body is refused, and nothing is stored for either task", async () => {
      for (const body of [
        { data: [b.result] },
        { data: [a.result, b.result] },
        { errors: [{ code: "timeoutProvider", message: "x", taskUUID: b.taskUUID }] },
      ]) {
        const response = await post(urlOf(a), JSON.stringify(body));
        expect(response.status).toBe(400);
        expect(await response.json()).toMatchObject({ ok: false, error: "taskUUID mismatch" });
      }
      await expectUntouched(a, b);
    });

    it("malformed JSON is refused with 400 and nothing is stored", async () => {
      for (const body of ['{"data": [', "not json", '{"hello": "world"}']) {
        expect((await post(urlOf(a), body)).status, body).toBe(400);
      }
      await expectUntouched(a);
    });

    const requestHead = (task: ParkedTask, headers: string) => {
      const url = new URL(urlOf(task));
      return `POST ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\nContent-Type: application/json\r\n${headers}`;
    };

    it(`a body over WEBHOOKS_BODY_LIMIT_BYTES (${WEBHOOKS_BODY_LIMIT_BYTES}) is refused with 413, declared or streamed`, async () => {
      const url = new URL(urlOf(a));
      const padded = JSON.stringify({
        data: [{ ...a.result, padding: "x".repeat(WEBHOOKS_BODY_LIMIT_BYTES) }],
      });
      const declared = await rawExchange(url, [
        requestHead(a, `Content-Length: ${padded.length}\r\nConnection: close\r\n\r\n`),
        padded,
      ]);
      expect(declared.answer).toMatch(/^HTTP\/1\.1 413 /);
      // Chunked: no length to judge up front, so the limit must hold while reading.
      const chunk = (text: string) => `${text.length.toString(16)}\r\n${text}\r\n`;
      const streamed = await rawExchange(url, [
        requestHead(a, "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"),
        ...[padded.slice(0, 2000), padded.slice(2000, 4000), padded.slice(4000)].map(chunk),
        "0\r\n\r\n",
      ]);
      expect(streamed.answer).toMatch(/^HTTP\/1\.1 413 /);
      await expectUntouched(a);
    });

    it(`a body that trickles in is cut off with 408 after WEBHOOKS_BODY_TIMEOUT_MS (${WEBHOOKS_BODY_TIMEOUT_MS} ms), before it is complete`, async () => {
      // At a byte per 100 ms the body would be complete after ~8 s: long after the configured 1 s
      // (checked each second), well before the 10 s default, so a timeout not wired would show.
      const declared = 80;
      const trickled = await rawExchange(
        new URL(urlOf(a)),
        [requestHead(a, `Content-Length: ${declared}\r\n\r\n`), "{"],
        " ",
      );
      expect(trickled.answer).toMatch(/^HTTP\/1\.1 408 /);
      expect(trickled.dripped + 1).toBeLessThan(declared);
      await expectUntouched(a);
    });

    it("headers that trickle in are cut off with 408 as well", async () => {
      const trickled = await rawExchange(new URL(urlOf(a)), [requestHead(a, "")], "X-Slow: y\r\n");
      expect(trickled.answer).toMatch(/^HTTP\/1\.1 408 /);
      await expectUntouched(a);
    });

    it("the genuine delivery completes the job; replaying it changes nothing, before or after the job ends", async () => {
      const route = s.clients.routeQueue("done-webhook");
      await s.clients.queue.pause();
      let first: string | null;
      let wokenState: string;
      try {
        expect(await (await post(urlOf(a), deliveryOf(a))).json()).toEqual({ ok: true, stored: true });
        first = await storedOutcome(s, a.taskUUID);
        wokenState = await jobState(s, a.jobId);
        expect(first).toContain(a.result.imageUUID!);
        expect(wokenState).not.toBe("delayed");
        // The replay, and a replay with another result under the same valid token.
        const other = JSON.stringify({ data: [{ ...a.result, imageUUID: "replayed-image" }] });
        for (const body of [deliveryOf(a), other]) {
          expect(await (await post(urlOf(a), body)).json()).toEqual({ ok: true, stored: false });
          expect(await storedOutcome(s, a.taskUUID)).toBe(first);
          expect(await jobState(s, a.jobId)).toBe(wokenState);
        }
      } finally {
        await s.clients.queue.resume();
      }
      await expect
        .poll(() => jobStates(s.clients.queue, [a.jobId]), { timeout: 30_000 })
        .toEqual({ completed: 1 });
      const done = (await s.clients.queue.getJob(a.jobId))!;
      const submits = (await emulatorTask(s, a.taskUUID)).submits;
      // A finished job forgets its tasks; a replay after that must not write them back.
      await expect.poll(() => storedOutcome(s, a.taskUUID)).toBeNull();
      expect(await (await post(urlOf(a), deliveryOf(a))).json()).toEqual({ ok: true, stored: false });
      const after = (await s.clients.queue.getJob(a.jobId))!;
      expect(await after.getState()).toBe("completed");
      expect([after.finishedOn, after.returnvalue]).toEqual([done.finishedOn, done.returnvalue]);
      expect(await storedOutcome(s, a.taskUUID)).toBeNull();
      expect((await emulatorTask(s, a.taskUUID)).submits).toBe(submits);
      const events = await route.getJobs(["waiting", "completed", "delayed", "active"]);
      const forA = events.filter((event) => outpaintEventSchema.parse(event.data).data.jobId === a.jobId);
      expect(forA.map((event) => outpaintEventSchema.parse(event.data).type)).toEqual([
        "reframe.outpaint.completed.v1",
      ]);
      // b, refused so far, completes from its own genuine delivery.
      expect(await (await post(urlOf(b), deliveryOf(b))).json()).toEqual({ ok: true, stored: true });
      await expect
        .poll(() => jobStates(s.clients.queue, [b.jobId]), { timeout: 30_000 })
        .toEqual({ completed: 1 });
    });
  });
}

async function emulatorTask(s: SecurityStack, taskUUID: string): Promise<{ submits: number }> {
  const counters = (await (await fetch(`${s.stack.emulatorUrl}/admin/counters`)).json()) as {
    tasks: Record<string, { submits: number }>;
  };
  return counters.tasks[taskUUID] ?? { submits: 0 };
}

/**
 * Writes `parts` to a raw socket, then `drip` every 100 ms if given, until the server closes the
 * connection; returns what it answered and how many drips went out. A write the server no longer
 * reads (EPIPE after its answer) is expected and ignored.
 */
async function rawExchange(
  url: URL,
  parts: string[],
  drip?: string,
): Promise<{ answer: string; dripped: number }> {
  const socket = connect(Number(url.port), url.hostname);
  let answer = "";
  let dripped = 0;
  socket.on("data", (chunk) => {
    answer += chunk.toString();
  });
  socket.on("error", () => undefined);
  const closed = new Promise<void>((resolve) => socket.on("close", () => resolve()));
  for (const part of parts) socket.write(part);
  const timer = setInterval(() => {
    if (drip === undefined || !socket.writable) return;
    socket.write(drip);
    dripped += 1;
  }, 100);
  try {
    await closed;
  } finally {
    clearInterval(timer);
    socket.destroy();
  }
  return { answer, dripped };
}
