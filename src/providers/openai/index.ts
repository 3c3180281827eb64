import { parseJsonLenient, streamInterrupted, upstreamErrorFromHttp } from '../../core/classify.js';
import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionRequest,
  EmbeddingsRequest,
  EmbeddingsResponse,
} from '../../types/openai.js';
import type {
  AdapterContext,
  ProviderAdapter,
  SseEvent,
  StreamTranslator,
  UpstreamHttpRequest,
} from '../types.js';

/**
 * OpenAI and every OpenAI-compatible server (xAI, OpenRouter, Ollama, vLLM, llama.cpp). The request is
 * passed through with the model replaced; unknown fields survive so provider extensions keep working.
 */

function headers(ctx: AdapterContext): Record<string, string> {
  const h: Record<string, string> = { 'content-type': 'application/json', ...ctx.provider.headers };
  if (ctx.provider.apiKey) h.authorization = `Bearer ${ctx.provider.apiKey}`;
  return h;
}

export function toOpenAIChatRequest(
  req: ChatCompletionRequest,
  ctx: AdapterContext,
): Record<string, unknown> {
  const body: Record<string, unknown> = { ...req, model: ctx.upstreamModel };
  if (req.stream) {
    // Always ask for usage so the gateway can account tokens; the service strips the usage chunk again
    // when the client did not ask for it.
    body.stream_options = { ...req.stream_options, include_usage: true };
  } else {
    delete body.stream_options;
  }
  return body;
}

export class OpenAIStreamTranslator implements StreamTranslator {
  private done = false;
  private sawFinish = false;
  constructor(private readonly provider: string) {}

  push(ev: SseEvent): ChatCompletionChunk[] {
    if (this.done) return [];
    const data = ev.data;
    if (data === '[DONE]') {
      this.done = true;
      return [];
    }
    const parsed = parseJsonLenient(data) as
      | (ChatCompletionChunk & { error?: { message?: string } })
      | undefined;
    if (parsed === undefined) throw streamInterrupted(this.provider, 'malformed JSON in stream event');
    if (parsed.error) {
      throw streamInterrupted(this.provider, parsed.error.message ?? 'error event');
    }
    if (parsed.choices?.some((c) => c.finish_reason)) this.sawFinish = true;
    return [parsed];
  }

  end(): ChatCompletionChunk[] {
    // Some OpenAI-compatible servers (older Ollama, llama.cpp) omit [DONE] but do send a finish reason.
    if (!this.done && !this.sawFinish) throw streamInterrupted(this.provider, 'stream ended before [DONE]');
    return [];
  }
}

export const openaiAdapter: ProviderAdapter = {
  type: 'openai',
  supportsEmbeddings: true,
  requestIdHeader: 'x-request-id',

  buildChatRequest(req, ctx): UpstreamHttpRequest {
    return {
      method: 'POST',
      url: `${ctx.provider.baseUrl}/chat/completions`,
      headers: headers(ctx),
      body: JSON.stringify(toOpenAIChatRequest(req, ctx)),
    };
  },

  parseChatResponse(body): ChatCompletion {
    return body as ChatCompletion;
  },

  createStreamTranslator(_req, ctx) {
    return new OpenAIStreamTranslator(ctx.provider.id);
  },

  buildEmbeddingsRequest(req: EmbeddingsRequest, ctx): UpstreamHttpRequest {
    return {
      method: 'POST',
      url: `${ctx.provider.baseUrl}/embeddings`,
      headers: headers(ctx),
      body: JSON.stringify({ ...req, model: ctx.upstreamModel }),
    };
  },

  parseEmbeddingsResponse(body): EmbeddingsResponse {
    return body as EmbeddingsResponse;
  },

  parseError(res, ctx) {
    const parsed = parseJsonLenient(res.body) as
      | { error?: { message?: string; type?: string; code?: string } | string; message?: string }
      | undefined;
    const err = parsed?.error;
    const message = typeof err === 'string' ? err : (err?.message ?? parsed?.message);
    const providerType = typeof err === 'object' ? (err.code ?? err.type) : undefined;
    return upstreamErrorFromHttp({
      provider: ctx.provider.id,
      status: res.status,
      message: message ?? (res.body.length > 0 && res.body.length < 300 ? res.body : undefined),
      providerType,
      headers: res.headers,
      requestIdHeader: 'x-request-id',
    });
  },
};
