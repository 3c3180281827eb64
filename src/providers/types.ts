import type { UpstreamError } from '../errors/gateway-error.js';
import type { ProviderSpec, ProviderType } from '../types/config.js';
import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionRequest,
  EmbeddingsRequest,
  EmbeddingsResponse,
} from '../types/openai.js';

/**
 * Provider adapters are pure translators between the canonical (OpenAI) shapes and one provider's wire
 * format. No I/O, no Fastify, no clocks beyond `ctx.now`: HTTP lives in upstream/, orchestration in
 * services/. That keeps every translation unit-testable against recorded fixtures.
 */

export interface AdapterContext {
  provider: ProviderSpec;
  /** The model name the upstream expects. */
  upstreamModel: string;
  /** The gateway's request id, reused for generated completion ids. */
  requestId: string;
  /** Unix seconds, for `created`. */
  now: number;
}

export interface UpstreamHttpRequest {
  method: 'POST' | 'GET';
  /** Absolute URL. */
  url: string;
  headers: Record<string, string>;
  body: string | undefined;
}

/** One server-sent event as parsed from the upstream body. */
export interface SseEvent {
  event: string | undefined;
  data: string;
}

/**
 * Turns one upstream stream into canonical chunks. Stateful (tool-call indexes, usage accumulation), one
 * instance per stream.
 */
export interface StreamTranslator {
  /** Returns the chunks this event produces (possibly none). Throws an UpstreamError for an error event. */
  push(event: SseEvent): ChatCompletionChunk[];
  /**
   * The upstream body ended. Returns any final chunks. Throws an UpstreamError with class
   * `stream_interrupted` when the stream ended without its terminal event: a cut-off must never look
   * like success.
   */
  end(): ChatCompletionChunk[];
}

export interface UpstreamErrorInput {
  status: number;
  /** Raw body text (may be empty or not JSON). */
  body: string;
  headers: Readonly<Record<string, string | string[] | undefined>>;
}

export interface ProviderAdapter {
  readonly type: Exclude<ProviderType, 'mock'>;
  readonly supportsEmbeddings: boolean;
  buildChatRequest(req: ChatCompletionRequest, ctx: AdapterContext): UpstreamHttpRequest;
  parseChatResponse(body: unknown, ctx: AdapterContext): ChatCompletion;
  createStreamTranslator(req: ChatCompletionRequest, ctx: AdapterContext): StreamTranslator;
  buildEmbeddingsRequest(req: EmbeddingsRequest, ctx: AdapterContext): UpstreamHttpRequest;
  parseEmbeddingsResponse(body: unknown, req: EmbeddingsRequest, ctx: AdapterContext): EmbeddingsResponse;
  /** Classify a non-2xx upstream response. */
  parseError(res: UpstreamErrorInput, ctx: AdapterContext): UpstreamError;
  /** The header carrying the upstream's own request id, lowercase. */
  readonly requestIdHeader: string;
}
