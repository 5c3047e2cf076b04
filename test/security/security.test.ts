import { afterAll, beforeAll } from "vitest";
import { describeBearerTokenChecks } from "./bearer-token-checks.ts";
import { describeLogChecks } from "./log-checks.ts";
import { describeOutboundChecks } from "./outbound-checks.ts";
import { describePresignedUrlChecks } from "./presigned-url-checks.ts";
import { type SecurityStack, startSecurityStack } from "./security-stack.ts";
import { describeSnsChecks } from "./sns-checks.ts";
import { describeSourceUrlChecks } from "./source-url-checks.ts";
import { describeWebhookChecks } from "./webhook-checks.ts";

/**
 * The security checks of reframe over real processes, one stack for all of them (README.md
 * "Security checks" lists each check and the test that proves it, unit tests included). The groups
 * run in this order; the log check comes last so it reads what all the others caused.
 */

let stack: SecurityStack | undefined;
const get = (): SecurityStack => {
  if (!stack) throw new Error("the security stack did not start");
  return stack;
};

// Ten processes start here; on a busy 2-core machine that can take longer than the default hook time.
beforeAll(async () => {
  stack = await startSecurityStack();
}, 180_000);
afterAll(async () => {
  await stack?.stop();
});

describeWebhookChecks(get);
describeSourceUrlChecks(get);
describePresignedUrlChecks(get);
describeBearerTokenChecks(get);
describeSnsChecks(get);
describeOutboundChecks(get);
describeLogChecks(get);
