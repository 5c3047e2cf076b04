import { Webhook } from "standardwebhooks";

/** CloudEvents structured mode: the whole event is the body. */
export const CLOUDEVENTS_CONTENT_TYPE = "application/cloudevents+json; charset=utf-8";

/**
 * The Standard Webhooks headers of one request: `webhook-id` (the event id, the same on every retry,
 * so the receiver can drop duplicates), `webhook-timestamp` (seconds, this attempt's), and
 * `webhook-signature`: `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, once per signing secret,
 * separated by spaces (during a rotation both the new and the old secret sign, as the standard
 * allows; a receiver accepts any one it knows). Signed by the `standardwebhooks` package.
 */
export function signedHeaders(input: {
  id: string;
  body: string;
  secrets: readonly string[];
  at: Date;
}): Record<string, string> {
  if (input.secrets.length === 0) throw new Error(`no secret signs for ${input.id}`);
  return {
    "content-type": CLOUDEVENTS_CONTENT_TYPE,
    "webhook-id": input.id,
    "webhook-timestamp": String(Math.floor(input.at.getTime() / 1000)),
    "webhook-signature": input.secrets
      .map((secret) => new Webhook(secret).sign(input.id, input.at, input.body))
      .join(" "),
  };
}
