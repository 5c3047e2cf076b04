import { taskWebhookURL } from "@reframe/runware";
import { beforeAll, describe, expect, it } from "vitest";
import type { SecurityStack } from "./security-stack.ts";
import { signatureOf, submittedTasks } from "./submitted-tasks.ts";

/**
 * Runs last: by then every other check has made the processes log at debug level — provider tasks
 * with their presigned URLs and webhook URLs, refused tokens, failed sources. Rather than trusting
 * the redaction patterns, it gathers the secret values themselves and looks for each one in every
 * captured line: the provider API key, the API token, the webhook secret, the S3 secret key, the
 * webhook token of every task the worker submitted, every token a check sent, and the real
 * X-Amz-Signature of every presigned URL the worker logged (re-derived, see signatureOf).
 */
export function describeLogChecks(get: () => SecurityStack): void {
  describe("logs", () => {
    let s: SecurityStack;
    beforeAll(() => {
      s = get();
    });

    it("no log line of any process holds an API key, a webhook token or an X-Amz-Signature value", async () => {
      const logs = s.outputs();
      const submitted = submittedTasks(s);
      // The lines that would leak are really there, redacted: this check is not vacuous.
      expect(submitted.length).toBeGreaterThanOrEqual(4);
      expect(logs).toContain("X-Amz-Signature=[REDACTED]");
      expect(logs).toContain("token=[REDACTED]");
      const secrets = new Map<string, string>([
        [s.stack.apiKey, "the provider API key"],
        [s.api.token, "the API token"],
        [s.api.intakeToken, "the intake token"],
        [s.webhookSecret, "the webhook secret"],
        [s.stack.s3.credentials.secretAccessKey, "the S3 secret key"],
      ]);
      for (const value of s.neverLogged) secrets.set(value, "a token or signature a check used");
      for (const task of submitted) {
        const url = taskWebhookURL({ baseUrl: "http://x", taskUUID: task.taskUUID, secret: s.webhookSecret });
        secrets.set(new URL(url).searchParams.get("token")!, `the webhook token of ${task.taskUUID}`);
        secrets.set(
          await signatureOf(s, task.uploadEndpoint, "PUT"),
          `the upload signature of ${task.taskUUID}`,
        );
        if (task.sourceUrl)
          secrets.set(
            await signatureOf(s, task.sourceUrl, "GET"),
            `the source signature of ${task.taskUUID}`,
          );
      }
      expect(secrets.size).toBeGreaterThan(3 * submitted.length);
      const leaked = [...secrets].filter(([value]) => logs.includes(value)).map(([, what]) => what);
      expect(leaked).toEqual([]);
    });
  });
}
