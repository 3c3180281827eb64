import type { Usage } from '../types/openai.js';

/** What a request did, filled in by the services and read once when the response closes (settle). */
export interface RequestMeta {
  model?: string;
  provider?: string;
  upstreamModel?: string;
  upstreamRequestId?: string;
  usage?: Usage;
  stream?: boolean;
  /** ms from request start to the first streamed byte. */
  firstTokenMs?: number;
  /** ms spent waiting on the provider: the call, or for streams every wait for the next chunk. */
  upstreamMs?: number;
  /** The error that ended the request, before or during a stream. */
  error?: { code: string; errorType: string; status: number; midStream: boolean };
  clientAborted?: boolean;
  /** Upstream attempts made (retries, failovers and fallbacks included). */
  attempts?: number;
  /** The fallback model that answered, when not the requested one. */
  fallback?: string;
  /** The degradation level that answered: 'offline', or 'error' for the polite error. */
  degraded?: string;
  /** Only with `logging.log_prompts`: the request's messages and the answer's text, for the log line. */
  prompt?: unknown;
  completion?: string;
}
