import {
  type Attributes,
  type AttributeValue,
  context,
  type Link,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
} from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import {
  CompositePropagator,
  type ExportResult,
  W3CBaggagePropagator,
  W3CTraceContextPropagator,
} from "@opentelemetry/core";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import { defaultResource, resourceFromAttributes } from "@opentelemetry/resources";
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BatchSpanProcessor,
  ConsoleSpanExporter,
  ParentBasedSampler,
  type ReadableSpan,
  type Sampler,
  SimpleSpanProcessor,
  type SpanExporter,
  TraceIdRatioBasedSampler,
  TracerProvider,
} from "@opentelemetry/sdk-trace";
import { BullMQOtel } from "bullmq-otel";
import { SPANS, type SpanName } from "./names.ts";
import { redactText } from "./redact.ts";

/**
 * OpenTelemetry traces, off by default. They are on when the standard variables ask for an exporter:
 * `OTEL_TRACES_EXPORTER=otlp` (or `console`), or an `OTEL_EXPORTER_OTLP_ENDPOINT` /
 * `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`; `OTEL_SDK_DISABLED=true` wins over both. The OTLP exporter
 * (http/protobuf) reads its own variables (endpoint, headers, timeout, compression), the resource
 * takes `OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES`, and `OTEL_TRACES_SAMPLER(_ARG)` picks the
 * sampler. Every attribute, event and status message is passed through the log redaction before it
 * leaves, so a presigned URL or a token in an error message never reaches a collector.
 */

export type EnvSource = Record<string, string | undefined>;
export type { Span };

export interface TracingSettings {
  exporter: "otlp" | "console";
}

/** Bad tracing configuration: the process says which variable and stops, like any config error. */
export class TracingConfigError extends Error {
  readonly variable: string;
  constructor(variable: string, message: string) {
    super(`${variable}: ${message}`);
    this.name = "TracingConfigError";
    this.variable = variable;
  }
}

export function tracingSettingsFromEnv(env: EnvSource): TracingSettings | undefined {
  if ((env.OTEL_SDK_DISABLED ?? "").toLowerCase() === "true") return undefined;
  const exporters = (env.OTEL_TRACES_EXPORTER ?? "")
    .split(",")
    .map((value) => value.trim())
    .filter(Boolean);
  const endpoint = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || env.OTEL_EXPORTER_OTLP_ENDPOINT;
  if (exporters.includes("none")) return undefined;
  if (exporters.length === 0 && !endpoint) return undefined;
  const exporter = exporters[0] ?? "otlp";
  if (exporter !== "otlp" && exporter !== "console")
    throw new TracingConfigError("OTEL_TRACES_EXPORTER", "must be otlp, console or none");
  const protocol = env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL || env.OTEL_EXPORTER_OTLP_PROTOCOL;
  if (exporter === "otlp" && protocol && protocol !== "http/protobuf") {
    throw new TracingConfigError(
      env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL
        ? "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
        : "OTEL_EXPORTER_OTLP_PROTOCOL",
      "must be http/protobuf (the only OTLP protocol reframe ships)",
    );
  }
  return { exporter };
}

export interface Tracing {
  /** BullMQ's telemetry (bullmq-otel) for Queues and Workers; undefined while tracing is off. */
  bullmq: BullMQOtel | undefined;
  /** Sends what is buffered. */
  flush(): Promise<void>;
  /** Flushes and stops; the process's spans are no-ops afterwards. */
  shutdown(): Promise<void>;
}

export interface StartTracingOptions {
  serviceName: string;
  env?: EnvSource;
  /** Tests: spans go here at once (SimpleSpanProcessor) whatever the environment says. */
  exporter?: SpanExporter;
}

const OFF: Tracing = { bullmq: undefined, flush: async () => {}, shutdown: async () => {} };
let active = false;

/** Sets up the process's tracer provider, context manager and propagators; call once in main(). */
export function startTracing(options: StartTracingOptions): Tracing {
  // A second start in the same process (an in-process test stack) joins the tracing already set up.
  if (active)
    return { bullmq: new BullMQOtel({ tracerName: "bullmq" }), flush: OFF.flush, shutdown: OFF.shutdown };
  const env = options.env ?? process.env;
  const settings = options.exporter ? { exporter: "otlp" as const } : tracingSettingsFromEnv(env);
  if (!settings) return OFF;
  const exporter = new RedactingExporter(
    options.exporter ??
      (settings.exporter === "console" ? new ConsoleSpanExporter() : new OTLPTraceExporter()),
  );
  const provider = new TracerProvider({
    resource: defaultResource().merge(
      resourceFromAttributes({ "service.name": env.OTEL_SERVICE_NAME || `reframe-${options.serviceName}` }),
    ),
    sampler: samplerFromEnv(env),
    spanProcessors: [
      options.exporter ? new SimpleSpanProcessor({ exporter }) : new BatchSpanProcessor({ exporter }),
    ],
  });
  const contextManager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(contextManager);
  propagation.setGlobalPropagator(
    new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] }),
  );
  trace.setGlobalTracerProvider(provider);
  active = true;
  return {
    bullmq: new BullMQOtel({ tracerName: "bullmq" }),
    flush: () => provider.forceFlush(),
    async shutdown() {
      active = false;
      await provider.shutdown();
      trace.disable();
      propagation.disable();
      context.disable();
    },
  };
}

