import type { GatewayError } from '../../errors/gateway-error.js';
import type { ChatCompletionChunk, FinishReason, Usage } from '../../types/openai.js';
import type {
  ResponseObject,
  ResponsesOutputFunctionCall,
  ResponsesOutputItem,
  ResponsesOutputMessage,
  ResponsesReasoningItem,
} from '../../types/responses.js';
import {
  idBase,
  incompleteReason,
  type ResponseContext,
  responseShell,
  toResponsesUsage,
} from './from-canonical.js';
import { encodeThinking } from './to-canonical.js';

/**
 * Canonical chunks -> the Responses API's streaming events, in OpenAI's order:
 *
 *   response.created, response.in_progress,
 *   per output item: response.output_item.added,
 *     message:   content_part.added, output_text.delta*, output_text.done, content_part.done
 *     function:  function_call_arguments.delta*, function_call_arguments.done
 *     reasoning: reasoning_summary_part.added, reasoning_summary_text.delta*, ..text.done, ..part.done
 *   response.output_item.done; finally response.completed (or response.incomplete).
 *
 * Every event carries `sequence_number`, counting from 0. The encoder returns event objects so the
 * same sequence serves SSE and WebSocket mode.
 */

export interface ResponsesEvent {
  type: string;
  sequence_number: number;
  [field: string]: unknown;
}

type Open =
  | { kind: 'message'; item: ResponsesOutputMessage; index: number; text: string }
  | { kind: 'reasoning'; item: ResponsesReasoningItem; index: number; text: string; signed: boolean }
  | { kind: 'function'; item: ResponsesOutputFunctionCall; index: number; toolIndex: number };

export function sseFrame(ev: ResponsesEvent): string {
  return `event: ${ev.type}\ndata: ${JSON.stringify(ev)}\n\n`;
}

export class ResponsesStreamEncoder {
  private seq = 0;
  private readonly base: string;
  private readonly output: ResponsesOutputItem[] = [];
  private open: Open | undefined;
  private finish: FinishReason | null = null;
  private usage: Usage | null = null;
  private reasoningCount = 0;
  private toolCount = 0;
  private final: ResponseObject | undefined;

  constructor(private readonly ctx: ResponseContext) {
    this.base = idBase(ctx.id);
  }

  start(): ResponsesEvent[] {
    const shell = responseShell(this.ctx);
    return [
      this.ev('response.created', { response: shell }),
      this.ev('response.in_progress', { response: responseShell(this.ctx) }),
    ];
  }

  push(chunk: ChatCompletionChunk): ResponsesEvent[] {
    const out: ResponsesEvent[] = [];
    if (chunk.usage) this.usage = chunk.usage;
    const choice = chunk.choices[0];
    if (!choice) return out;
    const d = choice.delta;
    if (d.reasoning_content) this.reasoningText(d.reasoning_content, out);
    for (const b of d.thinking_blocks ?? []) {
      if (b.type === 'redacted_thinking') {
        this.close(out);
        this.openReasoning(out, encodeThinking(b));
        this.close(out);
        continue;
      }
      if (b.thinking) this.reasoningText(b.thinking, out);
      if (b.signature) {
        if (this.open?.kind !== 'reasoning') this.openReasoning(out);
        const open = this.open as Extract<Open, { kind: 'reasoning' }>;
        open.item.encrypted_content = encodeThinking(b);
        open.signed = true;
      }
    }
    if (d.content) {
      if (this.open?.kind !== 'message') {
        this.close(out);
        const item: ResponsesOutputMessage = {
          type: 'message',
          id: `msg_${this.base}`,
          status: 'in_progress',
          role: 'assistant',
          content: [],
        };
        const index = this.output.length;
        this.open = { kind: 'message', item, index, text: '' };
        out.push(
          this.ev('response.output_item.added', { output_index: index, item: { ...item, content: [] } }),
        );
        out.push(
          this.ev('response.content_part.added', {
            item_id: item.id,
            output_index: index,
            content_index: 0,
            part: { type: 'output_text', text: '', annotations: [], logprobs: [] },
          }),
        );
      }
      const open = this.open as Extract<Open, { kind: 'message' }>;
      open.text += d.content;
      out.push(
        this.ev('response.output_text.delta', {
          item_id: open.item.id,
          output_index: open.index,
          content_index: 0,
          delta: d.content,
          logprobs: [],
        }),
      );
    }
    for (const tc of d.tool_calls ?? []) {
      const open = this.open;
      if (open?.kind !== 'function' || open.toolIndex !== tc.index) {
        this.close(out);
        const item: ResponsesOutputFunctionCall = {
          type: 'function_call',
          id: `fc_${this.base}_${this.toolCount++}`,
          call_id: tc.id ?? '',
          name: tc.function?.name ?? '',
          arguments: '',
          status: 'in_progress',
        };
        const index = this.output.length;
        this.open = { kind: 'function', item, index, toolIndex: tc.index };
        out.push(this.ev('response.output_item.added', { output_index: index, item: { ...item } }));
      }
      const args = tc.function?.arguments;
      if (args) {
        const f = this.open as Extract<Open, { kind: 'function' }>;
        f.item.arguments += args;
        out.push(
          this.ev('response.function_call_arguments.delta', {
            item_id: f.item.id,
            output_index: f.index,
            delta: args,
          }),
        );
      }
    }
    if (choice.finish_reason) this.finish = choice.finish_reason;
    return out;
  }

