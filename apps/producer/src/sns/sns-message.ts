import { z } from "zod";

/**
 * Amazon SNS's HTTP/S message envelope (AWS: "HTTP/HTTPS notification JSON format" and the
 * subscription and unsubscribe confirmation formats). Unknown fields are kept: SNS may add some.
 */
const SNS_MESSAGE_TYPES = ["SubscriptionConfirmation", "Notification", "UnsubscribeConfirmation"] as const;

export const snsEnvelopeSchema = z.looseObject({
  Type: z.enum(SNS_MESSAGE_TYPES),
  MessageId: z.string().min(1),
  TopicArn: z.string().min(1),
  Subject: z.string().nullish(),
  Message: z.string(),
  Timestamp: z.iso.datetime({ offset: true }),
  SignatureVersion: z.enum(["1", "2"], "must be 1 (SHA1withRSA) or 2 (SHA256withRSA)"),
  Signature: z.string().min(1),
  SigningCertURL: z.string().min(1),
  SubscribeURL: z.string().optional(),
  Token: z.string().optional(),
  UnsubscribeURL: z.string().optional(),
});
export type SnsEnvelope = z.output<typeof snsEnvelopeSchema>;

/** True when a body looks like an SNS envelope (SNS may be forwarded without its headers). */
export function looksLikeSnsEnvelope(body: unknown): boolean {
  return (
    typeof body === "object" &&
    body !== null &&
    "Type" in body &&
    "TopicArn" in body &&
    "Signature" in body &&
    "SigningCertURL" in body
  );
}

/**
 * The string SNS signs: "name\nvalue\n" for each field that is present, in this order (AWS,
 * "Verifying the signatures of Amazon SNS messages"). Subject is signed only on notifications, and
 * only when it is there.
 */
export function stringToSign(envelope: SnsEnvelope): string {
  const fields =
    envelope.Type === "Notification"
      ? (["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"] as const)
      : (["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"] as const);
  let text = "";
  for (const field of fields) {
    const value = envelope[field];
    if (value !== undefined && value !== null) text += `${field}\n${value}\n`;
  }
  return text;
}
