import { anthropicMessagesUrl } from '../../providers/anthropic/request.js';
import type { SseEvent, UpstreamHttpRequest } from '../../providers/types.js';
import type { MessagesRequest } from '../../types/anthropic-messages.js';
import type { ProviderSpec } from '../../types/config.js';
import type { Usage } from '../../types/openai.js';

/**
 * Same-dialect passthrough: a Messages request bound for an Anthropic target goes upstream as the
 * client sent it, with only `model` replaced by the target's name, and the upstream's answer (JSON or
 * SSE bytes) goes back as it came. Nothing is parsed into the canonical shape, so thinking blocks and
 * their signatures, redacted thinking, cache_control, documents, citations, server tools and fields
 * Anthropic adds later all survive. The gateway reads only what it needs: usage and errors.
 */

/** Client headers that select API behaviour and must reach Anthropic unchanged. */
export interface MessagesClientHeaders {
  anthropicVersion: string | undefined;
  anthropicBeta: string | undefined;
}

export function passthroughHeaders(
  provider: ProviderSpec,
  client: MessagesClientHeaders,
  apiKey: string | undefined,
): Record<string, string> {
  const h: Record<string, string> = {
    'content-type': 'application/json',
    'anthropic-version': client.anthropicVersion ?? provider.anthropicVersion,
    ...provider.headers,
  };
  if (client.anthropicBeta) {
    const configured = provider.headers['anthropic-beta'];
    h['anthropic-beta'] = configured ? `${configured},${client.anthropicBeta}` : client.anthropicBeta;
  }
  if (apiKey) h['x-api-key'] = apiKey;
  return h;
}

export function buildMessagesPassthrough(
  body: MessagesRequest,
  upstreamModel: string,
  provider: ProviderSpec,
  client: MessagesClientHeaders,
  apiKey: string | undefined,
  params: Record<string, unknown> = {},
): UpstreamHttpRequest {
  // Spread keeps the client's key order; target params are the operator's and win, as on chat.
  return {
    method: 'POST',
    url: anthropicMessagesUrl(provider.baseUrl),
    headers: passthroughHeaders(provider, client, apiKey),
    body: JSON.stringify({ ...body, ...params, model: upstreamModel }),
  };
}

export function buildCountTokensPassthrough(
  body: Record<string, unknown>,
  upstreamModel: string,
  provider: ProviderSpec,
  client: MessagesClientHeaders,
  apiKey: string | undefined,
): UpstreamHttpRequest {
  return {
    method: 'POST',
    url: `${anthropicMessagesUrl(provider.baseUrl)}/count_tokens`,
    headers: passthroughHeaders(provider, client, apiKey),
    body: JSON.stringify({ ...body, model: upstreamModel }),
  };
}

interface RawUsage {
  input_tokens?: number | null;
  output_tokens?: number | null;
  cache_creation_input_tokens?: number | null;
  cache_read_input_tokens?: number | null;
}

/** Anthropic usage -> canonical, keeping cache reads and writes apart. */
export function canonicalUsage(u: RawUsage): Usage {
  const read = u.cache_read_input_tokens ?? 0;
  const written = u.cache_creation_input_tokens ?? 0;
  const prompt = (u.input_tokens ?? 0) + read + written;
  const completion = u.output_tokens ?? 0;
  return {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: prompt + completion,
    prompt_tokens_details: { cached_tokens: read, cache_creation_tokens: written },
  };
}

export function usageOfMessage(body: unknown): Usage | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const u = (body as { usage?: unknown }).usage;
  return typeof u === 'object' && u !== null ? canonicalUsage(u as RawUsage) : undefined;
}

/**
 * Watches a passthrough SSE stream without changing it: cumulative usage (message_start, then each
 * message_delta), whether message_stop came, and the first in-stream error.
 */
export class MessagesStreamTap {
  private readonly raw: RawUsage = {};
  stopped = false;
  error: { type: string; message: string } | undefined;

  push(ev: SseEvent): void {
    const type = ev.event;
    if (type !== 'message_start' && type !== 'message_delta' && type !== 'message_stop' && type !== 'error') {
      return;
    }
    if (type === 'message_stop') {
      this.stopped = true;
      return;
    }
    let data: unknown;
    try {
      data = JSON.parse(ev.data);
    } catch {
      return;
    }
    if (type === 'error') {
      const e = (data as { error?: { type?: unknown; message?: unknown } }).error;
      this.error = {
        type: typeof e?.type === 'string' ? e.type : 'api_error',
        message: typeof e?.message === 'string' ? e.message : 'upstream stream error',
      };
      return;
    }
    const usage =
      type === 'message_start'
        ? (data as { message?: { usage?: RawUsage } }).message?.usage
        : (data as { usage?: RawUsage }).usage;
    if (!usage) return;
    for (const key of [
      'input_tokens',
      'output_tokens',
      'cache_creation_input_tokens',
      'cache_read_input_tokens',
    ] as const) {
      const v = usage[key];
      if (typeof v === 'number') this.raw[key] = v;
    }
  }

  usage(): Usage {
    return canonicalUsage(this.raw);
  }
}
