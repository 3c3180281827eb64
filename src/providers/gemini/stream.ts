import { parseJsonLenient, streamInterrupted } from '../../core/classify.js';
import type { GeminiUsageMetadata } from '../../types/gemini.js';
import type { ChatCompletionChunk, ChunkChoice, FinishReason, ToolCallDelta } from '../../types/openai.js';
import type { AdapterContext, SseEvent, StreamTranslator } from '../types.js';
import {
  asGenerateContentResponse,
  blockedPromptError,
  completionId,
  fromGeminiError,
  functionCallsOf,
  textOf,
  thoughtsOf,
  toFinishReason,
  toToolCall,
  toUsage,
} from './response.js';
import { isPlainObject } from './schema.js';

/**
 * streamGenerateContent?alt=sse sends one complete GenerateContentResponse per `data:` event: text parts
 * are increments, function calls arrive whole (never split across events), the last event carries
 * finishReason, and usageMetadata is cumulative, so only the latest one counts.
 */
export class GeminiStreamTranslator implements StreamTranslator {
  private id: string | undefined;
  /** Choices that already sent `delta.role`. */
  private readonly started = new Set<number>();
  /** Per choice: how many tool calls it streamed, which is the next tool_calls[].index. */
  private readonly toolCounts = new Map<number, number>();
  private readonly finished = new Set<number>();
  /** Across all choices, so generated tool-call ids never collide. */
  private toolOrdinal = 0;
  private usage: GeminiUsageMetadata | undefined;

  constructor(private readonly ctx: AdapterContext) {}

  push(ev: SseEvent): ChatCompletionChunk[] {
    const parsed = parseJsonLenient(ev.data);
    if (parsed === undefined) throw streamInterrupted(this.ctx.provider.id, 'malformed JSON in stream event');
    if (isPlainObject(parsed) && isPlainObject(parsed.error)) {
      const code = parsed.error.code;
      throw fromGeminiError(parsed, typeof code === 'number' ? code : 500, {}, this.ctx);
    }
    const res = asGenerateContentResponse(parsed, this.ctx);
    const blocked = blockedPromptError(res, this.ctx);
    if (blocked) throw blocked;
    this.id ??= completionId(this.ctx, res.responseId);
    if (res.usageMetadata) this.usage = res.usageMetadata;

    const out: ChatCompletionChunk[] = [];
    (res.candidates ?? []).forEach((c, position) => {
      const index = c.index ?? position;
      if (this.finished.has(index)) return;
      const parts = c.content?.parts ?? [];
      const delta: ChunkChoice['delta'] = {};
      const thoughts = thoughtsOf(parts);
      if (thoughts) delta.reasoning_content = thoughts;
      const text = textOf(parts);
      if (text) delta.content = text;
      const calls = functionCallsOf(parts);
      if (calls.length > 0) {
        delta.tool_calls = calls.map((fc): ToolCallDelta => {
          const n = this.toolCounts.get(index) ?? 0;
          this.toolCounts.set(index, n + 1);
          return { index: n, ...toToolCall(this.ctx, this.toolOrdinal++, fc) };
        });
      }
      if (
        delta.content !== undefined ||
        delta.tool_calls !== undefined ||
        delta.reasoning_content !== undefined
      ) {
        out.push(this.chunk([{ index, delta: this.withRole(index, delta), finish_reason: null }]));
      }
      if (c.finishReason) {
        this.finished.add(index);
        const reason: FinishReason = toFinishReason(c.finishReason, this.toolCounts.has(index));
        // A candidate blocked before any output still has to open with the assistant role.
        out.push(this.chunk([{ index, delta: this.withRole(index, {}), finish_reason: reason }]));
      }
    });
    return out;
  }

  end(): ChatCompletionChunk[] {
    if (this.finished.size === 0) {
      throw streamInterrupted(this.ctx.provider.id, 'stream ended without a finishReason');
    }
    if (!this.usage) return [];
    // Always sent; the service drops it when the client did not ask for stream usage.
    return [{ ...this.chunk([]), usage: toUsage(this.usage) }];
  }

  private withRole(index: number, delta: ChunkChoice['delta']): ChunkChoice['delta'] {
    if (this.started.has(index)) return delta;
    this.started.add(index);
    return { role: 'assistant', ...delta };
  }

  private chunk(choices: ChunkChoice[]): ChatCompletionChunk {
    return {
      id: this.id ?? completionId(this.ctx, undefined),
      object: 'chat.completion.chunk',
      created: this.ctx.now,
      model: this.ctx.upstreamModel,
      choices,
    };
  }
}
