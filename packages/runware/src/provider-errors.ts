/**
 * The one place that decides what a provider failure means. Every caller — the worker's submit,
 * the reconciler, the webhook receiver — asks `classifyProviderError` and acts on the disposition:
 *
 *   retryable  try again later with backoff (honouring Retry-After), same taskUUID
 *   terminal   the job fails with the provider's code and message
 *   pause      the account is refused (credits, key): pause the queue and alert, fail nothing
 *   resubmit   the provider lost the task (taskNotFound, taskExpired): redo it as a new generation
 *   accepted   conflictTaskUUID: this taskUUID was already accepted — not a failure at all
 *
 * Codes and categories follow docs/provider-protocol.md §1.5 (HTTP statuses) and §1.7 (the raw codes as
 * catalogued by Runware's TypeScript SDK).
 */

export const DISPOSITIONS = ["retryable", "terminal", "pause", "resubmit", "accepted"] as const;
export type Disposition = (typeof DISPOSITIONS)[number];

export const CATEGORIES = [
  "validation",
  "auth",
  "quota",
  "rateLimit",
  "safety",
  "provider",
  "timeout",
  "notFound",
  "serverError",
  "connection",
  "conflict",
  "unknown",
] as const;
export type Category = (typeof CATEGORIES)[number];

/** Exact codes (docs/provider-protocol.md §1.7). */
const CODE_CATEGORIES: Readonly<Record<string, Category>> = {
  conflictTaskUUID: "conflict",
  invalidApiKey: "auth",
  missingApiKey: "auth",
  unauthorized: "auth",
  forbidden: "auth",
  permissionDenied: "auth",
  tokenExpired: "auth",
  accountSuspended: "auth",
  insufficientCredits: "quota",
  providerInsufficientCredits: "quota",
  thirdPartyInsufficientCredits: "quota",
  quotaExceeded: "quota",
  paymentRequired: "quota",
  rateLimitExceeded: "rateLimit",
  inferenceRateLimitExceeded: "rateLimit",
  providerRateLimitExceeded: "rateLimit",
  inferenceRateLimitRequestTooLarge: "rateLimit",
  contentPolicyViolation: "safety",
  providerContentPolicyViolation: "safety",
  nsfwContentDetected: "safety",
  sensitiveContentDetected: "safety",
  unsafeContentDetected: "safety",
  promptBlocked: "safety",
  imageBlocked: "safety",
  moderationFailed: "safety",
  providerError: "provider",
  providerUnavailable: "provider",
  providerBadGateway: "provider",
  inferenceError: "provider",
  processingFailed: "provider",
  taskFailed: "provider",
  downloadFailed: "provider",
  uploadFailed: "provider",
  noAvailableServer: "provider",
  modelUnavailable: "provider",
  timeoutProvider: "timeout",
  providerTimeout: "timeout",
  providerGatewayTimeout: "timeout",
  webhookTimeout: "timeout",
  taskNotFound: "notFound",
  taskExpired: "notFound",
  taskFailedOrNotFound: "notFound",
  taskCancelled: "notFound",
  modelNotFound: "validation",
  mediaNotFound: "validation",
  mediaExpired: "validation",
  internalServerError: "serverError",
  serviceUnavailable: "serverError",
  unknownError: "serverError",
};

/** Families of validation codes (`invalidOutputQuality`, `missingInputsImage`, …). */
const VALIDATION_PREFIXES = [
  "invalid",
  "missing",
  "unsupported",
  "unknown",
  "duplicate",
  "max",
  "value",
  "array",
  "incompatible",
];

/** Task-level notFound codes that mean "redo the task"; other notFound codes (a model) are terminal. */
const RESUBMIT_CODES = new Set(["taskNotFound", "taskExpired", "taskFailedOrNotFound"]);

export function categoryOfCode(code: string): Category | undefined {
  const exact = CODE_CATEGORIES[code];
  if (exact) return exact;
  if (code === "validationFailed") return "validation";
  return VALIDATION_PREFIXES.some((prefix) => code.startsWith(prefix) && code.length > prefix.length)
    ? "validation"
    : undefined;
}

export function categoryOfStatus(status: number): Category {
  if (status === 401 || status === 403) return "auth";
  if (status === 402) return "quota";
  if (status === 408) return "timeout";
  if (status === 429) return "rateLimit";
  if (status === 404) return "notFound";
  if (status >= 500) return "serverError";
  if (status >= 400) return "validation";
  return "unknown";
}

export function dispositionOf(category: Category, code?: string): Disposition {
  switch (category) {
    case "conflict":
      return "accepted";
    case "validation":
    case "safety":
      return "terminal";
    case "auth":
    case "quota":
      return "pause";
    case "rateLimit":
    case "provider":
    case "timeout":
    case "serverError":
    case "connection":
    case "unknown":
      return "retryable";
    case "notFound":
      return code === undefined || RESUBMIT_CODES.has(code) ? "resubmit" : "terminal";
    default:
      return assertNever(category);
  }
}

