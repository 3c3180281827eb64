import type { GatewayError } from '../../errors/gateway-error.js';
import type { ChatCompletionChunk, FinishReason, Usage } from '../../types/openai.js';
import { messageId, toMessagesError, toMessagesUsage, toStopReason } from './from-canonical.js';

/**
 * Canonical chunks -> Anthropic's SSE event sequence, for translated targets:
 *
 *   message_start, then per content block content_block_start, (ping after the first),
 *   content_block_delta*, content_block_stop; then message_delta (stop_reason, usage), message_stop.
 *
 * Blocks open in the order content arrives: reasoning becomes a thinking block, text a text block,
 * each tool call a tool_use block. The final message_delta waits for the end of the stream because
 * canonical streams carry usage in a chunk after the finish reason.
 */

type OpenBlock =
  | { kind: 'thinking'; index: number }
  | { kind: 'text'; index: number }
  | { kind: 'tool'; index: number; toolIndex: number };

export function sseEvent(type: string, data: unknown): string {
  return `event: ${type}\ndata: ${JSON.stringify(data)}\n\n`;
}

export class MessagesStreamEncoder {
  private started = false;
  private pinged = false;
  private block: OpenBlock | undefined;
  private nextIndex = 0;
  private finish: FinishReason | null = null;
  private usage: Usage | null | undefined;
  private id: string;

  constructor(
    id: string,
    private readonly model: string,
  ) {
    this.id = messageId(id);
  }

  push(chunk: ChatCompletionChunk): string {
    let out = '';
    if (!this.started) out += this.start(chunk.id);
    if (chunk.usage) this.usage = chunk.usage;
    const choice = chunk.choices[0];
    if (!choice) return out;
    const d = choice.delta;
    if (d.reasoning_content) {
      out += this.ensure('thinking');
      out += this.delta({ type: 'thinking_delta', thinking: d.reasoning_content });
    }
    if (d.thinking_blocks) {
      for (const b of d.thinking_blocks) {
        if (b.type === 'thinking') {
          out += this.ensure('thinking');
          if (b.thinking) out += this.delta({ type: 'thinking_delta', thinking: b.thinking });
          if (b.signature) out += this.delta({ type: 'signature_delta', signature: b.signature });
        } else {
          out += this.close();
          out += this.open({ type: 'redacted_thinking', data: b.data }, { kind: 'thinking', index: 0 });
          out += this.close();
        }
      }
    }
    if (d.content) {
      out += this.ensure('text');
      out += this.delta({ type: 'text_delta', text: d.content });
    }
    for (const tc of d.tool_calls ?? []) {
      const current = this.block;
      if (current?.kind !== 'tool' || current.toolIndex !== tc.index) {
        out += this.close();
        out += this.open(
          { type: 'tool_use', id: tc.id ?? '', name: tc.function?.name ?? '', input: {} },
          { kind: 'tool', index: 0, toolIndex: tc.index },
        );
      }
      const args = tc.function?.arguments;
      if (args) out += this.delta({ type: 'input_json_delta', partial_json: args });
    }
    if (choice.finish_reason) this.finish = choice.finish_reason;
    return out;
  }

  /** The upstream stream ended normally. */
  end(): string {
    let out = this.started ? '' : this.start(this.id);
    out += this.close();
    const usage = toMessagesUsage(this.usage);
    out += sseEvent('message_delta', {
      type: 'message_delta',
      delta: { stop_reason: toStopReason(this.finish ?? 'stop'), stop_sequence: null },
      usage,
    });
    out += sseEvent('message_stop', { type: 'message_stop' });
    return out;
  }

  /** The stream broke after it started: Anthropic's `error` event, and nothing after it. */
  error(err: GatewayError): string {
    return sseEvent('error', toMessagesError(err));
  }

  private start(id: string): string {
    this.started = true;
    this.id = messageId(id);
    return sseEvent('message_start', {
      type: 'message_start',
      message: {
        id: this.id,
        type: 'message',
        role: 'assistant',
        model: this.model,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        // Translated streams learn their usage at the end; message_delta carries the totals.
        usage: {
          input_tokens: 0,
          output_tokens: 0,
          cache_creation_input_tokens: null,
          cache_read_input_tokens: null,
        },
      },
    });
  }

  private ensure(kind: 'thinking' | 'text'): string {
    if (this.block?.kind === kind) return '';
    const close = this.close();
    const start =
      kind === 'text' ? { type: 'text', text: '' } : { type: 'thinking', thinking: '', signature: '' };
    return close + this.open(start, { kind, index: 0 });
  }

  private open(contentBlock: Record<string, unknown>, block: OpenBlock): string {
    const index = this.nextIndex++;
    this.block = { ...block, index };
    let out = sseEvent('content_block_start', {
      type: 'content_block_start',
      index,
      content_block: contentBlock,
    });
    if (!this.pinged) {
      this.pinged = true;
      out += sseEvent('ping', { type: 'ping' });
    }
    return out;
  }

  private delta(delta: Record<string, unknown>): string {
    return sseEvent('content_block_delta', { type: 'content_block_delta', index: this.block!.index, delta });
  }

  private close(): string {
    const b = this.block;
    if (!b) return '';
    this.block = undefined;
    return sseEvent('content_block_stop', { type: 'content_block_stop', index: b.index });
  }
}
