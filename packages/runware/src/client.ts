import {
  connectionProblem,
  formatDelay,
  publicUrl,
  type ServiceTarget,
  ServiceUnreachableError,
  unreachableMessage,
} from "@reframe/reachability";
import { Agent, request } from "undici";
import { ProviderError } from "./provider-errors.ts";
import {
  envelopeSchema,
  type ImageInferenceResult,
  type ImageInferenceTask,
  imageInferenceResultSchema,
  type ProviderErrorObject,
} from "./schemas.ts";

/**
 * What the provider said about one task (an answer: accepted, completed, processing, failed),
 * matched by taskUUID (never by array position). `@reframe/jobs` turns it into the task outcome it
 * stores (`toOutcomeRecord`).
 */
export type TaskAnswer =
  | { kind: "accepted"; taskUUID: string }
  | { kind: "alreadyAccepted"; taskUUID: string }
  | { kind: "completed"; taskUUID: string; results: ImageInferenceResult[] }
  | { kind: "processing"; taskUUID: string; results: ImageInferenceResult[] }
  | { kind: "failed"; taskUUID: string; error: ProviderError };

export interface RequestOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
}

export interface RunwareClient {
  /** Posts every task in one request; resolves with an answer per taskUUID. */
  submit(tasks: readonly ImageInferenceTask[], options?: RequestOptions): Promise<Map<string, TaskAnswer>>;
  /** Asks for many async tasks in one request. */
  getResponses(taskUUIDs: readonly string[], options?: RequestOptions): Promise<Map<string, TaskAnswer>>;
  close(): Promise<void>;
}

export interface RunwareClientOptions {
  /** e.g. https://api.runware.ai/v1 */
  baseUrl: string;
  apiKey: string;
  timeoutMs?: number;
  /** Keep-alive connections to the provider. */
  connections?: number;
  userAgent?: string;
}

/**
 * The provider's HTTP client: one keep-alive connection pool, Bearer auth, a timeout and an
 * AbortSignal per request. It never retries: a submit is retried by its caller under the same
 * taskUUID, so the provider can answer `conflictTaskUUID` instead of generating twice.
 */
export function createRunwareClient(options: RunwareClientOptions): RunwareClient {
  const agent = new Agent({ connections: options.connections ?? 16, keepAliveTimeout: 30_000 });
  const defaultTimeoutMs = options.timeoutMs ?? 60_000;
  const headers = {
    authorization: `Bearer ${options.apiKey}`,
    "content-type": "application/json",
    "user-agent": options.userAgent ?? "reframe (+https://github.com/reframe)",
  };

  const target = providerTarget(options.baseUrl);
  async function post(body: unknown[], requestOptions: RequestOptions = {}) {
    const timeout = AbortSignal.timeout(requestOptions.timeoutMs ?? defaultTimeoutMs);
    const signal = requestOptions.signal ? AbortSignal.any([requestOptions.signal, timeout]) : timeout;
    let response: Awaited<ReturnType<typeof request>>;
    try {
      response = await request(options.baseUrl, {
        method: "POST",
        headers,
        body: JSON.stringify(body),
        signal,
        dispatcher: agent,
      });
    } catch (error) {
      throw transportError(error, requestOptions.signal, target);
    }
    const text = await response.body.text().catch(() => "");
    const retryAfter = headerValue(response.headers["retry-after"]);
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw ProviderError.from({
        status: response.statusCode,
        retryAfter,
        message: `the provider answered HTTP ${response.statusCode} with a body that is not JSON`,
        ...(response.statusCode < 400 ? { code: "invalidResponse", status: 502 } : {}),
      });
    }
    const envelope = envelopeSchema.safeParse(json);
    if (!envelope.success) {
      throw ProviderError.from({
        status: response.statusCode >= 400 ? response.statusCode : 502,
        retryAfter,
        message: "the provider answered JSON that is not an envelope {data, errors}",
      });
    }
    return { status: response.statusCode, retryAfter, envelope: envelope.data };
  }

  return {
    async submit(tasks, requestOptions) {
      if (tasks.length === 0) return new Map();
      const reply = await post([...tasks], requestOptions);
      return answersOf(
        tasks.map((task) => task.taskUUID),
        reply,
        "submit",
      );
    },
    async getResponses(taskUUIDs, requestOptions) {
      if (taskUUIDs.length === 0) return new Map();
      const reply = await post(
        taskUUIDs.map((taskUUID) => ({ taskType: "getResponse", taskUUID })),
        requestOptions,
      );
      return answersOf([...taskUUIDs], reply, "poll");
    },
    async close() {
      await agent.close();
    },
  };
}

interface Reply {
  status: number;
  retryAfter: string | undefined;
  envelope: { data: unknown[]; errors: ProviderErrorObject[] };
}

/**
 * Per-task answers from one reply. Errors naming a taskUUID belong to that task; an error without
 * one belongs to every task the reply says nothing else about. A reply with no per-task answer at all
 * and a failing status (429, 5xx) is a failure of the whole request: it throws.
 */
