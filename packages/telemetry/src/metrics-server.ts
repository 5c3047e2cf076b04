import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "pino";
import type { Registry } from "prom-client";

/** What a process says of itself on `GET /healthz`: `ok` false answers 503, with the reason. */
export interface HealthReport {
  ok: boolean;
  /** Why it is not ready (for a person reading the probe's output). */
  reason?: string;
}

export interface MetricsServerOptions {
  registry: Registry;
  port: number;
  host: string;
  logger: Logger;
  /** Readiness for `GET /healthz`; a process without one is ready while it answers. */
  health?: () => HealthReport;
}

export interface RunningMetricsServer {
  /** e.g. http://127.0.0.1:9464/metrics */
  url: string;
  close(): Promise<void>;
}

/**
 * `GET /metrics` in Prometheus's text format on a listener of its own: never the port providers or
 * API clients call, so the public surface does not grow and a firewall can keep it internal. The same
 * listener answers the probes of a process that has no other port (the worker): `GET /livez` is 200
 * whenever the event loop runs (a kernel accepts TCP for a blocked process, so a TCP probe would not
 * see it wedged), `GET /healthz` 200 or 503 from the process's own health.
 */
export async function startMetricsServer(options: MetricsServerOptions): Promise<RunningMetricsServer> {
  const { registry, logger } = options;
  const server: Server = createServer((request, response) => {
    const path = (request.url ?? "").split("?")[0];
    if (request.method === "GET" && path === "/livez") {
      response.writeHead(200, { "content-type": "application/json" }).end('{"ok":true}\n');
      return;
    }
    if (request.method === "GET" && path === "/healthz") {
      const report = healthOf(options.health);
      response
        .writeHead(report.ok ? 200 : 503, { "content-type": "application/json" })
        .end(`${JSON.stringify(report)}\n`);
      return;
    }
    if (request.method !== "GET" || path !== "/metrics") {
      response.writeHead(404, { "content-type": "text/plain" }).end("not found: GET /metrics\n");
      return;
    }
    registry
      .metrics()
      .then((text) => response.writeHead(200, { "content-type": registry.contentType }).end(text))
      .catch((error: unknown) => {
        logger.warn({ err: error }, "could not collect the metrics");
        response.writeHead(500, { "content-type": "text/plain" }).end("could not collect the metrics\n");
      });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const host = options.host === "0.0.0.0" || options.host === "::" ? "127.0.0.1" : options.host;
  const url = `http://${host.includes(":") ? `[${host}]` : host}:${port}/metrics`;
  logger.info({ url }, "metrics listening");
  return {
    url,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function healthOf(health: (() => HealthReport) | undefined): HealthReport {
  if (!health) return { ok: true };
  try {
    return health();
  } catch (error) {
    return { ok: false, reason: `health check failed: ${(error as Error).message}` };
  }
}
