import { type AnswerReading, toOutcomeRecord } from "@reframe/jobs";
import { answersOf, parseWebhookBody } from "@reframe/runware";

/**
 * What one webhook delivery means for its task. The provider POSTs the task's response as JSON, the
 * same envelope a poll answers with: `{ data: [result] }` when it finished, presumably
 * `{ errors: [error] }` when it failed (docs/provider-protocol.md §5), so it is read as a poll's answer
 * (runware's answersOf) and then by the one reading of any answer (jobs' toOutcomeRecord). Every item
 * must name the task of the URL: the token authenticates that task only, so a body about another
 * task is refused rather than stored under the wrong key. An error without a taskUUID is taken as the
 * URL's task (docs/provider-protocol.md §1.6: often omitted).
 */

export type DeliveryReading =
  | { ok: true; reading: AnswerReading }
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
  const envelope = { data: results, errors: errors.map((error) => ({ ...error, taskUUID })) };
  const answer = answersOf([taskUUID], { status: 200, retryAfter: undefined, envelope }, "poll").get(
    taskUUID,
  );
  if (!answer)
    return { ok: false, error: "invalid-body", reason: "the body holds no answer about this task" };
  return { ok: true, reading: toOutcomeRecord(answer, "webhook", receivedAt) };
}
