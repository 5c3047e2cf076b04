import type { TaskOutcomeRecord } from "@reframe/jobs";
import { classifyProviderError, parseWebhookBody } from "@reframe/runware";

/**
 * What one webhook delivery means for its task. The provider POSTs the task's response as JSON:
 * `{ data: [result] }` when it finished, presumably `{ errors: [error] }` when it failed
 * (provider-protocol §5). Every item must name the task of the URL: the token authenticates that
 * task only, so a body about another task is refused rather than stored under the wrong key.
 * An error without a taskUUID is taken as the URL's task (provider-protocol §1.6: often omitted).
 */

export type DeliveryReading =
  | { ok: true; record: TaskOutcomeRecord }
  | { ok: false; error: "invalid-body" | "taskUUID mismatch"; reason: string };

export function readDelivery(body: unknown, taskUUID: string, receivedAt: number): DeliveryReading {
  const parsed = parseWebhookBody(body);
  if (!parsed.ok) return { ok: false, error: "invalid-body", reason: parsed.reason };
  const { results, errors } = parsed;
  const strangers = [...results.map((item) => item.taskUUID), ...errors.map((item) => item.taskUUID)].filter(
    (itemTask) => itemTask !== undefined && itemTask !== taskUUID,
  );
  if (strangers.length > 0) {
    return {
      ok: false,
      error: "taskUUID mismatch",
      reason: `the body is about task ${strangers[0]}, the URL about ${taskUUID}`,
    };
  }
  // One task, one result (numberResults: 1); a result beats an error sent in the same body.
  const [result] = results;
  if (result) return { ok: true, record: { kind: "success", result, receivedAt, via: "webhook" } };
  const [error] = errors;
  if (!error)
    return { ok: false, error: "invalid-body", reason: "the body holds neither a result nor an error" };
  if (classifyProviderError({ code: error.code }).disposition === "resubmit") {
    return { ok: true, record: { kind: "resubmit", code: error.code, receivedAt, via: "webhook" } };
  }
  const { code, message, parameter } = error;
  return {
    ok: true,
    record: {
      kind: "error",
      error: { code, message: message ?? code, ...(parameter === undefined ? {} : { parameter }) },
      receivedAt,
      via: "webhook",
    },
  };
}
