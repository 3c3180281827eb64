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
  /** The request became this job (`on_limit: job`) and was answered 202. */
  deferredTo?: string;
  /** Upstream attempts made (retries, failovers and fallbacks included). */
  attempts?: number;
  /** The fallback model that answered, when not the requested one. */
  fallback?: string;
  /** The degradation level that answered: 'offline', or 'error' for the polite error. */
  degraded?: string;
  /** What the cache stage did: HIT, MISS, STALE, BYPASS (set by the cache, when it exists). */
  cache?: string;
  /** The request id of the request whose upstream call this one shared (request merging). */
  mergedWith?: string;
  /** Only with `logging.log_prompts`: the request's messages and the answer's text, for the log line. */
  prompt?: unknown;
  /** A stream's text so far, kept only until the provider reports usage (to estimate usage if it never does). */
  streamedText?: string;
  /** How many characters were streamed while no usage had arrived (streamedText keeps only the first). */
  streamedChars?: number;
  /** Usage counted by the gateway when the provider reported none (the request log's cost only). */
  estimatedUsage?: Usage;
  completion?: string;
}
