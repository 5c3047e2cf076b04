export {
  createLogger,
  LOG_FORMATS,
  LOG_LEVELS,
  type LogFormat,
  type Logger,
  type LoggerSettings,
  type LogLevel,
} from "./logger.ts";
export {
  boundedLabel,
  createMetrics,
  type Metrics,
  type MetricsOptions,
  type QueueSample,
} from "./metrics.ts";
export { type HealthReport, type RunningMetricsServer, startMetricsServer } from "./metrics-server.ts";
export {
  ATTRIBUTES,
  DEFAULT_PROCESS_METRICS,
  METRICS,
  type MetricKey,
  SPANS,
  type SpanName,
  TELEMETRY_PROCESSES,
  type TelemetryProcess,
} from "./names.ts";
export {
  type ProcessTelemetry,
  type ProcessTelemetryOptions,
  startProcessTelemetry,
} from "./process-telemetry.ts";
export { REDACTED, redactText, redactUrl, redactValue } from "./redact.ts";
export {
  linkFromJobMetadata,
  redactAttributes,
  type Span,
  type SpanHandle,
  startRootSpan,
  startTracing,
  type Tracing,
  TracingConfigError,
  tracingActive,
  tracingSettingsFromEnv,
  withRequestSpan,
  withSpan,
} from "./tracing.ts";
