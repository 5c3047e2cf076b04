import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { Webhook } from "standardwebhooks";

/** One request as the receiver saw it. */
export interface ReceivedWebhook {
  /** `webhook-id`: the event id, the same on every retry. */
  id: string;
  /** `webhook-timestamp`, seconds. */
  timestamp: number;
  /** The signature verified with one of the receiver's secrets (standardwebhooks' own verify). */
  verified: boolean;
  /** Why it did not verify. */
  verifyError?: string;
  /** The body parsed as JSON, when it is. */
  body: unknown;
  contentType: string | undefined;
  /** When it arrived (epoch ms). */
  arrivedAt: number;
  /** The status it was answered with (undefined: the connection was closed, or the sender left). */
  status?: number;
  /** Milliseconds from arrival to the answer. */
  answeredAfterMs?: number;
}

/** How to answer one request: a status after an optional delay, or close the connection. */
export type WebhookAnswer = { status: number; delayMs?: number } | { close: true };

export interface WebhookReceiver {
  url: string;
  received: ReceivedWebhook[];
  /** Replaces the secrets accepted (a rotation on the receiver's side). */
  setSecrets(secrets: readonly string[]): void;
  close(): Promise<void>;
}

/**
 * A Standard Webhooks receiver: verifies every request with the `standardwebhooks` package (the
 * reference implementation, independent of how reframe signs) against its secrets, records it, and
 * answers as `answer` says (200 by default; tests and the chaos run inject 500s, slowness, closed
 * connections, 410). The timestamp tolerance is the package's (5 minutes).
 */
export async function startWebhookReceiver(options: {
  secrets: readonly string[];
  answer?: (request: ReceivedWebhook) => WebhookAnswer;
  host?: string;
  port?: number;
  onReceived?: (request: ReceivedWebhook) => void;
}): Promise<WebhookReceiver> {
  let verifiers = options.secrets.map((secret) => new Webhook(secret));
  const received: ReceivedWebhook[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => handle(request, response, Buffer.concat(chunks).toString("utf8")));
  });
  function handle(request: IncomingMessage, response: ServerResponse, payload: string) {
    const headers = {
      "webhook-id": String(request.headers["webhook-id"] ?? ""),
      "webhook-timestamp": String(request.headers["webhook-timestamp"] ?? ""),
      "webhook-signature": String(request.headers["webhook-signature"] ?? ""),
    };
    let verifyError: string | undefined;
    const verified = verifiers.some((verifier) => {
      try {
        verifier.verify(payload, headers);
        return true;
      } catch (error) {
        verifyError = (error as Error).message;
        return false;
      }
    });
    let body: unknown;
    try {
      body = JSON.parse(payload);
    } catch {
      body = payload;
    }
    const entry: ReceivedWebhook = {
      id: headers["webhook-id"],
      timestamp: Number(headers["webhook-timestamp"]),
      verified,
      ...(verified ? {} : { verifyError: verifyError ?? "no secret" }),
      body,
      contentType: request.headers["content-type"],
      arrivedAt: Date.now(),
    };
    received.push(entry);
    options.onReceived?.(entry);
    const answer = options.answer?.(entry) ?? { status: 200 };
    if ("close" in answer) {
      request.socket.destroy();
      return;
    }
    const send = () => {
      entry.status = answer.status;
      entry.answeredAfterMs = Date.now() - entry.arrivedAt;
      response
        .writeHead(answer.status, { "content-type": "text/plain" })
        .end(verified ? "ok" : "bad signature");
    };
    if (!answer.delayMs) return send();
    const timer = setTimeout(() => {
      timers.delete(timer);
      if (!response.destroyed) send();
    }, answer.delayMs);
    timers.add(timer);
  }
  await new Promise<void>((resolve) =>
    server.listen(options.port ?? 0, options.host ?? "127.0.0.1", resolve),
  );
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${options.host ?? "127.0.0.1"}:${port}/hooks`,
    received,
    setSecrets(secrets) {
      verifiers = secrets.map((secret) => new Webhook(secret));
    },
    async close() {
      for (const timer of timers) clearTimeout(timer);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
