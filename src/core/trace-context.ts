import { randomBytes } from 'node:crypto';

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
  private readonly headers: Record<string, string>;

  constructor(incoming: ParsedTraceparent | undefined, tracestate: string | undefined) {
    if (incoming) {
      this.traceId = incoming.traceId;
      this.headers = { traceparent: `00-${incoming.traceId}-${incoming.spanId}-${incoming.flags}` };
      if (tracestate) this.headers.tracestate = tracestate;
    } else {
      const bytes = randomBytes(24).toString('hex');
      this.traceId = bytes.slice(0, 32);
      this.headers = { traceparent: `00-${this.traceId}-${bytes.slice(32)}-00` };
    }
  }

  child(): SpanHandle {
    return this;
  }
  setAttributes(): void {}
  fail(): void {}
  end(): void {}
  propagationHeaders(): Record<string, string> {
    return this.headers;
  }
}
