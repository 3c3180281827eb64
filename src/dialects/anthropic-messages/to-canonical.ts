import { effortForBudget } from '../../core/reasoning.js';
import { GatewayError } from '../../errors/gateway-error.js';
import type {
  MessagesContentBlock,
  MessagesRequest,
  MessagesToolResultBlock,
} from '../../types/anthropic-messages.js';
import type {
  ChatCompletionRequest,
  ChatMessage,
  ContentPart,
  FunctionTool,
  ThinkingBlock,
  ToolCall,
  ToolChoice,
} from '../../types/openai.js';

/**
 * Anthropic Messages request -> canonical chat request, for targets that do not speak Anthropic
 * (OpenAI-compatible, Gemini, mock). Anthropic targets never come through here: their requests go
 * upstream as sent (see passthrough.ts). What a non-Anthropic target cannot honour and that would
 * change the answer (documents, server tools, images inside tool results) is a 400 naming the field;
 * `cache_control` and `top_k` are hints without a chat equivalent and are dropped.
 */
export function fromMessagesRequest(req: MessagesRequest): ChatCompletionRequest {
  const messages: ChatMessage[] = [];
  const system = systemText(req.system);
  if (system !== '') messages.push({ role: 'system', content: system });
  req.messages.forEach((m, i) => {
    if (m.role === 'user') pushUser(messages, m.content, i);
    else pushAssistant(messages, m.content, i);
  });

  const out: ChatCompletionRequest = { model: req.model, messages, max_tokens: req.max_tokens };
  if (req.stream === true) {
    out.stream = true;
    out.stream_options = { include_usage: true };
  }
  if (req.temperature !== undefined) out.temperature = req.temperature;
  if (req.top_p !== undefined) out.top_p = req.top_p;
  if (req.stop_sequences && req.stop_sequences.length > 0) out.stop = req.stop_sequences;
  if (typeof req.metadata?.user_id === 'string') out.user = req.metadata.user_id;
  if (req.tools && req.tools.length > 0) out.tools = req.tools.map(toFunctionTool);
  if (req.tool_choice) {
    const { choice, parallel } = toToolChoice(req.tool_choice);
    if (choice !== undefined) out.tool_choice = choice;
    if (parallel === false && out.tools) out.parallel_tool_calls = false;
  }
  if (req.thinking?.type === 'enabled') out.reasoning_effort = effortForBudget(req.thinking.budget_tokens);
  else if (req.thinking?.type === 'adaptive') out.reasoning_effort = 'medium';
  return out;
}

function systemText(system: MessagesRequest['system']): string {
  if (system === undefined) return '';
  if (typeof system === 'string') return system;
  return system.map((b) => b.text).join('\n');
}

function unsupported(what: string, param: string): GatewayError {
  return new GatewayError(
    'unsupported_content',
    `${what} needs an Anthropic target; the model this request routes to cannot take it`,
    { param },
  );
}

function pushUser(out: ChatMessage[], content: string | MessagesContentBlock[], i: number): void {
  if (typeof content === 'string') {
    out.push({ role: 'user', content });
    return;
  }
  // Anthropic puts tool results first in the user turn; chat wants them as tool messages straight
  // after the assistant's calls, so they go out first, then whatever else the turn said.
  const parts: ContentPart[] = [];
  content.forEach((b, k) => {
    const param = `messages[${i}].content[${k}]`;
    switch (b.type) {
      case 'tool_result':
        out.push(toolMessage(b, param));
        break;
      case 'text':
        parts.push({ type: 'text', text: b.text });
        break;
      case 'image':
        parts.push(imagePart(b.source, param));
        break;
      case 'document':
        throw unsupported('a document block', param);
      default:
        throw new GatewayError('invalid_value', `a user message cannot contain a '${b.type}' block`, {
          param: `${param}.type`,
        });
    }
  });
  if (parts.length === 0) return;
  const only = parts.length === 1 ? parts[0] : undefined;
  out.push({ role: 'user', content: only?.type === 'text' ? only.text : parts });
}

function imagePart(source: { type: string; [k: string]: unknown }, param: string): ContentPart {
  if (source.type === 'base64') {
    return {
      type: 'image_url',
      image_url: { url: `data:${String(source.media_type)};base64,${String(source.data)}` },
    };
  }
  if (source.type === 'url') return { type: 'image_url', image_url: { url: String(source.url) } };
  throw unsupported(`an image with a '${source.type}' source`, `${param}.source`);
}

function toolMessage(b: MessagesToolResultBlock, param: string): ChatMessage {
  let text = '';
  if (typeof b.content === 'string') text = b.content;
  else if (b.content) {
    b.content.forEach((c, k) => {
      if (c.type !== 'text')
        throw unsupported(`a '${c.type}' block inside a tool result`, `${param}.content[${k}]`);
      text += (text === '' ? '' : '\n') + c.text;
    });
  }
  // Chat has no is_error flag; saying so in the content keeps the model informed.
  if (b.is_error === true) text = text === '' ? 'Error' : `Error: ${text}`;
  return { role: 'tool', tool_call_id: b.tool_use_id, content: text };
}

function pushAssistant(out: ChatMessage[], content: string | MessagesContentBlock[], i: number): void {
  if (typeof content === 'string') {
    out.push({ role: 'assistant', content });
    return;
  }
  let text: string | null = null;
  let reasoning: string | undefined;
  const thinking: ThinkingBlock[] = [];
  const calls: ToolCall[] = [];
  content.forEach((b, k) => {
    const param = `messages[${i}].content[${k}]`;
    switch (b.type) {
      case 'text':
        text = (text ?? '') + b.text;
        break;
      case 'thinking':
        reasoning = (reasoning ?? '') + b.thinking;
        thinking.push({ type: 'thinking', thinking: b.thinking, signature: b.signature });
        break;
      case 'redacted_thinking':
        thinking.push({ type: 'redacted_thinking', data: b.data });
        break;
      case 'tool_use':
        calls.push({
          id: b.id,
          type: 'function',
          function: { name: b.name, arguments: JSON.stringify(b.input ?? {}) },
        });
        break;
      default:
        throw new GatewayError('invalid_value', `an assistant message cannot contain a '${b.type}' block`, {
          param: `${param}.type`,
        });
    }
  });
  const msg: ChatMessage = { role: 'assistant', content: text };
  if (calls.length > 0) msg.tool_calls = calls;
  if (reasoning !== undefined) msg.reasoning_content = reasoning;
  if (thinking.length > 0) msg.thinking_blocks = thinking;
  out.push(msg);
}

function toFunctionTool(t: NonNullable<MessagesRequest['tools']>[number], k: number): FunctionTool {
  if (t.type !== undefined && t.type !== 'custom') {
    throw unsupported(`the server tool '${t.type}'`, `tools[${k}].type`);
  }
  const fn: FunctionTool['function'] = {
    name: t.name,
    parameters: t.input_schema ?? { type: 'object', properties: {} },
  };
  if (t.description !== undefined) fn.description = t.description;
  return { type: 'function', function: fn };
}

function toToolChoice(tc: NonNullable<MessagesRequest['tool_choice']>): {
  choice: ToolChoice | undefined;
  parallel: boolean | undefined;
} {
  const parallel =
    'disable_parallel_tool_use' in tc && tc.disable_parallel_tool_use === true ? false : undefined;
  switch (tc.type) {
    case 'auto':
      return { choice: 'auto', parallel };
    case 'any':
      return { choice: 'required', parallel };
    case 'tool':
      return { choice: { type: 'function', function: { name: tc.name } }, parallel };
    case 'none':
      return { choice: 'none', parallel: undefined };
  }
}
