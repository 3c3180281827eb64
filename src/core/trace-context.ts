import { randomHex } from './ids.js';

/**
 * What the services see of tracing: a span they can end and annotate, child spans for stages and
 * upstream attempts, and the headers that carry the trace to the provider. Two implementations: the
 * OpenTelemetry one (observability/otel.ts) and NOOP_SPAN, which allocates nothing per request.
 */

export type SpanAttributes = Record<string, string | number | boolean | undefined>;

export interface SpanHandle {
  /** 32 hex chars; also on every log line of the request. */
  readonly traceId: string;
  child(name: string, kind: 'internal' | 'client', attributes?: SpanAttributes): SpanHandle;
  setAttributes(attributes: SpanAttributes): void;
  /** Marks the span failed. */
  fail(err: unknown): void;
  end(): void;
  /** W3C trace context headers for a call made inside this span. */
  propagationHeaders(): Record<string, string>;
}

const TRACEPARENT_RE = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);

/** The trace a request belongs to, decided once when it arrives (before its logger is created). */
export interface IncomingTrace {
  /** The caller's trace id, or a new one. */
  traceId: string;
  parent: ParsedTraceparent | undefined;
  tracestate: string | undefined;
}

export function incomingTrace(headers: Record<string, string | string[] | undefined>): IncomingTrace {
  const parent = parseTraceparent(headers.traceparent);
  const ts = headers.tracestate;
  return {
    traceId: parent ? parent.traceId : randomHex(32),
    parent,
    tracestate: parent && typeof ts === 'string' ? ts : undefined,
  };
}

export interface ParsedTraceparent {
  traceId: string;
  spanId: string;
  flags: string;
}

export function parseTraceparent(value: string | string[] | undefined): ParsedTraceparent | undefined {
  if (typeof value !== 'string') return undefined;
  const m = TRACEPARENT_RE.exec(value.trim().toLowerCase());
  if (!m || m[1] === ZERO_TRACE || m[2] === ZERO_SPAN) return undefined;
  return { traceId: m[1]!, spanId: m[2]!, flags: m[3]! };
}

/**
 * With tracing off the gateway still carries a trace: the caller's (forwarded unchanged, so their trace
 * continues through us to the provider) or a fresh unsampled one, so logs here and at the provider can
 * be joined by trace id.
 */
export class PassthroughSpan implements SpanHandle {
  readonly traceId: string;
  private headers: Record<string, string> | undefined;

  constructor(private readonly trace: IncomingTrace) {
    this.traceId = trace.traceId;
  }

  child(): SpanHandle {
    return this;
  }
  setAttributes(): void {}
  fail(): void {}
  end(): void {}
  /** Built on the first upstream call: a request answered without one (a cache hit) never needs it. */
  propagationHeaders(): Record<string, string> {
    if (this.headers) return this.headers;
    const trace = this.trace;
    const p = trace.parent;
    const headers: Record<string, string> = p
      ? { traceparent: `00-${p.traceId}-${p.spanId}-${p.flags}` }
      : { traceparent: `00-${trace.traceId}-${randomHex(16)}-00` };
    if (trace.tracestate) headers.tracestate = trace.tracestate;
    this.headers = headers;
    return headers;
  }
}
