import "reflect-metadata";
import { createPrivateKey, type KeyObject, randomUUID, sign, webcrypto } from "node:crypto";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import * as x509 from "@peculiar/x509";

/**
 * A stand-in for Amazon SNS on this machine, for tests and the demo: its own certificate authority, a
 * signing certificate issued by it, and an HTTPS server (a certificate for `localhost` from the same
 * authority) that serves the signing certificate as SNS does (`SigningCertURL`) and answers
 * `ConfirmSubscription` (`SubscribeURL`). It builds envelopes signed the way SNS signs them
 * (SignatureVersion 1: SHA1withRSA, 2: SHA256withRSA, over the documented "key\nvalue\n" string) and
 * delivers them as SNS's HTTP/S subscriptions do. Whoever verifies must trust `caPem`
 * (NODE_EXTRA_CA_CERTS for a process) and allow `host` in its certificate host pattern.
 */

export type SnsMessageType = "SubscriptionConfirmation" | "Notification" | "UnsubscribeConfirmation";

export interface SnsEnvelope {
  Type: SnsMessageType;
  MessageId: string;
  TopicArn: string;
  Subject?: string;
  Message: string;
  Timestamp: string;
  SignatureVersion: "1" | "2";
  Signature: string;
  SigningCertURL: string;
  SubscribeURL?: string;
  Token?: string;
  UnsubscribeURL?: string;
}

export interface EnvelopeOptions {
  topicArn?: string;
  subject?: string;
  signatureVersion?: "1" | "2";
  /** When SNS published it (default now): an old one tests the replay window. */
  timestamp?: Date;
  messageId?: string;
  /** Overrides the certificate URL (another host, http) after signing nothing else differently. */
  signingCertUrl?: string;
}

export interface LocalSns {
  /** The host that serves certificates: `localhost`. */
  host: string;
  /** https://localhost:<port> */
  url: string;
  certUrl: string;
  /** The authority to trust, PEM. */
  caPem: string;
  /** The default topic of envelopes. */
  topicArn: string;
  /** ConfirmSubscription requests received, by token. */
  confirmations: string[];
  /** POST here with a message as the body: SNS's Publish, delivered to every subscription. */
  publishUrl: string;
  /**
   * Subscribes an HTTP/S endpoint (its credentials as SNS keeps them, in an Authorization header):
   * sends the SubscriptionConfirmation and returns the endpoint's answer; published messages go
   * to it from then on.
   */
  subscribe(
    endpoint: string,
    options?: { authorization?: string },
  ): Promise<{ status: number; body: string }>;
  /** Publishes a message to every subscription, as Notification envelopes; their answers. */
  publish(message: string, options?: { subject?: string }): Promise<{ status: number; body: string }[]>;
  envelope(type: SnsMessageType, message: string, options?: EnvelopeOptions): SnsEnvelope;
  /** POSTs an envelope as an SNS HTTP/S subscription does (text/plain JSON, x-amz-sns-* headers). */
  deliver(
    endpoint: string,
    envelope: SnsEnvelope,
    options?: { authorization?: string; raw?: boolean },
  ): Promise<{ status: number; body: string }>;
  close(): Promise<void>;
}

const ALGORITHM = {
  name: "RSASSA-PKCS1-v1_5",
  hash: "SHA-256",
  publicExponent: new Uint8Array([1, 0, 1]),
  modulusLength: 2048,
};
const DAY_MS = 86_400_000;

x509.cryptoProvider.set(webcrypto as never);

async function privateKeyOf(keys: webcrypto.CryptoKeyPair): Promise<KeyObject> {
  const der = await webcrypto.subtle.exportKey("pkcs8", keys.privateKey);
  return createPrivateKey({ key: Buffer.from(der), format: "der", type: "pkcs8" });
}

async function issue(
  ca: { keys: webcrypto.CryptoKeyPair; certificate: x509.X509Certificate },
  subject: string,
  serial: string,
  extensions: x509.Extension[] = [],
) {
  const keys = (await webcrypto.subtle.generateKey(ALGORITHM, true, [
    "sign",
    "verify",
  ])) as webcrypto.CryptoKeyPair;
  const certificate = await x509.X509CertificateGenerator.create({
    serialNumber: serial,
    subject,
    issuer: ca.certificate.subject,
    notBefore: new Date(Date.now() - DAY_MS),
    notAfter: new Date(Date.now() + 30 * DAY_MS),
    signingKey: ca.keys.privateKey,
    publicKey: keys.publicKey,
    signingAlgorithm: ALGORITHM,
    extensions,
  });
  return { keys, certificate };
}

/**
 * The "key\nvalue\n" string SNS signs, per message type (AWS: verifying message signatures). Written
 * here apart from the intake's verifier on purpose: a test signer that shared the verifier's code
 * would agree with any mistake in it.
 */
function stringToSign(envelope: Omit<SnsEnvelope, "Signature">): string {
  const fields =
    envelope.Type === "Notification"
      ? (["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"] as const)
      : (["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"] as const);
  return fields
    .filter((field) => envelope[field] !== undefined)
    .map((field) => `${field}\n${envelope[field]}\n`)
    .join("");
}