export interface ClassifyInput {
  status?: number;
  code?: string;
  /** A thrown value from the transport (network error, abort by timeout). */
  cause?: unknown;
  /** The Retry-After header: delta seconds or an HTTP date. */
  retryAfter?: string | null;
  now?: number;
}

export interface Classification {
  disposition: Disposition;
  category: Category;
  retryAfterMs?: number;
}

/** A known code wins over the HTTP status; an unknown code falls back to the status. */
export function classifyProviderError(input: ClassifyInput): Classification {
  const fromCode = input.code ? categoryOfCode(input.code) : undefined;
  const category: Category =
    fromCode ??
    (input.status !== undefined
      ? categoryOfStatus(input.status)
      : input.cause !== undefined
        ? "connection"
        : "unknown");
  const classification: Classification = {
    category,
    disposition: dispositionOf(category, fromCode ? input.code : undefined),
  };
  const retryAfterMs = parseRetryAfter(input.retryAfter, input.now ?? Date.now());
  if (retryAfterMs !== undefined) classification.retryAfterMs = retryAfterMs;
  return classification;
}

/** Retry-After bounded to [0, 1 h]: a far-future date must not park work for days. */
const MAX_RETRY_AFTER_MS = 3_600_000;

export function parseRetryAfter(value: string | null | undefined, now: number): number | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.min(MAX_RETRY_AFTER_MS, Math.round(Number(trimmed) * 1000));
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return undefined;
  return Math.min(MAX_RETRY_AFTER_MS, Math.max(0, date - now));
}

export interface ProviderErrorInit {
  code: string;
  message: string;
  disposition: Disposition;
  category: Category;
  status?: number;
  parameter?: string | string[];
  taskUUID?: string;
  retryAfterMs?: number;
  cause?: unknown;
}

/** A provider failure, already classified: callers match on `disposition` or `code`, never the message. */
export class ProviderError extends Error {
  readonly code: string;
  readonly disposition: Disposition;
  readonly category: Category;
  readonly status: number | undefined;
  readonly parameter: string | string[] | undefined;
  readonly taskUUID: string | undefined;
  readonly retryAfterMs: number | undefined;

  constructor(init: ProviderErrorInit) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = "ProviderError";
    this.code = init.code;
    this.disposition = init.disposition;
    this.category = init.category;
    this.status = init.status;
    this.parameter = init.parameter;
    this.taskUUID = init.taskUUID;
    this.retryAfterMs = init.retryAfterMs;
  }

  /** Builds a classified error from what the transport saw. */
  static from(
    input: ClassifyInput & { message: string; parameter?: string | string[]; taskUUID?: string },
  ): ProviderError {
    const classification = classifyProviderError(input);
    const init: ProviderErrorInit = {
      code: input.code ?? (input.status !== undefined ? `http${input.status}` : "networkError"),
      message: input.message,
      ...classification,
    };
    if (input.status !== undefined) init.status = input.status;
    if (input.parameter !== undefined) init.parameter = input.parameter;
    if (input.taskUUID !== undefined) init.taskUUID = input.taskUUID;
    if (input.cause !== undefined) init.cause = input.cause;
    return new ProviderError(init);
  }
}

function assertNever(value: never): never {
  throw new Error(`unhandled category ${String(value)}`);
}

/** Categories that say the provider itself is down or unreachable, not that one request was wrong. */
const OUTAGE_CATEGORIES: ReadonlySet<Category> = new Set(["serverError", "timeout", "connection"]);

/**
 * Whether a failed request counts towards the provider breaker (an outage): a 5xx, a timeout or a
 * connection error of the request as a whole. A 429 is rate, not outage (the caller backs off as the
 * provider asks); a task's own error (it names a taskUUID) is that task's outcome, not the provider's.
 */
export function isOutage(error: unknown): boolean {
  if (!(error instanceof ProviderError) || error.taskUUID !== undefined) return false;
  if (error.category === "rateLimit" || error.status === 429) return false;
  return OUTAGE_CATEGORIES.has(error.category) || (error.status !== undefined && error.status >= 500);
}

/**
 * A task's error codes that say the provider could not reach our storage: reading the source through
 * its presigned GET, or writing the output through its presigned PUT. During an S3 outage these end
 * generations through no fault of the provider's; the worker checks S3 before it spends another.
 */
const STORAGE_TASK_ERRORS: ReadonlySet<string> = new Set(["downloadFailed", "uploadFailed"]);

export function isStorageTaskError(code: string): boolean {
  return STORAGE_TASK_ERRORS.has(code);
}
