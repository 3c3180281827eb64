import type { Usage } from '../types/openai.js';

/** What a request did, filled in by the services and read once by the request log line. */
export interface RequestMeta {
  model?: string;
  provider?: string;
  upstreamModel?: string;
  upstreamRequestId?: string;
  usage?: Usage;
  stream?: boolean;
  /** ms from request start to the first streamed byte. */
  firstTokenMs?: number;
  /** Set when a stream ended in an error event after the first byte. */
  streamError?: string;
  clientAborted?: boolean;
}