export async function startLocalSns(options: { topicArn?: string; port?: number } = {}): Promise<LocalSns> {
  const caKeys = (await webcrypto.subtle.generateKey(ALGORITHM, true, [
    "sign",
    "verify",
  ])) as webcrypto.CryptoKeyPair;
  const caCertificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: "01",
    name: "CN=reframe local SNS authority",
    notBefore: new Date(Date.now() - DAY_MS),
    notAfter: new Date(Date.now() + 30 * DAY_MS),
    keys: caKeys,
    signingAlgorithm: ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    ],
  });
  const ca = { keys: caKeys, certificate: caCertificate };
  const signing = await issue(ca, "CN=sns.localhost", "02");
  const tls = await issue(ca, "CN=localhost", "03", [
    new x509.SubjectAlternativeNameExtension([
      { type: "dns", value: "localhost" },
      { type: "ip", value: "127.0.0.1" },
    ]),
  ]);
  const signingKey = await privateKeyOf(signing.keys);
  const certPath = `/SimpleNotificationService-${randomUUID().replaceAll("-", "")}.pem`;
  const topicArn = options.topicArn ?? "arn:aws:sns:us-east-1:123456789012:reframe-uploads";
  const confirmations: string[] = [];
  const subscriptions: { endpoint: string; authorization?: string }[] = [];
  const server: Server = createServer(
    {
      key: (await privateKeyOf(tls.keys)).export({ type: "pkcs8", format: "pem" }),
      cert: tls.certificate.toString("pem"),
    },
    (request, response) => {
      const url = new URL(request.url ?? "/", "https://localhost");
      if (url.pathname === "/publish" && request.method === "POST") {
        const chunks: Buffer[] = [];
        request.on("data", (chunk: Buffer) => chunks.push(chunk));
        request.on("end", () => {
          const subject = url.searchParams.get("Subject") ?? undefined;
          publish(Buffer.concat(chunks).toString("utf8"), subject === undefined ? {} : { subject }).then(
            (answers) => {
              response.writeHead(200, { "content-type": "application/json" });
              response.end(
                JSON.stringify({
                  deliveries: answers.map(({ status, body }) => ({ status, body: tryJson(body) })),
                }),
              );
            },
            (error: Error) => response.writeHead(502).end(error.message),
          );
        });
      } else if (url.pathname === certPath) {
        response.writeHead(200, { "content-type": "application/x-x509-ca-cert" });
        response.end(signing.certificate.toString("pem"));
      } else if (url.searchParams.get("Action") === "ConfirmSubscription") {
        const token = url.searchParams.get("Token") ?? "";
        confirmations.push(token);
        const arn = `${url.searchParams.get("TopicArn")}:${token.slice(0, 8)}`;
        response.writeHead(200, { "content-type": "text/xml" });
        response.end(
          `<ConfirmSubscriptionResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><ConfirmSubscriptionResult><SubscriptionArn>${arn}</SubscriptionArn></ConfirmSubscriptionResult><ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata></ConfirmSubscriptionResponse>`,
        );
      } else {
        response.writeHead(404).end();
      }
    },
  );
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const base = `https://localhost:${port}`;

  function envelope(type: SnsMessageType, message: string, opts: EnvelopeOptions = {}): SnsEnvelope {
    const version = opts.signatureVersion ?? "2";
    const topic = opts.topicArn ?? topicArn;
    const token = randomUUID().replaceAll("-", "").repeat(4);
    const unsigned: Omit<SnsEnvelope, "Signature"> = {
      Type: type,
      MessageId: opts.messageId ?? randomUUID(),
      TopicArn: topic,
      ...(type === "Notification" && opts.subject !== undefined ? { Subject: opts.subject } : {}),
      Message: message,
      Timestamp: (opts.timestamp ?? new Date()).toISOString(),
      SignatureVersion: version,
      SigningCertURL: `${base}${certPath}`,
      ...(type === "Notification"
        ? { UnsubscribeURL: `${base}/?Action=Unsubscribe&SubscriptionArn=${topic}:sub` }
        : {
            Token: token,
            SubscribeURL: `${base}/?Action=ConfirmSubscription&TopicArn=${encodeURIComponent(topic)}&Token=${token}`,
          }),
    };
    const signature = sign(
      version === "1" ? "sha1" : "sha256",
      Buffer.from(stringToSign(unsigned)),
      signingKey,
    );
    return {
      ...unsigned,
      Signature: signature.toString("base64"),
      ...(opts.signingCertUrl ? { SigningCertURL: opts.signingCertUrl } : {}),
    };
  }

  async function deliver(
    endpoint: string,
    sent: SnsEnvelope,
    { authorization, raw }: { authorization?: string; raw?: boolean } = {},
  ) {
    const response = await fetch(endpoint, {
      method: "POST",
      headers: {
        "content-type": "text/plain; charset=UTF-8",
        "x-amz-sns-message-type": sent.Type,
        "x-amz-sns-message-id": sent.MessageId,
        "x-amz-sns-topic-arn": sent.TopicArn,
        "user-agent": "Amazon Simple Notification Service Agent",
        ...(raw ? { "x-amz-sns-rawdelivery": "true" } : {}),
        ...(authorization ? { authorization } : {}),
      },
      body: raw ? sent.Message : JSON.stringify(sent, null, 2),
    });
    return { status: response.status, body: await response.text() };
  }

  async function publish(message: string, opts: { subject?: string } = {}) {
    return Promise.all(
      subscriptions.map((subscription) =>
        deliver(subscription.endpoint, envelope("Notification", message, opts), subscription),
      ),
    );
  }

  return {
    host: "localhost",
    publishUrl: `${base}/publish`,
    async subscribe(endpoint, { authorization } = {}) {
      const answer = await deliver(
        endpoint,
        envelope("SubscriptionConfirmation", `You have chosen to subscribe to the topic ${topicArn}.`),
        authorization ? { authorization } : {},
      );
      if (answer.status === 200)
        subscriptions.push({ endpoint, ...(authorization ? { authorization } : {}) });
      return answer;
    },
    publish,
    url: base,
    certUrl: `${base}${certPath}`,
    caPem: caCertificate.toString("pem"),
    topicArn,
    confirmations,
    envelope,
    deliver,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function tryJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** `Authorization: Basic` for a user and password, as SNS sends a subscription URL's credentials. */
export function basicAuthorization(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;
}