  /** The upstream finished: close the open item and complete the response. */
  end(): ResponsesEvent[] {
    const out: ResponsesEvent[] = [];
    this.close(out);
    const res = responseShell(this.ctx);
    const reason = incompleteReason(this.finish);
    res.status = reason ? 'incomplete' : 'completed';
    if (reason) res.incomplete_details = { reason };
    res.output = this.output;
    res.usage = toResponsesUsage(this.usage);
    this.final = res;
    out.push(this.ev(reason ? 'response.incomplete' : 'response.completed', { response: res }));
    return out;
  }

  /** The stream broke after it started: OpenAI's `error` event; nothing follows it. */
  error(err: GatewayError): ResponsesEvent {
    return this.ev('error', { code: err.code, message: err.message, param: err.param });
  }

  /** The finished response (after end()), for storage. */
  result(): ResponseObject | undefined {
    return this.final;
  }

  private reasoningText(text: string, out: ResponsesEvent[]): void {
    const open = this.open;
    if (open?.kind !== 'reasoning' || open.signed) {
      this.close(out);
      this.openReasoning(out);
    }
    const r = this.open as Extract<Open, { kind: 'reasoning' }>;
    if (r.text === '') {
      out.push(
        this.ev('response.reasoning_summary_part.added', {
          item_id: r.item.id,
          output_index: r.index,
          summary_index: 0,
          part: { type: 'summary_text', text: '' },
        }),
      );
    }
    r.text += text;
    out.push(
      this.ev('response.reasoning_summary_text.delta', {
        item_id: r.item.id,
        output_index: r.index,
        summary_index: 0,
        delta: text,
      }),
    );
  }

  private openReasoning(out: ResponsesEvent[], encrypted?: string): void {
    const item: ResponsesReasoningItem = {
      id: `rs_${this.base}_${this.reasoningCount++}`,
      type: 'reasoning',
      summary: [],
    };
    if (encrypted !== undefined) item.encrypted_content = encrypted;
    const index = this.output.length;
    this.open = { kind: 'reasoning', item, index, text: '', signed: encrypted !== undefined };
    out.push(this.ev('response.output_item.added', { output_index: index, item: { ...item, summary: [] } }));
  }

  private close(out: ResponsesEvent[]): void {
    const open = this.open;
    if (!open) return;
    this.open = undefined;
    if (open.kind === 'message') {
      const part = { type: 'output_text' as const, text: open.text, annotations: [], logprobs: [] };
      const common = { item_id: open.item.id, output_index: open.index, content_index: 0 };
      out.push(this.ev('response.output_text.done', { ...common, text: open.text, logprobs: [] }));
      out.push(this.ev('response.content_part.done', { ...common, part }));
      open.item.status = 'completed';
      open.item.content = [part];
    } else if (open.kind === 'function') {
      out.push(
        this.ev('response.function_call_arguments.done', {
          item_id: open.item.id,
          output_index: open.index,
          name: open.item.name,
          arguments: open.item.arguments,
        }),
      );
      open.item.status = 'completed';
    } else if (open.text !== '') {
      const common = { item_id: open.item.id, output_index: open.index, summary_index: 0 };
      out.push(this.ev('response.reasoning_summary_text.done', { ...common, text: open.text }));
      out.push(
        this.ev('response.reasoning_summary_part.done', {
          ...common,
          part: { type: 'summary_text', text: open.text },
        }),
      );
      open.item.summary = [{ type: 'summary_text', text: open.text }];
    }
    this.output.push(open.item);
    out.push(this.ev('response.output_item.done', { output_index: open.index, item: open.item }));
  }

  private ev(type: string, fields: Record<string, unknown>): ResponsesEvent {
    return { type, sequence_number: this.seq++, ...fields };
  }
}
