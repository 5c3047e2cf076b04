import type { ProviderError, TaskAnswer } from "@reframe/runware";
import { z } from "zod";

/**
 * A provider task's outcome as the task store keeps it (task-store.ts), and the one function that
 * turns what the provider said about a task — a submit's answer, a poll's, a webhook's — into one.
 */

const via = z.enum(["webhook", "poll", "sync"]);
export type OutcomeVia = z.output<typeof via>;

/** What the provider returned for a finished task; only the fields reframe reads are checked. */
export const storedResultSchema = z.looseObject({
  taskUUID: z.string().optional(),
  imageUUID: z.string().optional(),
  imageURL: z.string().optional(),
  seed: z.number().optional(),
  cost: z.number().optional(),
});

export const taskOutcomeRecordSchema = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("success"), result: storedResultSchema, receivedAt: z.number(), via }),
  z.object({
    kind: z.literal("error"),
    error: z.object({
      code: z.string().min(1),
      message: z.string(),
      parameter: z.union([z.string(), z.array(z.string())]).optional(),
    }),
    receivedAt: z.number(),
    via,
  }),
  /**
   * The provider does not know the task (taskNotFound, expired). Provisional: a final outcome that
   * arrives later replaces it, and submitting the same taskUUID again clears it.
   */
  z.object({ kind: z.literal("resubmit"), code: z.string().min(1), receivedAt: z.number(), via }),
]);

export type TaskOutcomeRecord = z.output<typeof taskOutcomeRecordSchema>;

/** The code of a task the provider called finished without naming an image. */
export const RESULT_WITHOUT_IMAGE = "resultWithoutImage";

/**
 * What an answer about one task means for the task store:
 * - store: the task ended (or was lost); store the record, the job decides on it;
 * - running: accepted, or still processing; nothing to store;
 * - later: the provider refused to answer for now (a rate limit, a 5xx, a request-level failure);
 *   nothing to store, ask again after a backoff no shorter than `retryAfterMs`;
 * - pause: the account was refused (credits, key); nothing to store — the task itself, if the
 *   provider accepted it, is not failed by that, and a stored refusal would pause the queue again
 *   every time the job woke.
 */
export type AnswerReading =
  | { kind: "store"; record: TaskOutcomeRecord }
  | { kind: "running" }
  | { kind: "later"; error: ProviderError }
  | { kind: "pause"; error: ProviderError };

/**
 * Per-task categories of a retryable error that say the task's generation failed on the provider's
 * side: the same taskUUID cannot run again, so it is stored and the job redoes the variant. Other
 * retryable categories (rateLimit, serverError, connection) refuse the request, not the task.
 */
const GENERATION_FAILED = new Set(["provider", "timeout", "unknown"]);

/**
 * The one reading of a provider answer, for the submit step (`sync`), the job's own check and the
 * reconciler (`poll`), and the webhook receiver (`webhook`). A submit's answer only says whether the
 * provider took the task, so there anything short of a result or a terminal refusal is `later`:
 * sent again under the same taskUUID after a backoff, never redone as a new (paid) generation.
 */
export function toOutcomeRecord(answer: TaskAnswer, via: OutcomeVia, receivedAt: number): AnswerReading {
  switch (answer.kind) {
    case "accepted":
    case "alreadyAccepted":
    case "processing":
      return { kind: "running" };
    case "completed": {
      const result = answer.results.find((item) => item.imageUUID !== undefined);
      if (result) return { kind: "store", record: { kind: "success", result, receivedAt, via } };
      return {
        kind: "store",
        record: {
          kind: "error",
          error: { code: RESULT_WITHOUT_IMAGE, message: "the provider reported success without an image" },
          receivedAt,
          via,
        },
      };
    }
    case "failed":
      return readError(answer.error, via, receivedAt);
    default:
      throw new Error(`unhandled answer ${JSON.stringify(answer satisfies never)}`);
  }
}

function readError(error: ProviderError, via: OutcomeVia, receivedAt: number): AnswerReading {
  switch (error.disposition) {
    case "accepted":
      return { kind: "running" };
    case "pause":
      return { kind: "pause", error };
    case "terminal":
      return { kind: "store", record: errorRecord(error, via, receivedAt) };
    case "resubmit":
      if (via === "sync") return { kind: "later", error };
      return { kind: "store", record: { kind: "resubmit", code: error.code, receivedAt, via } };
    case "retryable":
      if (via === "sync" || error.taskUUID === undefined || !GENERATION_FAILED.has(error.category))
        return { kind: "later", error };
      return { kind: "store", record: errorRecord(error, via, receivedAt) };
    default:
      throw new Error(`unhandled disposition ${JSON.stringify(error.disposition satisfies never)}`);
  }
}

function errorRecord(error: ProviderError, via: OutcomeVia, receivedAt: number): TaskOutcomeRecord {
  const { code, message, parameter } = error;
  return {
    kind: "error",
    error: { code, message: message || code, ...(parameter === undefined ? {} : { parameter }) },
    receivedAt,
    via,
  };
}
