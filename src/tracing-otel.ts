/** The OpenTelemetry side of tracing.ts: an OTLP/HTTP (JSON) exporter behind a batch processor; loaded only to trace. */
import { context, defaultTextMapGetter, SpanStatusCode, type Attributes } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { BasicTracerProvider, BatchSpanProcessor } from "@opentelemetry/sdk-trace-base";
import type { TracingBackend, TracingSettings } from "./tracing.js";
import { VERSION } from "./version.js";

export function otelBackend(settings: TracingSettings): TracingBackend {
  const exporter = new OTLPTraceExporter({ url: settings.url, headers: settings.headers, timeoutMillis: settings.timeoutMs });
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ "service.name": settings.serviceName, "service.version": VERSION }),
    spanProcessors: [new BatchSpanProcessor(exporter, { scheduledDelayMillis: settings.scheduleDelayMs })],
  });
  const contextManager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(contextManager);
  const tracer = provider.getTracer("lam-mcp", VERSION);
  const propagator = new W3CTraceContextPropagator();
  return {
    span(name, attributes, fn, parent) {
      const base = parent ? propagator.extract(context.active(), { ...parent }, defaultTextMapGetter) : context.active();
      return tracer.startActiveSpan(name, { attributes: attributes as Attributes }, base, async (span) => {
        try {
          return await fn({ set: (more) => span.setAttributes(more as Attributes) });
        } catch (error) {
          span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.name : "error" });
          throw error;
        } finally {
          span.end();
        }
      });
    },
    async shutdown() {
      await provider.shutdown();
      contextManager.disable();
      context.disable();
    },
  };
}
