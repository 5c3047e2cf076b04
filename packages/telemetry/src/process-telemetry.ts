import type { Logger } from "pino";
import { createMetrics, type Metrics, type QueueSample } from "./metrics.ts";
import { type HealthReport, type RunningMetricsServer, startMetricsServer } from "./metrics-server.ts";
import type { TelemetryProcess } from "./names.ts";
import { type EnvSource, startTracing, type Tracing } from "./tracing.ts";

export interface ProcessTelemetryOptions {
  process: TelemetryProcess;
  logger: Logger;
  /** METRICS_PORT: 0 serves no /metrics (the metrics are still counted, for nobody). */
  metricsPort: number;
  metricsHost: string;
  sampleQueues?: () => Promise<QueueSample>;
  /** Readiness on the metrics listener's `GET /healthz` (the worker's only port). */
  health?: () => HealthReport;
  /** The OTEL_* variables; process.env by default. */
  env?: EnvSource;
}

export interface ProcessTelemetry {
  metrics: Metrics;
  tracing: Tracing;
  /** Where /metrics answers, when served. */
  metricsUrl: string | undefined;
  /** Stops the listener and flushes the traces; last thing a process does. */
  close(): Promise<void>;
}

/** A process's metrics (and their listener) and its tracing, started together in main(). */
export async function startProcessTelemetry(options: ProcessTelemetryOptions): Promise<ProcessTelemetry> {
  const tracing = startTracing({
    serviceName: options.process,
    ...(options.env ? { env: options.env } : {}),
  });
  if (tracing.bullmq) options.logger.info("tracing on: spans go to the OTLP exporter (OTEL_* variables)");
  const metrics = createMetrics({
    process: options.process,
    ...(options.sampleQueues ? { sampleQueues: options.sampleQueues } : {}),
  });
  let server: RunningMetricsServer | undefined;
  try {
    server =
      options.metricsPort > 0
        ? await startMetricsServer({
            registry: metrics.registry,
            port: options.metricsPort,
            host: options.metricsHost,
            logger: options.logger,
            ...(options.health ? { health: options.health } : {}),
          })
        : undefined;
  } catch (error) {
    await tracing.shutdown();
    throw new Error(
      `METRICS_PORT: cannot listen on ${options.metricsHost}:${options.metricsPort} (${(error as Error).message})`,
    );
  }
  return {
    metrics,
    tracing,
    metricsUrl: server?.url,
    async close() {
      await server?.close();
      await tracing.shutdown();
    },
  };
}
