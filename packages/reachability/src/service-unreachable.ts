/**
 * A service that does not answer is one line for a person: which service, where it was looked for,
 * and why in a few words, e.g. `cannot reach Redis at redis://127.0.0.1:6379 (connection refused)`.
 * Never a stack trace: the network error behind it says nothing more that an operator can act on.
 *
 * Each client knows where it connects (a URL, Sentinels, Cluster nodes) and describes it as a
 * `ServiceTarget`; the wording lives here once.
 */

/** Where a service was looked for; `at` holds no credentials (see `publicUrl`). */
export interface ServiceTarget {
  /** As said in a sentence: "Redis", "S3", "the provider", "the webhook receiver". */
  service: string;
  /** e.g. "redis://127.0.0.1:6379", "Sentinels 10.0.0.1:26379, 10.0.0.2:26379 (master mymaster)". */
  at: string;
}

export function unreachableMessage(target: ServiceTarget, problem: string): string {
  return `cannot reach ${target.service} at ${target.at} (${problem})`;
}

/** A service did not answer: the caller retries later, or stops with `message` as its one line. */
export class ServiceUnreachableError extends Error {
  readonly code = "service-unreachable";
  readonly target: ServiceTarget;
  /** "connection refused", "host not found", "timed out", … */
  readonly problem: string;

  constructor(target: ServiceTarget, problem: string, options?: { cause?: unknown }) {
    super(unreachableMessage(target, problem), options);
    this.name = "ServiceUnreachableError";
    this.target = target;
    this.problem = problem;
  }
}

/**
 * Node's socket and DNS error codes, undici's, and the TLS ones a misconfigured endpoint gives,
 * in words. Anything else is not a reachability problem (a refused request is an answer).
 */
const PROBLEMS: Readonly<Record<string, string>> = {
  ECONNREFUSED: "connection refused",
  ECONNRESET: "connection reset",
  EPIPE: "connection closed",
  ETIMEDOUT: "timed out",
  ESOCKETTIMEDOUT: "timed out",
  ENOTFOUND: "host not found",
  EAI_AGAIN: "host name lookup failed",
  EAI_NONAME: "host not found",
  EHOSTUNREACH: "host unreachable",
  EHOSTDOWN: "host down",
  ENETUNREACH: "network unreachable",
  ENETDOWN: "network down",
  EADDRNOTAVAIL: "address not available",
  UND_ERR_CONNECT_TIMEOUT: "timed out",
  UND_ERR_HEADERS_TIMEOUT: "timed out",
  UND_ERR_SOCKET: "connection closed",
  UND_ERR_CLOSED: "connection closed",
  CERT_HAS_EXPIRED: "TLS certificate expired",
  DEPTH_ZERO_SELF_SIGNED_CERT: "TLS certificate not trusted",
  SELF_SIGNED_CERT_IN_CHAIN: "TLS certificate not trusted",
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: "TLS certificate not trusted",
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: "TLS certificate not trusted",
  ERR_TLS_CERT_ALTNAME_INVALID: "TLS certificate for another host",
  EPROTO: "TLS handshake failed",
};

/** Redis answers a connection it will not serve with these error replies (the reply's first word). */
const REDIS_REFUSALS: Readonly<Record<string, string>> = {
  NOAUTH: "authentication required",
  WRONGPASS: "wrong user name or password",
  LOADING: "still loading its data",
  MASTERDOWN: "no master",
};

/**
 * The reachability problem behind an error, in a few words, or undefined when the error is something
 * else. Looks through `cause` chains and AggregateError (a host name with several addresses fails on
 * each), as Node's, undici's, ioredis's and the AWS SDK's errors nest them.
 */
export function connectionProblem(error: unknown, depth = 0): string | undefined {
  if (typeof error !== "object" || error === null || depth > 5) return undefined;
  if (error instanceof ServiceUnreachableError) return error.problem;
  const { code, name, message, cause } = error as {
    code?: unknown;
    name?: unknown;
    message?: unknown;
    cause?: unknown;
  };
  if (typeof code === "string" && PROBLEMS[code]) return PROBLEMS[code];
  // AbortSignal.timeout(), the AWS SDK's connection timeout, undici's.
  if (name === "TimeoutError" || name === "ConnectTimeoutError") return "timed out";
  if (name === "ReplyError" && typeof message === "string") {
    const refusal = REDIS_REFUSALS[message.split(" ", 1)[0]!];
    if (refusal) return refusal;
  }
  if (error instanceof AggregateError) {
    for (const inner of error.errors) {
      const problem = connectionProblem(inner, depth + 1);
      if (problem) return problem;
    }
  }
  return connectionProblem(cause, depth + 1);
}

/** `error` as a ServiceUnreachableError of `target` when it is a reachability problem; else itself. */
export function asUnreachable(target: ServiceTarget, error: unknown): unknown {
  if (error instanceof ServiceUnreachableError) return error;
  const problem = connectionProblem(error);
  return problem ? new ServiceUnreachableError(target, problem, { cause: error }) : error;
}

/**
 * A URL as it may be shown: no user name or password (a `redis://:secret@host` URL carries the
 * password), no query or fragment (a presigned URL carries its signature there).
 */
export function publicUrl(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.username = "";
    parsed.password = "";
    parsed.search = "";
    parsed.hash = "";
    const text = parsed.toString();
    // new URL adds a "/" to a bare origin; "redis://host:6379" reads better as given.
    return parsed.pathname === "/" && !url.endsWith("/") ? text.slice(0, -1) : text;
  } catch {
    return "(an invalid URL)";
  }
}

/** Milliseconds as a person reads a wait: "250 ms", "2 s", "1.5 s". */
export function formatDelay(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const seconds = ms / 1000;
  return `${Number.isInteger(seconds) ? seconds : seconds.toFixed(1)} s`;
}
