import { EFFORT_BUDGET_TOKENS } from '../../core/reasoning.js';
import type {
  AnthropicImageBlock,
  AnthropicMessageParam,
  AnthropicMessagesRequest,
  AnthropicOutputConfig,
  AnthropicRequestBlock,
  AnthropicTextBlock,
  AnthropicTool,
  AnthropicToolChoice,
  AnthropicToolResultBlock,
  AnthropicToolUseBlock,
} from '../../types/anthropic.js';
import type { ChatCompletionRequest, ChatMessage } from '../../types/openai.js';
import {
  appendAll,
  badRequest,
  type CanonicalImage,
  contentParts,
  parseToolArguments,
  refuseUnsupported,
  systemTexts,
  ToolCallLedger,
  visitMessages,
} from '../common/messages.js';
import type { AdapterContext } from '../types.js';

/** Canonical (OpenAI) chat request -> Anthropic Messages request. */

export function anthropicMessagesUrl(baseUrl: string): string {
  const base = baseUrl.replace(/\/+$/, '');
  // Operators copy base URLs from other SDKs' docs, some of which include the version segment.
  return base.endsWith('/v1') ? `${base}/messages` : `${base}/v1/messages`;
}

export function anthropicHeaders(ctx: AdapterContext): Record<string, string> {
  const h: Record<string, string> = {
    'content-type': 'application/json',
    'anthropic-version': ctx.provider.anthropicVersion,
    ...ctx.provider.headers,
  };
  if (ctx.provider.apiKey) h['x-api-key'] = ctx.provider.apiKey;
  return h;
}

export function toAnthropicRequest(
  req: ChatCompletionRequest,
  ctx: AdapterContext,
): AnthropicMessagesRequest {
  refuseUnsupported(req, ctx.provider.id, { n: false, logprobs: false });
  const { system, messages } = toAnthropicMessages(req.messages);
  const body: AnthropicMessagesRequest = {
    model: ctx.upstreamModel,
    // The Messages API requires max_tokens; OpenAI treats it as optional.
    max_tokens: req.max_completion_tokens ?? req.max_tokens ?? ctx.provider.defaultMaxTokens,
    messages,
  };
  if (system !== undefined) body.system = system;
  const tools = toAnthropicTools(req);
  if (tools) {
    body.tools = tools;
    const choice = toAnthropicToolChoice(req);
    // Anthropic rejects tool_choice without tools, while OpenAI clients often send it unconditionally.
    if (choice) body.tool_choice = choice;
  }
  const stop = typeof req.stop === 'string' ? [req.stop] : req.stop;
  if (stop && stop.length > 0) body.stop_sequences = stop;
  if (req.temperature !== undefined && req.temperature !== null) body.temperature = req.temperature;
  if (req.top_p !== undefined && req.top_p !== null) body.top_p = req.top_p;
  if (req.user) body.metadata = { user_id: req.user };
  const outputConfig = toOutputConfig(req, ctx.provider.id);
  if (outputConfig) body.output_config = outputConfig;
  const effort = req.reasoning_effort;
  if (effort && effort !== 'none') {
    const budget = EFFORT_BUDGET_TOKENS[effort];
    body.thinking = { type: 'enabled', budget_tokens: budget };
    // Anthropic counts thinking inside max_tokens and requires max_tokens > budget: the client's limit
    // stays the room for the visible answer.
    if (body.max_tokens <= budget) body.max_tokens += budget;
  }
  if (req.stream) body.stream = true;
  return body;
}

interface Turn {
  role: 'user' | 'assistant';
  blocks: AnthropicRequestBlock[];
}

function toAnthropicMessages(input: ChatMessage[]): {
  system: string | undefined;
  messages: AnthropicMessageParam[];
} {
  const system: string[] = [];
  const turns: Turn[] = [];
  const ledger = new ToolCallLedger();
  // Anthropic requires strictly alternating roles, and tool results travel as user content, so every
  // run of same-role messages (including tool results) becomes one turn.
  const append = (role: Turn['role'], blocks: AnthropicRequestBlock[]): void => {
    if (blocks.length === 0) return;
    const last = turns.at(-1);
    if (last && last.role === role) appendAll(last.blocks, blocks);
    else turns.push({ role, blocks });
  };

  visitMessages(input, {
    system: (m, i) => {
      const text = systemTexts(m, i).join('\n');
      if (text !== '') system.push(text);
    },
    user: (m, i) => append('user', contentBlocks(m.content, i)),
    assistant: (m, i) => {
      ledger.record(m);
      // Signed thinking blocks lead the turn, as Anthropic requires when thinking meets tool use.
      const blocks: AnthropicRequestBlock[] = thinkingParams(m);
      appendAll(blocks, contentBlocks(m.content, i));
      appendAll(blocks, toolUseBlocks(m, i));
      append('assistant', blocks);
    },
    tool: (m, i) => {
      ledger.answered(m, i);
      append('user', [toolResultBlock(m, i)]);
    },
  });

  return {
    system: system.length > 0 ? system.join('\n\n') : undefined,
    // A lone text block is sent as a plain string: the shorter, canonical form of the same content.
    messages: turns.map((t) => {
      const only = t.blocks.length === 1 ? t.blocks[0] : undefined;
      return { role: t.role, content: only?.type === 'text' ? only.text : t.blocks };
    }),
  };
}

