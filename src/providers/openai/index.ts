import {
  invalidResponse,
  parseJsonLenient,
  streamInterrupted,
  upstreamErrorFromHttp,
} from '../../core/classify.js';
import { withRawJson } from '../../core/raw-json.js';
import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionRequest,
  EmbeddingsRequest,
  EmbeddingsResponse,
} from '../../types/openai.js';
import { isPlainObject } from '../common/response.js';
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
  } else if (req.stream_options !== undefined) {
    // Undefined rather than `delete`, which turns the object into a slow dictionary for stringify;
    // JSON.stringify leaves an undefined member out all the same.
    body.stream_options = undefined;
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
    const raw = parseJsonLenient(data);
    if (raw === undefined) throw streamInterrupted(this.provider, 'malformed JSON in stream event');
    if (!isPlainObject(raw)) throw invalidResponse(this.provider, 'a stream event is not a JSON object');
    if (raw.error !== undefined && raw.error !== null) {
      const message = isPlainObject(raw.error) ? raw.error.message : raw.error;
      throw streamInterrupted(this.provider, typeof message === 'string' ? message : 'error event');
    }
    // A chunk without choices is OpenAI's usage-only chunk (stream_options.include_usage): valid.
    let changed = false;
    if (raw.choices === undefined || raw.choices === null) {
      raw.choices = [];
      changed = true;
    }
    if (!Array.isArray(raw.choices) || !raw.choices.every(isPlainObject)) {
      throw invalidResponse(this.provider, 'a stream chunk has choices that are not an array of objects');
    }
    const parsed = raw as unknown as ChatCompletionChunk;
    // Passed on as it came: delivery can write the upstream's text instead of serializing it again. Not
    // when the event's data spanned several lines: written back as one `data:` line it would break.
    if (!changed && data.indexOf('\n') === -1 && data.indexOf('\r') === -1) withRawJson(parsed, data);
    if (parsed.choices.some((c) => c.finish_reason)) this.sawFinish = true;
    return [parsed];
  }

  end(): ChatCompletionChunk[] {
    // Some OpenAI-compatible servers (older Ollama, llama.cpp) omit [DONE] but do send a finish reason.
    if (!this.done && !this.sawFinish) throw streamInterrupted(this.provider, 'stream ended before [DONE]');
    return [];
  }
}

/**
 * The body is passed through untouched (provider extensions survive), once it is checked to be a chat
 * completion: an object whose choices are objects with a message object. `null`, `[]`, `"x"`, `42`,
 * `{}` or choices that are not an array are the upstream misbehaving.
 */
export function asChatCompletion(body: unknown, provider: string): ChatCompletion {
  if (!isPlainObject(body)) throw invalidResponse(provider, 'the body is not a JSON object');
  const { choices } = body;
  if (!Array.isArray(choices)) throw invalidResponse(provider, 'choices is not an array');
  for (const c of choices) {
    if (!isPlainObject(c) || !isPlainObject(c.message)) {
      throw invalidResponse(provider, 'a choice is not an object with a message');
    }
  }
  return body as unknown as ChatCompletion;
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

  parseChatResponse(body, ctx): ChatCompletion {
    return asChatCompletion(body, ctx.provider.id);
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

  parseEmbeddingsResponse(body, _req, ctx): EmbeddingsResponse {
    if (!isPlainObject(body) || !Array.isArray(body.data) || !body.data.every(isPlainObject)) {
      throw invalidResponse(ctx.provider.id, 'the body is not an embeddings list');
    }
    return body as unknown as EmbeddingsResponse;
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
