import { createHmac, timingSafeEqual } from "node:crypto";
import {
  envelopeSchema,
  type ImageInferenceResult,
  imageInferenceResultSchema,
  type ProviderErrorObject,
} from "./schemas.ts";

/**
 * Runware signs nothing: a webhook's only credential is what the URL carries (docs/provider-protocol.md §5).
 * Each task gets its own URL with an HMAC of its taskUUID under a server secret, so a leaked URL
 * authorises deliveries for that one task only, and receivers need no state to check it.
 */

function tokenFor(taskUUID: string, secret: string): string {
  return createHmac("sha256", secret).update(taskUUID).digest("base64url");
}

export function taskWebhookURL({
  baseUrl,
  taskUUID,
  secret,
}: {
  baseUrl: string;
  taskUUID: string;
  secret: string;
}): string {
  return `${baseUrl.replace(/\/+$/, "")}/runware/${encodeURIComponent(taskUUID)}?token=${tokenFor(taskUUID, secret)}`;
}

export type WebhookTokenCheck = { ok: true } | { ok: false; reason: "missing-token" | "bad-token" };

/** Constant-time comparison of the token against the one this secret makes for the taskUUID. */
export function verifyTaskWebhookToken({
  taskUUID,
  token,
  secret,
}: {
  taskUUID: string;
  token: string | undefined | null;
  secret: string;
}): WebhookTokenCheck {
  if (!token) return { ok: false, reason: "missing-token" };
  const expected = Buffer.from(tokenFor(taskUUID, secret));
  const given = Buffer.from(token);
  if (given.length !== expected.length) return { ok: false, reason: "bad-token" };
  return timingSafeEqual(given, expected) ? { ok: true } : { ok: false, reason: "bad-token" };
}

export type ParsedWebhook =
  | { ok: true; results: ImageInferenceResult[]; errors: ProviderErrorObject[] }
  | { ok: false; reason: string };

/** A webhook body is the envelope: `{data: [result]}` or `{errors: [error]}`. */
export function parseWebhookBody(body: unknown): ParsedWebhook {
  const envelope = envelopeSchema.safeParse(body);
  if (!envelope.success) return { ok: false, reason: "the body is not an envelope {data, errors}" };
  const results: ImageInferenceResult[] = [];
  for (const [index, item] of envelope.data.data.entries()) {
    const parsed = imageInferenceResultSchema.safeParse(item);
    if (!parsed.success)
      return { ok: false, reason: `data[${index}] is not a result with taskType and taskUUID` };
    results.push(parsed.data);
  }
  if (results.length === 0 && envelope.data.errors.length === 0)
    return { ok: false, reason: "the body holds no result and no error" };
  return { ok: true, results, errors: envelope.data.errors };
}
