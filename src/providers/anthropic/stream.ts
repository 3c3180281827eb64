import {
  invalidResponse,
  parseJsonLenient,
  streamInterrupted,
  upstreamErrorFromHttp,
} from '../../core/classify.js';
import type { AnthropicUsage } from '../../types/anthropic.js';
import type { ChatCompletionChunk, ChunkChoice } from '../../types/openai.js';
import { isPlainObject } from '../common/response.js';
import type { AdapterContext, SseEvent, StreamTranslator } from '../types.js';
import { ANTHROPIC_REQUEST_ID_HEADER, errorFields, toFinishReason, toUsage } from './response.js';

/**
 * Anthropic's stream is block-structured (message_start, content_block_* per block, message_delta,
 * message_stop); OpenAI's is a flat list of deltas on one choice. This translator keeps the state the
 * mapping needs: the message id and model, which content blocks are tool calls, and the usage so far.
 */

/**
 * In-stream error events carry no HTTP status, so the documented status of each error type stands in
 * for it; that way they are classified exactly like the same error arriving as an HTTP response.
 */
const STATUS_BY_ERROR_TYPE: Readonly<Record<string, number>> = {
  invalid_request_error: 400,
  authentication_error: 401,
  billing_error: 402,
  permission_error: 403,
  not_found_error: 404,
  request_too_large: 413,
  rate_limit_error: 429,
  api_error: 500,
  timeout_error: 504,
  overloaded_error: 529,
};

type Delta = ChunkChoice['delta'];

export class AnthropicStreamTranslator implements StreamTranslator {
  private id: string;
  private model: string;
  private readonly created: number;
  private readonly provider: string;
  private done = false;
  /** Anthropic content block index -> the tool call's ordinal among tool calls (OpenAI's `index`). */
  private readonly toolIndexByBlock = new Map<number, number>();
  private usage: AnthropicUsage = {};

  constructor(ctx: AdapterContext) {
    this.provider = ctx.provider.id;
    // Replaced by the upstream message id at message_start; only a protocol violation would leave it.
    this.id = `chatcmpl-${ctx.requestId}`;
    this.model = ctx.upstreamModel;
    this.created = ctx.now;
  }

  push(ev: SseEvent): ChatCompletionChunk[] {
    if (this.done) return [];
    const data = parseJsonLenient(ev.data);
    if (data === undefined) throw streamInterrupted(this.provider, 'malformed JSON in stream event');
    if (!isPlainObject(data)) throw invalidResponse(this.provider, 'a stream event is not a JSON object');
    const type =
      typeof (data as { type?: unknown }).type === 'string' ? (data as { type: string }).type : ev.event;
    switch (type) {
      case 'message_start':
        return this.messageStart(data);
      case 'content_block_start':
        return this.blockStart(data);
      case 'content_block_delta':
        return this.blockDelta(data);
      case 'message_delta':
        return this.messageDelta(data);
      case 'message_stop':
        this.done = true;
        return [this.usageChunk()];
      case 'error':
        throw this.errorEvent(data);
      default:
        // ping, content_block_stop, and event types Anthropic documents it may add later.
        return [];
    }
  }

  end(): ChatCompletionChunk[] {
    if (!this.done) throw streamInterrupted(this.provider, 'stream ended before message_stop');
    return [];
  }

  private messageStart(data: object): ChatCompletionChunk[] {
    const msg = (data as { message?: { id?: unknown; model?: unknown; usage?: AnthropicUsage } }).message;
    if (typeof msg?.id === 'string') this.id = `chatcmpl-${msg.id}`;
    if (typeof msg?.model === 'string') this.model = msg.model;
    this.mergeUsage(msg?.usage);
    return [this.chunk({ role: 'assistant', content: '' })];
  }

