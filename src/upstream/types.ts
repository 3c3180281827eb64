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

export interface ChatStream {
  /**
   * Canonical chunks as the upstream sends them. Errors after the stream opened are thrown from the
   * iterator as UpstreamError (`stream_interrupted` or the provider's in-stream error class).
   */
  chunks: AsyncIterable<ChatCompletionChunk>;
  upstreamRequestId: string | undefined;
}

/** One provider's transport: HTTP via an adapter, or the in-process mock. */
export interface ProviderClient {
  chat(req: ChatCompletionRequest, target: Target, ctx: CallContext): Promise<ChatResult>;
  /** Resolves once the upstream accepted the stream (2xx headers); rejects with UpstreamError otherwise. */
  chatStream(req: ChatCompletionRequest, target: Target, ctx: CallContext): Promise<ChatStream>;
  embeddings(req: EmbeddingsRequest, target: Target, ctx: CallContext): Promise<EmbeddingsResponse>;
}