function contentBlocks(
  content: ChatMessage['content'] | undefined,
  i: number,
): Array<AnthropicTextBlock | AnthropicImageBlock> {
  return contentParts(content, i).map((p) =>
    p.kind === 'text' ? { type: 'text', text: p.text } : imageBlock(p.image),
  );
}

function imageBlock(image: CanonicalImage): AnthropicImageBlock {
  return image.kind === 'base64'
    ? { type: 'image', source: { type: 'base64', media_type: image.mediaType, data: image.data } }
    : { type: 'image', source: { type: 'url', url: image.url } };
}

function toolUseBlocks(m: ChatMessage, i: number): AnthropicToolUseBlock[] {
  return (m.tool_calls ?? []).map((tc, j) => ({
    type: 'tool_use',
    id: tc.id,
    name: tc.function.name,
    input: parseToolArguments(tc.function.arguments, `messages[${i}].tool_calls[${j}].function.arguments`),
  }));
}

function toolResultBlock(m: ChatMessage, i: number): AnthropicToolResultBlock {
  const block: AnthropicToolResultBlock = { type: 'tool_result', tool_use_id: m.tool_call_id! };
  if (typeof m.content === 'string') {
    if (m.content !== '') block.content = m.content;
  } else if (m.content !== null && m.content !== undefined) {
    const blocks = contentBlocks(m.content, i);
    if (blocks.length > 0) block.content = blocks;
  }
  return block;
}

/**
 * OpenAI's json_schema becomes Anthropic's native structured output (`output_config.format`, Messages
 * API). json_object has no faithful equivalent (Anthropic's format needs a schema, and `{type: object}`
 * alone is not accepted as "any object"), so it is refused rather than silently dropped.
 */
function thinkingParams(m: ChatMessage): AnthropicRequestBlock[] {
  const out: AnthropicRequestBlock[] = [];
  for (const b of m.thinking_blocks ?? []) {
    // Unsigned reasoning (from another provider) cannot be verified by Anthropic and is not sent.
    if (b.type === 'redacted_thinking') out.push({ type: 'redacted_thinking', data: b.data });
    else if (b.signature) out.push({ type: 'thinking', thinking: b.thinking, signature: b.signature });
  }
  return out;
}

function toOutputConfig(req: ChatCompletionRequest, provider: string): AnthropicOutputConfig | undefined {
  const rf = req.response_format;
  if (!rf || rf.type === 'text') return undefined;
  if (rf.type === 'json_schema') {
    const schema = rf.json_schema?.schema;
    if (!schema) {
      throw badRequest(
        'invalid_request',
        'response_format.json_schema.schema is required for Anthropic structured output',
        'response_format.json_schema.schema',
      );
    }
    return { format: { type: 'json_schema', schema } };
  }
  throw badRequest(
    'unsupported_parameter',
    `provider '${provider}' (anthropic) has no JSON mode without a schema; use response_format type json_schema`,
    'response_format.type',
  );
}

function toAnthropicTools(req: ChatCompletionRequest): AnthropicTool[] | undefined {
  if (!req.tools || req.tools.length === 0) return undefined;
  return req.tools.map((t) => {
    const tool: AnthropicTool = {
      name: t.function.name,
      input_schema: t.function.parameters ?? { type: 'object', properties: {} },
    };
    if (t.function.description !== undefined) tool.description = t.function.description;
    return tool;
  });
}

function toAnthropicToolChoice(req: ChatCompletionRequest): AnthropicToolChoice | undefined {
  const tc = req.tool_choice;
  if (tc === 'none') return { type: 'none' };
  let choice: Exclude<AnthropicToolChoice, { type: 'none' }> | undefined;
  if (tc === 'auto') choice = { type: 'auto' };
  else if (tc === 'required') choice = { type: 'any' };
  else if (typeof tc === 'object' && tc !== null) choice = { type: 'tool', name: tc.function.name };
  if (req.parallel_tool_calls === false)
    return { ...(choice ?? { type: 'auto' }), disable_parallel_tool_use: true };
  return choice;
}
