import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { UpstreamHttpRequest } from '../providers/types.js';
import type { ProviderSpec } from '../types/config.js';
import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionRequest,
  EmbeddingsRequest,
  EmbeddingsResponse,
} from '../types/openai.js';

/** Where one attempt goes: a provider and the model name it expects. */
export interface Target {
  provider: ProviderSpec;
  upstreamModel: string;
}

export interface CallContext {
  requestId: string;
  /** Aborted when the client goes away or the gateway gives up; the upstream request is cancelled. */
  signal: AbortSignal;
  /** Trace propagation headers (traceparent) for this attempt. */
  headers?: Record<string, string>;
}

export interface ChatResult {
  completion: ChatCompletion;
  upstreamRequestId: string | undefined;
}

/**
 * An async iterator that can also hand out, without a promise, what it already holds: `nextBuffered`
 * returns the next result when it needs no I/O, undefined when only `next()` can get it. It throws
 * what `next()` would reject with.
 */
export interface BufferedIterator<T> extends AsyncIterator<T> {
  nextBuffered(): IteratorResult<T> | undefined;
}

export function isBuffered<T>(it: AsyncIterator<T>): it is BufferedIterator<T> {
  return typeof (it as Partial<BufferedIterator<T>>).nextBuffered === 'function';
}

export interface ChatStream {
  /**
   * Canonical chunks as the upstream sends them. Errors after the stream opened are thrown from the
   * iterator as UpstreamError (`stream_interrupted` or the provider's in-stream error class). Its
   * iterator may be a BufferedIterator (HTTP providers).
   */
  chunks: AsyncIterable<ChatCompletionChunk>;
  upstreamRequestId: string | undefined;
}

/** A passthrough request; its body may be a stream (audio uploads). */
export interface ForwardRequest extends Omit<UpstreamHttpRequest, 'body'> {
  body: string | Readable | undefined;
}

/** One provider's transport: HTTP via an adapter, or the in-process mock. */
export interface ProviderClient {
  chat(req: ChatCompletionRequest, target: Target, ctx: CallContext): Promise<ChatResult>;
  /** Resolves once the upstream accepted the stream (2xx headers); rejects with UpstreamError otherwise. */
  chatStream(req: ChatCompletionRequest, target: Target, ctx: CallContext): Promise<ChatStream>;
  embeddings(req: EmbeddingsRequest, target: Target, ctx: CallContext): Promise<EmbeddingsResponse>;
  /**
   * Same-dialect passthrough: sends a request built by the caller as is and returns the upstream's 2xx
   * response untouched (body unread); non-2xx answers are classified by the provider's adapter and
   * thrown as UpstreamError, exactly like a translated call. Absent on the in-process mock.
   */
  forward?(http: ForwardRequest, target: Target, ctx: CallContext): Promise<Dispatcher.ResponseData>;
}