export function answersOf(
  taskUUIDs: string[],
  reply: Reply,
  mode: "submit" | "poll",
): Map<string, TaskAnswer> {
  const wanted = new Set(taskUUIDs);
  const items = new Map<string, ImageInferenceResult[]>();
  for (const raw of reply.envelope.data) {
    const item = imageInferenceResultSchema.safeParse(raw);
    if (!item.success || !wanted.has(item.data.taskUUID)) continue;
    items.set(item.data.taskUUID, [...(items.get(item.data.taskUUID) ?? []), item.data]);
  }
  const taskErrors = new Map<string, ProviderErrorObject>();
  const generalErrors: ProviderErrorObject[] = [];
  for (const error of reply.envelope.errors) {
    if (error.taskUUID && wanted.has(error.taskUUID)) taskErrors.set(error.taskUUID, error);
    else generalErrors.push(error);
  }
  if (items.size === 0 && taskErrors.size === 0) {
    const first = generalErrors[0];
    if (reply.status >= 400 || first) {
      throw errorFrom(first ?? { code: "", message: `the provider answered HTTP ${reply.status}` }, reply);
    }
  }
  const outcomes = new Map<string, TaskAnswer>();
  for (const taskUUID of taskUUIDs) {
    const error = taskErrors.get(taskUUID) ?? generalErrors[0];
    const results = items.get(taskUUID);
    if (results) outcomes.set(taskUUID, fromItems(taskUUID, results, mode, reply));
    else if (error) outcomes.set(taskUUID, fromError(taskUUID, error, reply));
    else if (mode === "submit") outcomes.set(taskUUID, { kind: "accepted", taskUUID });
    else outcomes.set(taskUUID, { kind: "processing", taskUUID, results: [] });
  }
  return outcomes;
}

function fromItems(
  taskUUID: string,
  results: ImageInferenceResult[],
  mode: "submit" | "poll",
  reply: Reply,
): TaskAnswer {
  const failed = results.find((item) => item.status === "error");
  if (failed) {
    return fromError(
      taskUUID,
      {
        code: failed.error?.code ?? "taskFailed",
        message: failed.error?.message ?? "the task failed",
        taskUUID,
      },
      reply,
    );
  }
  // A result that says success is finished, image or not: a success without an image is for the
  // caller to read as a failure, not a task still running (jobs' toOutcomeRecord).
  const finished = results.filter(
    (item) => item.status === "success" || (item.status === undefined && item.imageUUID !== undefined),
  );
  if (results.some((item) => item.status === "processing"))
    return { kind: "processing", taskUUID, results: finished };
  if (finished.length > 0) return { kind: "completed", taskUUID, results: finished };
  // An async ACK is a placeholder `{taskType, taskUUID}` without a result (docs/provider-protocol.md §4.1).
  return mode === "submit" ? { kind: "accepted", taskUUID } : { kind: "processing", taskUUID, results: [] };
}

/**
 * The error keeps a taskUUID only when it named this task: one without (or naming another task) was
 * about the whole request, a 429 or a 5xx, and says nothing about the task's generation.
 */
function fromError(taskUUID: string, error: ProviderErrorObject, reply: Reply): TaskAnswer {
  const { taskUUID: named, ...rest } = error;
  const classified = errorFrom(named === taskUUID ? { ...rest, taskUUID } : rest, reply);
  if (classified.disposition === "accepted") return { kind: "alreadyAccepted", taskUUID };
  return { kind: "failed", taskUUID, error: classified };
}

function errorFrom(error: ProviderErrorObject, reply: Reply): ProviderError {
  return ProviderError.from({
    status: reply.status,
    retryAfter: reply.retryAfter ?? null,
    message: error.message || `the provider answered HTTP ${reply.status}`,
    ...(error.code ? { code: error.code } : {}),
    ...(error.parameter === undefined ? {} : { parameter: error.parameter }),
    ...(error.taskUUID === undefined ? {} : { taskUUID: error.taskUUID }),
  });
}

function transportError(
  error: unknown,
  callerSignal: AbortSignal | undefined,
  target: ServiceTarget,
): ProviderError {
  if (callerSignal?.aborted) {
    return new ProviderError({
      code: "aborted",
      message: "the request was aborted by the caller",
      disposition: "terminal",
      category: "unknown",
      cause: error,
    });
  }
  const name = (error as { name?: string }).name;
  const timedOut = name === "TimeoutError" || name === "AbortError";
  return ProviderError.from({
    code: timedOut ? "requestTimeout" : "networkError",
    cause: error,
    message: timedOut
      ? "the request to the provider timed out"
      : unreachableMessage(target, connectionProblem(error) ?? (error as Error).message),
  });
}

export function providerTarget(baseUrl: string): ServiceTarget {
  return { service: "the provider", at: publicUrl(baseUrl) };
}

/**
 * Resolves when the provider's endpoint answers HTTP at all (any status: a GET is not what it serves,
 * and no key is sent); rejects with a ServiceUnreachableError when it does not, within `timeoutMs`.
 */
export async function checkProviderReachable(baseUrl: string, timeoutMs = 10_000): Promise<void> {
  const target = providerTarget(baseUrl);
  const signal = AbortSignal.timeout(timeoutMs);
  try {
    const response = await request(baseUrl, { method: "GET", signal });
    await response.body.dump();
  } catch (error) {
    const problem = signal.aborted ? `no answer within ${formatDelay(timeoutMs)}` : connectionProblem(error);
    throw new ServiceUnreachableError(target, problem ?? (error as Error).message, { cause: error });
  }
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
