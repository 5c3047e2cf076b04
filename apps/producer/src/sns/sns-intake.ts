import { createHash } from "node:crypto";
import type { GuardedFetch } from "@reframe/egress";
import type { RedisClient } from "@reframe/redis";
import type { Logger } from "@reframe/telemetry";
import type { FastifyRequest } from "fastify";
import { looksLikeSnsEnvelope } from "./sns-message.ts";
import type { SnsVerifier } from "./sns-verifier.ts";

/** What the S3 event path gets next, or the answer that ends the request here. */
type Unwrapped = { body: unknown } | { reply: { status: number; body: unknown } };

export interface SnsIntake {
  unwrap(request: FastifyRequest): Promise<Unwrapped>;
}

export interface SnsIntakeOptions {
  verifier: SnsVerifier;
  /** SNS_TOPIC_ARNS: without any, SNS envelopes are refused (raw deliveries are token-only). */
  topicArns: readonly string[];
  /** Fetches SubscribeURL (through the egress guard, SNS_ALLOW_HOSTS). */
  fetch: GuardedFetch["fetch"];
  redis: RedisClient;
  prefix: string;
  logger: Logger;
}

/** How long a confirmed subscription's token is remembered: SNS tokens are valid for 3 days. */
const CONFIRMATION_MEMORY_SECONDS = 3 * 24 * 60 * 60;

const refuse = (status: number, rule: string): Unwrapped => ({
  reply: { status, body: { error: "sns-refused", issues: [{ path: "(sns)", rule }] } },
});

/**
 * The SNS layer in front of the S3 event intake. SNS HTTP/S subscriptions POST an envelope
 * (`x-amz-sns-message-type`, a text/plain JSON body) whose `Message` is the S3 event:
 * - every envelope is verified first (sns-verifier.ts), and a refused one changes nothing;
 * - SubscriptionConfirmation: SubscribeURL is fetched once per token (a repeat is answered without
 *   fetching again), the result logged;
 * - UnsubscribeConfirmation: logged, nothing else;
 * - Notification: its Message goes on to the S3 event path.
 * Raw message delivery (`x-amz-sns-rawdelivery: true`) has no envelope and no signature: the body is
 * the S3 event itself, authenticated by the intake token alone, as before. Bodies that are not SNS at
 * all (S3 via Lambda, MinIO, EventBridge) pass through untouched.
 */
export function createSnsIntake(options: SnsIntakeOptions): SnsIntake {
  const topics = new Set(options.topicArns);
  const { logger } = options;
  return {
    async unwrap(request) {
      const type = header(request, "x-amz-sns-message-type");
      let body: unknown = request.body;
      if (typeof body === "string") {
        try {
          body = JSON.parse(body);
        } catch {
          return refuse(400, "the body is not JSON");
        }
      }
      if (header(request, "x-amz-sns-rawdelivery") === "true") {
        const topic = header(request, "x-amz-sns-topic-arn");
        if (topic && topics.size > 0 && !topics.has(topic))
          return refuse(403, `topic ${topic} is not in SNS_TOPIC_ARNS`);
        return { body };
      }
      if (!type && !looksLikeSnsEnvelope(body)) return { body };
      if (topics.size === 0)
        return refuse(403, "SNS messages are refused until SNS_TOPIC_ARNS lists the topics allowed");
      const verdict = await options.verifier.verify(body);
      if (!verdict.ok) {
        logger.warn({ rule: verdict.rule, messageType: type }, "SNS message refused");
        return refuse(verdict.status, verdict.rule);
      }
      const { envelope } = verdict;
      if (type && type !== envelope.Type)
        return refuse(400, `x-amz-sns-message-type ${type} differs from the message's Type ${envelope.Type}`);
      const context = { topicArn: envelope.TopicArn, messageId: envelope.MessageId };
      switch (envelope.Type) {
        case "Notification":
          try {
            return { body: JSON.parse(envelope.Message) };
          } catch {
            return refuse(400, "the notification's Message is not JSON (an S3 event is)");
          }
        case "UnsubscribeConfirmation":
          logger.warn(context, "SNS subscription ended (unsubscribed): no more messages from this topic");
          return { reply: { status: 200, body: { unsubscribed: true, topicArn: envelope.TopicArn } } };
        case "SubscriptionConfirmation":
          return confirm(envelope.TopicArn, envelope.Token, envelope.SubscribeURL, context);
      }
    },
  };

  async function confirm(
    topicArn: string,
    token: string | undefined,
    subscribeUrl: string | undefined,
    context: Record<string, string>,
  ): Promise<Unwrapped> {
    const problem = options.verifier.checkAwsUrl(subscribeUrl, "SubscribeURL");
    if (problem || !token) return refuse(403, problem ?? "Token is missing");
    const key = `${options.prefix}:sns:confirmed:${createHash("sha256").update(`${topicArn}\n${token}`).digest("hex")}`;
    const first = await options.redis.set(key, "1", "EX", CONFIRMATION_MEMORY_SECONDS, "NX");
    if (first === null) {
      logger.info(context, "SNS subscription confirmation repeated: already confirmed, nothing fetched");
      return { reply: { status: 200, body: { confirmed: true, repeated: true, topicArn } } };
    }
    try {
      const response = await options.fetch(subscribeUrl!, { signal: AbortSignal.timeout(10_000) });
      const text = (await response.text()).slice(0, 10_000);
      if (response.status !== 200) throw new Error(`SubscribeURL answered HTTP ${response.status}`);
      const subscriptionArn = /<SubscriptionArn>([^<]+)<\/SubscriptionArn>/.exec(text)?.[1];
      logger.info({ ...context, subscriptionArn }, "SNS subscription confirmed");
      return { reply: { status: 200, body: { confirmed: true, topicArn, subscriptionArn } } };
    } catch (error) {
      // Not remembered: SNS (or a person) can send the confirmation again.
      await options.redis.del(key);
      logger.warn({ ...context, err: error }, "SNS subscription confirmation failed");
      return refuse(502, `the subscription could not be confirmed: ${(error as Error).message}`);
    }
  }
}

function header(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}
