import { GatewayError } from '../../errors/gateway-error.js';
import type {
  ChatCompletionRequest,
  ChatMessage,
  ContentPart,
  FunctionTool,
  ResponseFormat,
  ThinkingBlock,
  ToolChoice,
} from '../../types/openai.js';
import type {
  ResponsesInputContent,
  ResponsesInputItem,
  ResponsesRequest,
  ResponsesTextFormat,
  ResponsesToolChoice,
} from '../../types/responses.js';

/**
 * Responses API request -> canonical chat request. `history` is the conversation that
 * `previous_response_id` points at (its input and output items, oldest first); `resolveItem` finds a
 * stored item for `item_reference`, which the AI SDK sends for earlier outputs when `store` is on.
 */
export function fromResponsesRequest(
  req: ResponsesRequest,
  history: readonly ResponsesInputItem[],
  resolveItem: (id: string) => ResponsesInputItem | undefined,
): ChatCompletionRequest {
  const messages: ChatMessage[] = [];
  if (typeof req.instructions === 'string' && req.instructions !== '') {
    // Instructions are not carried over from a previous response, as OpenAI documents.
    messages.push({ role: 'system', content: req.instructions });
  }
  const items = inputItems(req.input);
  appendItems(messages, history, 'previous_response_id');
  appendItems(messages, items, 'input', resolveItem);
  if (messages.every((m) => m.role === 'system')) {
    throw new GatewayError('missing_required_parameter', 'input must contain at least one item', {
      param: 'input',
    });
  }

  const out: ChatCompletionRequest = { model: req.model, messages };
  if (req.stream === true) {
    out.stream = true;
    out.stream_options = { include_usage: true };
  }
  if (typeof req.max_output_tokens === 'number') out.max_completion_tokens = req.max_output_tokens;
  if (typeof req.temperature === 'number') out.temperature = req.temperature;
  if (typeof req.top_p === 'number') out.top_p = req.top_p;
  const user = req.safety_identifier ?? req.user;
  if (typeof user === 'string') out.user = user;
  if (req.tools && req.tools.length > 0) {
    out.tools = req.tools.map((t, k): FunctionTool => {
      if (t.type !== 'function') {
        throw new GatewayError(
          'unsupported_tool',
          `tool type '${String(t.type)}' is not supported; use function tools`,
          {
            param: `tools[${k}].type`,
          },
        );
      }
      const fn: FunctionTool['function'] = {
        name: t.name,
        parameters: t.parameters ?? { type: 'object', properties: {} },
      };
      if (t.description) fn.description = t.description;
      if (typeof t.strict === 'boolean') fn.strict = t.strict;
      return { type: 'function', function: fn };
    });
  }
  if (req.tool_choice !== undefined) out.tool_choice = toToolChoice(req.tool_choice);
  if (typeof req.parallel_tool_calls === 'boolean' && out.tools)
    out.parallel_tool_calls = req.parallel_tool_calls;
  const format = toResponseFormat(req.text?.format);
  if (format) out.response_format = format;
  const effort = req.reasoning?.effort;
  if (effort) out.reasoning_effort = effort;
  return out;
}

export function inputItems(input: ResponsesRequest['input']): ResponsesInputItem[] {
  if (input === undefined) return [];
  if (typeof input === 'string') return [{ role: 'user', content: input }];
  return input;
}

function appendItems(
  out: ChatMessage[],
  items: readonly ResponsesInputItem[],
  where: string,
  resolveItem?: (id: string) => ResponsesInputItem | undefined,
): void {
  // Reasoning items belong to the assistant turn that follows them.
  let pendingThinking: ThinkingBlock[] = [];
  let pendingReasoning = '';
  const assistant = (): ChatMessage => {
    const last = out.at(-1);
    // Consecutive assistant items (text, reasoning, function calls) form one chat turn.
    if (last && last.role === 'assistant' && !last.tool_calls) return last;
    const m: ChatMessage = { role: 'assistant', content: null };
    out.push(m);
    return m;
  };
  const flushThinking = (m: ChatMessage): void => {
    if (pendingThinking.length === 0 && pendingReasoning === '') return;
    if (pendingThinking.length > 0) m.thinking_blocks = [...(m.thinking_blocks ?? []), ...pendingThinking];
    if (pendingReasoning !== '') m.reasoning_content = (m.reasoning_content ?? '') + pendingReasoning;
    pendingThinking = [];
    pendingReasoning = '';
  };

  items.forEach((raw, i) => {
    const param = `${where}[${i}]`;
    let item = raw;
    if (item.type === 'item_reference') {
      const found = resolveItem?.(item.id);
      if (!found) {
        throw new GatewayError('item_not_found', `item '${item.id}' was not found among stored responses`, {
          param: `${param}.id`,
        });
      }
      item = found;
    }
    switch (item.type) {
      case 'function_call': {
        let m = out.at(-1);
        if (m?.role !== 'assistant') {
          m = { role: 'assistant', content: null };
          out.push(m);
        }
        flushThinking(m);
        const call = {
          id: item.call_id,
          type: 'function' as const,
          function: { name: item.name, arguments: item.arguments },
        };
        if (m.tool_calls) m.tool_calls.push(call);
        else m.tool_calls = [call];
        return;
      }
      case 'function_call_output':
        out.push({
          role: 'tool',
          tool_call_id: item.call_id,
          content: outputText(item.output, `${param}.output`),
        });
        return;
      case 'reasoning': {
        const text =
          (item.content ?? []).map((c) => c.text).join('') || item.summary.map((s) => s.text).join('\n');
        pendingReasoning += text;
        if (item.encrypted_content) {
          pendingThinking.push(decodeThinking(item.encrypted_content, text));
        }
        return;
      }
      case 'item_reference':
        // A stored item is never itself a reference.
        throw new GatewayError('invalid_value', 'item_reference cannot point at another reference', {
          param: `${param}.id`,
        });
      default: {
        const role = item.role;
        if (role === 'assistant') {
          const m = assistant();
          flushThinking(m);
          const text = assistantText(item.content, `${param}.content`);
          m.content = m.content === null ? text : `${String(m.content)}${text}`;
        } else {
          out.push({ role, content: userContent(item.content, `${param}.content`) });
        }
      }
    }
  });
}