  private blockStart(data: object): ChatCompletionChunk[] {
    const { index, content_block: block } = data as {
      index?: unknown;
      content_block?: { type?: unknown; id?: unknown; name?: unknown; text?: unknown };
    };
    if (block?.type === 'text') {
      return typeof block.text === 'string' && block.text !== '' ? [this.chunk({ content: block.text })] : [];
    }
    if (block?.type === 'redacted_thinking') {
      const data = (block as { data?: unknown }).data;
      return typeof data === 'string'
        ? [this.chunk({ thinking_blocks: [{ type: 'redacted_thinking', data }] })]
        : [];
    }
    if (block?.type !== 'tool_use' || typeof index !== 'number') return [];
    const toolIndex = this.toolIndexByBlock.size;
    this.toolIndexByBlock.set(index, toolIndex);
    return [
      this.chunk({
        tool_calls: [
          {
            index: toolIndex,
            id: typeof block.id === 'string' ? block.id : '',
            type: 'function',
            function: { name: typeof block.name === 'string' ? block.name : '', arguments: '' },
          },
        ],
      }),
    ];
  }

  private blockDelta(data: object): ChatCompletionChunk[] {
    const { index, delta } = data as {
      index?: unknown;
      delta?: {
        type?: unknown;
        text?: unknown;
        partial_json?: unknown;
        thinking?: unknown;
        signature?: unknown;
      };
    };
    if (delta?.type === 'thinking_delta' && typeof delta.thinking === 'string' && delta.thinking !== '') {
      return [this.chunk({ reasoning_content: delta.thinking })];
    }
    if (delta?.type === 'signature_delta' && typeof delta.signature === 'string') {
      // The thinking text already went out as reasoning_content; the signature closes the block.
      return [
        this.chunk({ thinking_blocks: [{ type: 'thinking', thinking: '', signature: delta.signature }] }),
      ];
    }
    if (delta?.type === 'text_delta' && typeof delta.text === 'string' && delta.text !== '') {
      return [this.chunk({ content: delta.text })];
    }
    if (
      delta?.type === 'input_json_delta' &&
      typeof delta.partial_json === 'string' &&
      delta.partial_json !== ''
    ) {
      const toolIndex = typeof index === 'number' ? this.toolIndexByBlock.get(index) : undefined;
      if (toolIndex === undefined) return [];
      return [
        this.chunk({ tool_calls: [{ index: toolIndex, function: { arguments: delta.partial_json } }] }),
      ];
    }
    // citations_delta and deltas Anthropic may add later: no OpenAI chat equivalent.
    return [];
  }

  private messageDelta(data: object): ChatCompletionChunk[] {
    const { delta, usage } = data as { delta?: { stop_reason?: unknown }; usage?: AnthropicUsage };
    this.mergeUsage(usage);
    const stop = delta?.stop_reason;
    if (typeof stop !== 'string') return [];
    return [this.chunk({}, toFinishReason(stop))];
  }

  private errorEvent(data: object) {
    const { type, message } = errorFields(data);
    return upstreamErrorFromHttp({
      provider: this.provider,
      status: (type !== undefined ? STATUS_BY_ERROR_TYPE[type] : undefined) ?? 500,
      message,
      providerType: type,
      headers: {},
      requestIdHeader: ANTHROPIC_REQUEST_ID_HEADER,
    });
  }

  /** message_delta usage is cumulative, so later non-null values replace earlier ones. */
  private mergeUsage(u: AnthropicUsage | undefined): void {
    if (!u) return;
    for (const key of [
      'input_tokens',
      'output_tokens',
      'cache_read_input_tokens',
      'cache_creation_input_tokens',
    ] as const) {
      const v = u[key];
      if (typeof v === 'number') this.usage[key] = v;
    }
    const thinking = u.output_tokens_details?.thinking_tokens;
    if (typeof thinking === 'number') this.usage.output_tokens_details = { thinking_tokens: thinking };
  }

  private chunk(delta: Delta, finishReason: ChunkChoice['finish_reason'] = null): ChatCompletionChunk {
    return {
      id: this.id,
      object: 'chat.completion.chunk',
      created: this.created,
      model: this.model,
      choices: [{ index: 0, delta, finish_reason: finishReason }],
    };
  }

  private usageChunk(): ChatCompletionChunk {
    return {
      id: this.id,
      object: 'chat.completion.chunk',
      created: this.created,
      model: this.model,
      choices: [],
      usage: toUsage(this.usage),
    };
  }
}
