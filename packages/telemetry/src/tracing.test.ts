import { InMemorySpanExporter } from "@opentelemetry/sdk-trace";
import { afterEach, describe, expect, it } from "vitest";
import { SPANS } from "./names.ts";
import {
  startTracing,
  type Tracing,
  TracingConfigError,
  tracingSettingsFromEnv,
  withSpan,
} from "./tracing.ts";

describe("tracingSettingsFromEnv", () => {
  it("is off by default, and on when an OTLP endpoint or exporter is named", () => {
    expect(tracingSettingsFromEnv({})).toBeUndefined();
    expect(tracingSettingsFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318" })).toEqual({
      exporter: "otlp",
    });
    expect(tracingSettingsFromEnv({ OTEL_TRACES_EXPORTER: "console" })).toEqual({ exporter: "console" });
    expect(
      tracingSettingsFromEnv({ OTEL_TRACES_EXPORTER: "none", OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318" }),
    ).toBeUndefined();
    expect(
      tracingSettingsFromEnv({ OTEL_SDK_DISABLED: "true", OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318" }),
    ).toBeUndefined();
  });

  it("names the variable of a setting it cannot honour", () => {
    expect(() => tracingSettingsFromEnv({ OTEL_TRACES_EXPORTER: "zipkin" })).toThrow(
      /^OTEL_TRACES_EXPORTER: must be otlp, console or none/,
    );
    expect(() =>
      tracingSettingsFromEnv({
        OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4317",
        OTEL_EXPORTER_OTLP_PROTOCOL: "grpc",
      }),
    ).toThrow(TracingConfigError);
  });
});

describe("withSpan", () => {
  let tracing: Tracing | undefined;
  afterEach(async () => {
    await tracing?.shutdown();
    tracing = undefined;
  });

  it("only calls the function while tracing is off", async () => {
    expect(await withSpan(SPANS.plan, {}, async (span) => span)).toBeUndefined();
  });

  it("nests spans and redacts secrets from attributes, events and the status before export", async () => {
    const exporter = new InMemorySpanExporter();
    tracing = startTracing({ serviceName: "test", exporter });
    const url =
      "http://s3/out/a.jpg?X-Amz-Credential=AKIAEXAMPLE%2F1&X-Amz-Signature=0123456789abcdef&X-Amz-SignedHeaders=host";
    await expect(
      withSpan(SPANS.plan, { url }, () =>
        withSpan(SPANS.providerRequest, { auth: "Bearer sk-live-123" }, async () => {
          throw new Error(`PUT ${url} failed`);
        }),
      ),
    ).rejects.toThrow();
    const spans = exporter.getFinishedSpans();
    expect(spans.map((span) => span.name)).toEqual([SPANS.providerRequest, SPANS.plan]);
    expect(spans[0]!.parentSpanContext?.spanId).toBe(spans[1]!.spanContext().spanId);
    const text = JSON.stringify(spans.map((span) => [span.attributes, span.events, span.status]));
    expect(text).not.toMatch(/0123456789abcdef|AKIAEXAMPLE|sk-live-123/);
    expect(text).toContain("X-Amz-Signature=[REDACTED]");
  });
});