/**
 * The gateway stores a signed thinking block in a reasoning item's `encrypted_content` as
 * `anthropic:<signature>` or `anthropic-redacted:<data>`; anything else is an opaque blob from an
 * OpenAI upstream, kept as the signature so it round-trips.
 */
export function decodeThinking(encrypted: string, text: string): ThinkingBlock {
  if (encrypted.startsWith('anthropic-redacted:')) {
    return { type: 'redacted_thinking', data: encrypted.slice('anthropic-redacted:'.length) };
  }
  const signature = encrypted.startsWith('anthropic:') ? encrypted.slice('anthropic:'.length) : encrypted;
  return { type: 'thinking', thinking: text, signature };
}

export function encodeThinking(b: ThinkingBlock): string {
  return b.type === 'redacted_thinking' ? `anthropic-redacted:${b.data}` : `anthropic:${b.signature ?? ''}`;
}

function assistantText(content: string | ResponsesInputContent[], param: string): string {
  if (typeof content === 'string') return content;
  let text = '';
  content.forEach((c, k) => {
    if (c.type === 'output_text' || c.type === 'input_text') text += c.text;
    else if (c.type === 'refusal') text += c.refusal;
    else
      throw new GatewayError('unsupported_content', `assistant content cannot be '${c.type}'`, {
        param: `${param}[${k}].type`,
      });
  });
  return text;
}

function userContent(content: string | ResponsesInputContent[], param: string): string | ContentPart[] {
  if (typeof content === 'string') return content;
  const parts: ContentPart[] = content.map((c, k): ContentPart => {
    switch (c.type) {
      case 'input_text':
      case 'output_text':
        return { type: 'text', text: c.text };
      case 'input_image':
        if (!c.image_url) {
          throw new GatewayError(
            'unsupported_content',
            'images must be given as image_url (file ids are not supported)',
            {
              param: `${param}[${k}]`,
            },
          );
        }
        return {
          type: 'image_url',
          image_url: { url: c.image_url, ...(c.detail ? { detail: c.detail } : {}) },
        };
      default:
        throw new GatewayError('unsupported_content', `content type '${c.type}' is not supported`, {
          param: `${param}[${k}].type`,
        });
    }
  });
  const only = parts.length === 1 ? parts[0] : undefined;
  return only?.type === 'text' ? only.text : parts;
}

function outputText(output: string | ResponsesInputContent[], param: string): string {
  if (typeof output === 'string') return output;
  return output
    .map((c, k) => {
      if (c.type === 'input_text' || c.type === 'output_text') return c.text;
      throw new GatewayError('unsupported_content', 'function_call_output may contain text only', {
        param: `${param}[${k}]`,
      });
    })
    .join('');
}

function toToolChoice(tc: ResponsesToolChoice): ToolChoice {
  if (typeof tc === 'string') return tc;
  if (tc.type === 'function') return { type: 'function', function: { name: tc.name } };
  // allowed_tools narrows the set; chat has no equivalent short of removing tools, so its mode stands.
  return tc.mode;
}

function toResponseFormat(f: ResponsesTextFormat | undefined): ResponseFormat | undefined {
  if (!f || f.type === 'text') return undefined;
  if (f.type === 'json_object') return { type: 'json_object' };
  const schema: NonNullable<ResponseFormat['json_schema']> = { name: f.name, schema: f.schema };
  if (typeof f.strict === 'boolean') schema.strict = f.strict;
  if (f.description) schema.description = f.description;
  return { type: 'json_schema', json_schema: schema };
}
