/**
 * Secrets that can reach a log line: API keys (Authorization headers, `apiKey` fields), webhook tokens
 * and secrets (`whsec_…`), credentials in URLs (`https://user:token@host`)
 * (the `token` query parameter of per-task webhook URLs, `*Secret` fields) and presigned-URL signatures
 * (`X-Amz-Signature`, `X-Amz-Credential`). Keys are redacted by name; URLs are scrubbed wherever they
 * appear inside a string, because a URL is often logged inside an error message.
 */

export const REDACTED = "[REDACTED]";

const SECRET_KEY_PATTERN =
  /^(authorization|apikey|api_key|x-api-key|token|secret|password|webhooksecret|.*secret|.*token)$/i;

const SECRET_IN_TEXT: readonly [RegExp, string][] = [
  [/(X-Amz-(?:Signature|Credential|Security-Token)=)[^&\s"'<>]+/gi, `$1${REDACTED}`],
  [/([?&](?:token|apiKey|api_key|key|secret|signature)=)[^&\s"'<>]+/gi, `$1${REDACTED}`],
  [/(Bearer\s+)[A-Za-z0-9._~+/=-]+/g, `$1${REDACTED}`],
  [/(Basic\s+)[A-Za-z0-9+/=]+/g, `$1${REDACTED}`],
  // Standard Webhooks secrets of outbound endpoints, and a URL's user:password (an SNS subscription
  // URL carries the intake token that way; an endpoint's URL may carry Basic credentials).
  [/\bwhsec_[A-Za-z0-9+/=]+/g, `whsec_${REDACTED}`],
  [/(\/\/)[^\s/@:]+:[^\s/@]+@/g, `$1${REDACTED}@`],
  [/("apiKey"\s*:\s*")[^"]*(")/g, `$1${REDACTED}$2`],
];

export function redactText(text: string): string {
  let out = text;
  for (const [pattern, replacement] of SECRET_IN_TEXT) out = out.replace(pattern, replacement);
  return out;
}

/** Redacts the signature and credential of a presigned URL, and token-like query parameters. */
export function redactUrl(url: string): string {
  return redactText(url);
}

function isSecretKey(key: string): boolean {
  return SECRET_KEY_PATTERN.test(key);
}

const MAX_DEPTH = 8;

/** Returns a copy of `value` with secret keys and secrets inside strings redacted. */
export function redactValue(value: unknown, depth = 0): unknown {
  if (typeof value === "string") return redactText(value);
  if (value === null || typeof value !== "object" || depth >= MAX_DEPTH) return value;
  if (Array.isArray(value)) return value.map((item) => redactValue(item, depth + 1));
  if (value instanceof Error) return redactError(value, depth);
  if (value instanceof URL) return redactText(value.href);
  if (Buffer.isBuffer(value) || ArrayBuffer.isView(value)) return `[${value.byteLength} bytes]`;
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    out[key] =
      isSecretKey(key) && item !== undefined && item !== null ? REDACTED : redactValue(item, depth + 1);
  }
  return out;
}

function redactError(error: Error, depth: number): Record<string, unknown> {
  const out: Record<string, unknown> = {
    type: error.name,
    message: redactText(error.message),
    stack: error.stack === undefined ? undefined : redactText(error.stack),
  };
  for (const [key, item] of Object.entries(error)) {
    out[key] = isSecretKey(key) ? REDACTED : redactValue(item, depth + 1);
  }
  if (error.cause !== undefined) out.cause = redactValue(error.cause, depth + 1);
  return out;
}