function samplerFromEnv(env: EnvSource): Sampler {
  const ratio = Number(env.OTEL_TRACES_SAMPLER_ARG ?? "1");
  const bounded = Number.isFinite(ratio) && ratio >= 0 && ratio <= 1 ? ratio : 1;
  switch (env.OTEL_TRACES_SAMPLER || "parentbased_always_on") {
    case "always_on":
      return new AlwaysOnSampler();
    case "always_off":
      return new AlwaysOffSampler();
    case "traceidratio":
      return new TraceIdRatioBasedSampler(bounded);
    case "parentbased_always_on":
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
    case "parentbased_always_off":
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case "parentbased_traceidratio":
      return new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(bounded) });
    default:
      throw new TracingConfigError(
        "OTEL_TRACES_SAMPLER",
        "must be always_on, always_off, traceidratio or parentbased_(always_on|always_off|traceidratio)",
      );
  }
}

const tracer = () => trace.getTracer("reframe");

/**
 * Runs `fn` inside a span of reframe's own: a child of the active span (a job's BullMQ `process`
 * span, an API request), ended when `fn` settles, marked as an error when it throws. While tracing is
 * off it only calls `fn`.
 */
export async function withSpan<T>(
  name: SpanName,
  attributes: Attributes,
  fn: (span: Span | undefined) => Promise<T>,
  options: { links?: Link[]; root?: boolean } = {},
): Promise<T> {
  if (!active) return fn(undefined);
  const parent = options.root ? trace.deleteSpan(context.active()) : context.active();
  return tracer().startActiveSpan(name, { attributes, links: options.links ?? [] }, parent, async (span) => {
    try {
      return await fn(span);
    } catch (error) {
      // BullMQ's DelayedError is how a job parks, not a failure.
      if ((error as { name?: string } | undefined)?.name !== "DelayedError") {
        span.recordException(error as Error);
        span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error)?.message ?? String(error) });
      }
      throw error;
    } finally {
      span.end();
    }
  });
}

/**
 * Runs a request's work inside a server span: a child of the caller's trace when the request carries
 * W3C `traceparent` (a client that traces), else the root of a new trace.
 */
export async function withRequestSpan<T>(
  headers: Record<string, string | string[] | undefined>,
  attributes: Attributes,
  fn: (span: Span | undefined) => Promise<T>,
): Promise<T> {
  if (!active) return fn(undefined);
  const parent = propagation.extract(ROOT_CONTEXT, headers);
  return tracer().startActiveSpan(
    SPANS.apiRequest,
    { attributes, kind: SpanKind.SERVER },
    parent,
    async (span) => {
      try {
        return await fn(span);
      } catch (error) {
        span.recordException(error as Error);
        span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error)?.message ?? String(error) });
        throw error;
      } finally {
        span.end();
      }
    },
  );
}

/** A span whose end the caller decides (a request: started in one hook, ended in another). */
export interface SpanHandle {
  /** Runs `fn` with this span active, so spans made inside are its children. */
  run<T>(fn: () => Promise<T>): Promise<T>;
  setAttributes(attributes: Attributes): void;
  addLink(link: Link | undefined): void;
  end(error?: string): void;
}

const NO_SPAN: SpanHandle = {
  run: (fn) => fn(),
  setAttributes: () => {},
  addLink: () => {},
  end: () => {},
};

/** Starts a span that begins a trace of its own (a webhook, a poll, a request without a parent). */
export function startRootSpan(name: SpanName, attributes: Attributes): SpanHandle {
  if (!active) return NO_SPAN;
  const span = tracer().startSpan(name, { attributes, root: true });
  const spanContext = trace.setSpan(context.active(), span);
  return {
    run: (fn) => context.with(spanContext, fn),
    setAttributes: (more) => span.setAttributes(more),
    addLink: (link) => {
      if (link) span.addLink(link);
    },
    end(error) {
      if (error) span.setStatus({ code: SpanStatusCode.ERROR, message: error });
      span.end();
    },
  };
}

/** A link to the trace a BullMQ job was added in (its `opts.telemetry.metadata`), if it carries one. */
export function linkFromJobMetadata(metadata: string | undefined): Link | undefined {
  if (!active || !metadata) return undefined;
  try {
    const carrier = JSON.parse(metadata) as Record<string, string>;
    const spanContext = trace.getSpanContext(propagation.extract(context.active(), carrier));
    return spanContext ? { context: spanContext, attributes: { "link.kind": "job" } } : undefined;
  } catch {
    return undefined;
  }
}

/** True while a tracer provider is set up (startTracing ran and was not shut down). */
export function tracingActive(): boolean {
  return active;
}

/** Passes every span through the log redaction before the real exporter sees it. */
class RedactingExporter implements SpanExporter {
  private readonly inner: SpanExporter;
  constructor(inner: SpanExporter) {
    this.inner = inner;
  }
  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    this.inner.export(spans.map(redactSpan), done);
  }
  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }
  forceFlush(): Promise<void> {
    return this.inner.forceFlush?.() ?? Promise.resolve();
  }
}

function redactSpan(span: ReadableSpan): ReadableSpan {
  // The prototype keeps spanContext() and every field not replaced here.
  return Object.create(span, {
    attributes: { value: redactAttributes(span.attributes) },
    events: {
      value: span.events.map((event) =>
        event.attributes ? { ...event, attributes: redactAttributes(event.attributes) } : event,
      ),
    },
    links: {
      value: span.links.map((link) =>
        link.attributes ? { ...link, attributes: redactAttributes(link.attributes) } : link,
      ),
    },
    status: {
      value: span.status.message ? { ...span.status, message: redactText(span.status.message) } : span.status,
    },
  }) as ReadableSpan;
}

export function redactAttributes(attributes: Attributes): Attributes {
  const out: Attributes = {};
  for (const [key, value] of Object.entries(attributes)) out[key] = redactAttribute(value);
  return out;
}

function redactAttribute(value: AttributeValue | undefined): AttributeValue | undefined {
  if (typeof value === "string") return redactText(value);
  if (Array.isArray(value))
    return value.map((item) => (typeof item === "string" ? redactText(item) : item)) as AttributeValue;
  return value;
}
