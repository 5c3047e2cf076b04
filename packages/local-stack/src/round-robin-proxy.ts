import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * What sits in front of several webhook receivers in a real deployment: one public URL (the
 * provider gets one webhookURL per task) and a load balancer spreading deliveries over the replicas.
 * Round robin; a replica that refuses the connection is skipped for that request, as a load
 * balancer's passive health check does, so a receiver restarting costs no delivery. When every
 * replica refuses, 502: the provider delivers again later.
 *
 * Bodies are buffered (a webhook is a few KB) so that a refused request can go to the next replica.
 */

export interface RoundRobinProxy {
  url: string;
  /** Requests each upstream answered, in the order given. */
  served(): number[];
  close(): Promise<void>;
}

const UPSTREAM_TIMEOUT_MS = 30_000;

export async function startRoundRobinProxy(
  upstreams: readonly string[],
  { host = "127.0.0.1", port = 0 }: { host?: string; port?: number } = {},
): Promise<RoundRobinProxy> {
  if (upstreams.length === 0) throw new Error("a round-robin proxy needs at least one upstream");
  const targets = upstreams.map((upstream) => new URL(upstream));
  const served = targets.map(() => 0);
  let next = 0;
  const server: Server = createServer((incoming, outgoing) => {
    void readBody(incoming)
      .then(async (body) => {
        const first = next;
        next = (next + 1) % targets.length;
        for (let offset = 0; offset < targets.length; offset += 1) {
          const index = (first + offset) % targets.length;
          const answered = await forward(targets[index]!, incoming, body, outgoing);
          if (answered) {
            served[index]! += 1;
            return;
          }
        }
        reply(outgoing, 502, "no upstream accepted the connection");
      })
      .catch((error: unknown) => reply(outgoing, 502, (error as Error).message));
  });
  await new Promise<void>((resolve) => server.listen(port, host, resolve));
  const { port: bound } = server.address() as AddressInfo;
  return {
    url: `http://${host}:${bound}`,
    served: () => [...served],
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function readBody(incoming: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of incoming) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** True when the upstream answered (any status); false when it refused the connection. */
function forward(
  target: URL,
  incoming: IncomingMessage,
  body: Buffer,
  outgoing: ServerResponse,
): Promise<boolean> {
  return new Promise((resolve) => {
    const upstream = request(
      {
        host: target.hostname,
        port: target.port,
        method: incoming.method,
        path: incoming.url,
        headers: { ...incoming.headers, host: target.host, "content-length": String(body.length) },
        timeout: UPSTREAM_TIMEOUT_MS,
      },
      (response) => {
        outgoing.writeHead(response.statusCode ?? 502, response.headers);
        response.pipe(outgoing);
        response.on("end", () => resolve(true));
        response.on("error", () => resolve(true));
      },
    );
    upstream.on("timeout", () => upstream.destroy(new Error("upstream timed out")));
    upstream.on("error", (error: NodeJS.ErrnoException) => {
      if (outgoing.headersSent) {
        outgoing.destroy();
        resolve(true);
        return;
      }
      // Refused, or reset before any answer: the next replica may take it (a delivery is
      // idempotent: the first outcome stored wins).
      if (error.code === "ECONNREFUSED" || error.code === "ECONNRESET") resolve(false);
      else {
        reply(outgoing, 502, error.message);
        resolve(true);
      }
    });
    upstream.end(body);
  });
}

function reply(outgoing: ServerResponse, status: number, message: string): void {
  if (outgoing.headersSent) return;
  const text = JSON.stringify({ ok: false, error: "bad-gateway", message });
  outgoing.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
  });
  outgoing.end(text);
}
