import {
  type Context,
  context,
  type Span,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  trace,
} from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  ParentBasedSampler,
  SimpleSpanProcessor,
  type SpanExporter,
  type SpanProcessor,
  TraceIdRatioBasedSampler,
} from '@opentelemetry/sdk-trace-base';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import { randomHex } from '../core/ids.js';
import type { SpanAttributes, SpanHandle } from '../core/trace-context.js';
import type { TracingSpec } from '../types/config.js';

/**
 * OpenTelemetry tracing for one gateway instance. The provider is not registered globally: several
 * gateways (tests) can live in one process, and we never patch other libraries.
 */
export interface OtelTracing {
  /** `traceId` is used when the request has no parent trace, so logs and spans share one id. */
  startRequestSpan(
    name: string,
    headers: Record<string, string | string[] | undefined>,
    attributes: SpanAttributes,
    traceId: string,
  ): SpanHandle;
  shutdown(): Promise<void>;
}

const propagator = new W3CTraceContextPropagator();
const headerGetter = {
  keys: (carrier: Record<string, string | string[] | undefined>) => Object.keys(carrier),
  get: (carrier: Record<string, string | string[] | undefined>, key: string) => carrier[key],
};
const headerSetter = {
  set: (carrier: Record<string, string>, key: string, value: string) => {
    carrier[key] = value;
  },
};

export function createOtelTracing(spec: TracingSpec, version: string, exporter?: SpanExporter): OtelTracing {
  const processors: SpanProcessor[] = [];
  if (exporter) processors.push(new SimpleSpanProcessor(exporter));
  if (spec.endpoint) {
    processors.push(
      new BatchSpanProcessor(new OTLPTraceExporter({ url: spec.endpoint, headers: spec.headers })),
    );
  }
  // The SDK asks its id generator for a root span's trace id synchronously inside startSpan; handing it
  // the id already chosen for the request (and already on its logger) keeps logs and traces joined.
  let pendingTraceId: string | undefined;
  const idGenerator = {
    generateTraceId: () => pendingTraceId ?? randomHex(32),
    generateSpanId: () => randomHex(16),
  };
  const provider = new BasicTracerProvider({
    idGenerator,
    resource: resourceFromAttributes({
      [ATTR_SERVICE_NAME]: spec.serviceName,
      [ATTR_SERVICE_VERSION]: version,
    }),
    sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(spec.sampleRatio) }),
    spanProcessors: processors,
  });
  const tracer = provider.getTracer('switchyard', version);
  return {
    startRequestSpan(name, headers, attributes, traceId) {
      const parent = propagator.extract(context.active(), headers, headerGetter);
      pendingTraceId = traceId;
      let span: Span;
      try {
        span = tracer.startSpan(name, { kind: SpanKind.SERVER, attributes: clean(attributes) }, parent);
      } finally {
        pendingTraceId = undefined;
      }
      return new OtelSpan(tracer, span, trace.setSpan(parent, span));
    },
    shutdown: () => provider.shutdown(),
  };
}

class OtelSpan implements SpanHandle {
  readonly traceId: string;
  constructor(
    private readonly tracer: Tracer,
    private readonly span: Span,
    private readonly ctx: Context,
  ) {
    this.traceId = span.spanContext().traceId;
  }

  child(name: string, kind: 'internal' | 'client', attributes?: SpanAttributes): SpanHandle {
    const span = this.tracer.startSpan(
      name,
      { kind: kind === 'client' ? SpanKind.CLIENT : SpanKind.INTERNAL, attributes: clean(attributes ?? {}) },
      this.ctx,
    );
    return new OtelSpan(this.tracer, span, trace.setSpan(this.ctx, span));
  }

  setAttributes(attributes: SpanAttributes): void {
    this.span.setAttributes(clean(attributes));
  }

  fail(err: unknown): void {
    const message = err instanceof Error ? err.message : String(err);
    this.span.setStatus({ code: SpanStatusCode.ERROR, message });
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string') this.span.setAttribute('error.type', code);
  }

  end(): void {
    this.span.end();
  }

  propagationHeaders(): Record<string, string> {
    const out: Record<string, string> = {};
    propagator.inject(this.ctx, out, headerSetter);
    return out;
  }
}

function clean(attributes: SpanAttributes): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const k in attributes) {
    const v = attributes[k];
    if (v !== undefined) out[k] = v;
  }
  return out;
}
