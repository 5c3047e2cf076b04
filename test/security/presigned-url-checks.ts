import { HeadObjectCommand } from "@aws-sdk/client-s3";
import { enqueueMany, parseOutpaintJobData } from "@reframe/jobs";
import { LOCAL_BUCKETS } from "@reframe/local-stack";
import { presignOutputUpload } from "@reframe/storage";
import { beforeAll, describe, expect, it } from "vitest";
import { jobStates, uploadSource } from "../outpaint-flow/stack-fixture.ts";
import { outpaintJob, type SecurityStack } from "./security-stack.ts";
import { expiryOf, submittedTasks } from "./submitted-tasks.ts";

/**
 * Presigned URLs as the provider gets them. Their lifetime is read from what the worker process
 * really sent (its debug log keeps X-Amz-Date and X-Amz-Expires; the signature is redacted), against
 * each task's deadline in Redis. Their scope is checked against the embedded S3, which verifies
 * SigV4: the signature covers method, bucket and key. The rounding rule itself is unit-tested in
 * packages/storage (presign.test.ts) and apps/worker (submit-step.test.ts).
 */
export function describePresignedUrlChecks(get: () => SecurityStack): void {
  describe("presigned URLs", () => {
    let s: SecurityStack;
    beforeAll(() => {
      s = get();
    });

    it("every URL the worker gave the provider expires by its task's deadline, also with the shortest deadline", async () => {
      await uploadSource(s.clients.s3, "security/short-deadline.jpg");
      const short = {
        ...outpaintJob(
          { kind: "s3", bucket: LOCAL_BUCKETS.sources, key: "security/short-deadline.jpg" },
          "done-presign",
        ),
        options: { deadlineSeconds: 60 },
      };
      const { jobIds } = await enqueueMany(s.clients.queue, [short]);
      await expect
        .poll(() => jobStates(s.clients.queue, jobIds), { timeout: 30_000 })
        .toEqual({ completed: 1 });
      const checked: string[] = [];
      for (const task of submittedTasks(s)) {
        const job = await s.clients.queue.getJob(task.jobId);
        const tasks = job ? parseOutpaintJobData(job.data).state?.tasks : undefined;
        const deadline = tasks?.find((candidate) => candidate.taskUUID === task.taskUUID)?.deadline;
        if (deadline === undefined) continue;
        for (const url of [task.uploadEndpoint, task.sourceUrl].filter((u) => u !== undefined)) {
          expect(
            expiryOf(url),
            `${task.taskUUID} expires ${new Date(expiryOf(url)).toISOString()}`,
          ).toBeLessThanOrEqual(deadline);
          expect(expiryOf(url)).toBeGreaterThan(deadline - 2_000);
        }
        checked.push(task.jobId);
      }
      expect(checked).toContain(jobIds[0]);
      expect(new Set(checked).size).toBeGreaterThanOrEqual(3);
      const shortTask = submittedTasks(s).find((task) => task.jobId === jobIds[0])!;
      expect(Number(new URL(shortTask.uploadEndpoint).searchParams.get("X-Amz-Expires"))).toBeLessThanOrEqual(
        60,
      );
    });

    it("an output URL writes its own key only: another key, another bucket, a read or a delete get 403 from S3", async () => {
      const key = "security/scoped/output.png";
      const url = new URL(
        await presignOutputUpload({
          client: s.clients.s3,
          bucket: LOCAL_BUCKETS.outputs,
          key,
          expiresInSeconds: 300,
        }),
      );
      s.neverLogged.add(url.searchParams.get("X-Amz-Signature")!);
      const elsewhere = (path: string) => {
        const moved = new URL(url);
        moved.pathname = path;
        return moved.href;
      };
      const attempts: [string, string, RequestInit][] = [
        [
          "another key",
          elsewhere(`/${LOCAL_BUCKETS.outputs}/security/scoped/other.png`),
          { method: "PUT", body: "x" },
        ],
        [
          "a key beside it",
          elsewhere(`/${LOCAL_BUCKETS.outputs}/security/scoped/output.png.bak`),
          { method: "PUT", body: "x" },
        ],
        ["another bucket", elsewhere(`/${LOCAL_BUCKETS.sources}/${key}`), { method: "PUT", body: "x" }],
        ["a read", url.href, { method: "GET" }],
        ["a delete", url.href, { method: "DELETE" }],
      ];
      expect((await fetch(url, { method: "PUT", body: "png" })).status).toBe(200);
      for (const [what, target, init] of attempts) {
        expect((await fetch(target, init)).status, what).toBe(403);
      }
      await s.clients.s3.send(new HeadObjectCommand({ Bucket: LOCAL_BUCKETS.outputs, Key: key }));
      for (const [bucket, other] of [
        [LOCAL_BUCKETS.outputs, "security/scoped/other.png"],
        [LOCAL_BUCKETS.sources, key],
      ] as const) {
        const head = await s.clients.s3
          .send(new HeadObjectCommand({ Bucket: bucket, Key: other }))
          .catch((error: unknown) => error);
        expect((head as { name?: string }).name, `${bucket}/${other}`).toBe("NotFound");
      }
    });
  });
}
