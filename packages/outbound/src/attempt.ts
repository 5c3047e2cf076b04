import { EgressRefusedError, type GuardedFetch } from "@reframe/egress";
import { redactText } from "@reframe/telemetry";
import { signedHeaders } from "./signature.ts";

/**
 * What one POST to an endpoint came to. Every answer is classified here, once:
 * - delivered: a 2xx within the timeout;
 * - gone: 410 Gone, the receiver's way of saying "never again": the endpoint is disabled;
 * - refused: the egress guard refused the URL (a private, loopback or metadata address that is not
 *   allow-listed, another scheme): no retry can change that, so the delivery fails at once;
 * - retryable: any other status (3xx included: a signed delivery is not redirected elsewhere),
 *   the timeout, a refused or reset connection.
 */
export type AttemptResult =
  | { kind: "delivered"; status: number; ms: number }
  | { kind: "gone"; status: 410; ms: number; error: string }
  | { kind: "refused"; ms: number; error: string }
  | { kind: "retryable"; status?: number; ms: number; error: string };

/** The part of an answer's body kept as its error: enough to tell why, never the whole page. */
const ERROR_BODY_CHARS = 200;

export async function attemptDelivery(input: {
  fetch: GuardedFetch["fetch"];
  url: string;
  id: string;
  body: string;
  secrets: readonly string[];
  at: Date;
  timeoutMs: number;
  now: () => number;
}): Promise<AttemptResult> {
  const started = input.now();
  const headers = signedHeaders({ id: input.id, body: input.body, secrets: input.secrets, at: input.at });
  const signal = AbortSignal.timeout(input.timeoutMs);
  try {
    const response = await input.fetch(input.url, { method: "POST", headers, body: input.body, signal });
    const ms = input.now() - started;
    if (response.status >= 200 && response.status < 300) {
      await response.body?.cancel();
      return { kind: "delivered", status: response.status, ms };
    }
    const text = await readSome(response, signal);
    const error = `HTTP ${response.status}${text ? `: ${text}` : ""}`;
    return response.status === 410
      ? { kind: "gone", status: 410, ms, error }
      : { kind: "retryable", status: response.status, ms, error };
  } catch (error) {
    const ms = input.now() - started;
    if (error instanceof EgressRefusedError)
      return { kind: "refused", ms, error: `egress refused: ${clean(error.message)}` };
    if (signal.aborted) return { kind: "retryable", ms, error: `no answer within ${input.timeoutMs} ms` };
    return { kind: "retryable", ms, error: networkError(error) };
  }
}

async function readSome(
  response: Awaited<ReturnType<GuardedFetch["fetch"]>>,
  signal: AbortSignal,
): Promise<string> {
  try {
    const text = signal.aborted ? "" : await response.text();
    return clean(text.replace(/\s+/g, " ").trim().slice(0, ERROR_BODY_CHARS));
  } catch {
    return "";
  }
}

/** undici says "fetch failed" and puts the reason (ECONNREFUSED, socket closed) in `cause`. */
function networkError(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } } | undefined)?.cause;
  const message = cause?.message ?? (error instanceof Error ? error.message : String(error));
  return clean(cause?.code && !message.includes(cause.code) ? `${cause.code}: ${message}` : message);
}

/** Secrets never reach a delivery record: URL credentials and token-like values are scrubbed. */
function clean(text: string): string {
  return redactText(text.replace(/\/\/[^/\s:@]+:[^/\s@]+@/g, "//[REDACTED]@"));
}
