import { GatewayError } from '../../errors/gateway-error.js';
import type {
  AnthropicImageBlock,
  AnthropicMessageParam,
  AnthropicMessagesRequest,
  AnthropicRequestBlock,
  AnthropicTextBlock,
  AnthropicTool,
  AnthropicToolChoice,
  AnthropicToolResultBlock,
  AnthropicToolUseBlock,
} from '../../types/anthropic.js';
import type { ChatCompletionRequest, ChatMessage, ContentPart } from '../../types/openai.js';
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
  // Anthropic requires strictly alternating roles, and tool results travel as user content, so every
  // run of same-role messages (including tool results) becomes one turn.
  const append = (role: Turn['role'], blocks: AnthropicRequestBlock[]): void => {
    if (blocks.length === 0) return;
    const last = turns.at(-1);
    if (last && last.role === role) last.blocks.push(...blocks);
    else turns.push({ role, blocks: [...blocks] });
  };

  input.forEach((m, i) => {
    switch (m.role) {
      case 'system':
      case 'developer': {
        const text = systemText(m, i);
        if (text !== '') system.push(text);
        break;
      }
      case 'user':
        append('user', contentBlocks(m.content, i));
        break;
      case 'assistant':
        append('assistant', [...contentBlocks(m.content, i), ...toolUseBlocks(m, i)]);
        break;
      case 'tool':
        append('user', [toolResultBlock(m, i)]);
        break;
      default:
        throw new GatewayError(400, 'invalid_value', `unsupported message role '${String(m.role)}'`, {
          param: `messages[${i}].role`,
        });
    }
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

function systemText(m: ChatMessage, i: number): string {
  if (m.content === null || typeof m.content === 'string') return m.content ?? '';
  return m.content
    .map((p, k) => {
      if (p.type !== 'text') {
        throw new GatewayError(400, 'unsupported_content', `${m.role} messages may contain text parts only`, {
          param: `messages[${i}].content[${k}]`,
        });
      }
      return p.text;
    })
    .join('\n');
}

function contentBlocks(
  content: string | ContentPart[] | null,
  i: number,
): Array<AnthropicTextBlock | AnthropicImageBlock> {
  if (content === null) return [];
  // Anthropic rejects empty text blocks ("text content blocks must be non-empty"); OpenAI clients send
  // content "" next to tool_calls routinely.
  if (typeof content === 'string') return content === '' ? [] : [{ type: 'text', text: content }];
  const blocks: Array<AnthropicTextBlock | AnthropicImageBlock> = [];
  content.forEach((p, k) => {
    if (p.type === 'text') {
      if (p.text !== '') blocks.push({ type: 'text', text: p.text });
    } else if (p.type === 'image_url') {
      blocks.push(imageBlock(p.image_url.url, `messages[${i}].content[${k}].image_url.url`));
    } else {
      throw new GatewayError(
        400,
        'unsupported_content',
        `unsupported content part type '${String((p as { type: unknown }).type)}'`,
        {
          param: `messages[${i}].content[${k}].type`,
        },
      );
    }
  });
  return blocks;
}

const DATA_URL_RE = /^data:([^;,]+)((?:;[^;,]*)*),(.*)$/s;

function imageBlock(url: string, param: string): AnthropicImageBlock {
  if (url.startsWith('data:')) {
    const m = DATA_URL_RE.exec(url);
    const params = m?.[2]?.split(';') ?? [];
    if (!m || !params.includes('base64')) {
      throw new GatewayError(
        400,
        'invalid_image_url',
        'image data URLs must be base64 encoded (data:<media type>;base64,...)',
        {
          param,
        },
      );
    }
    return { type: 'image', source: { type: 'base64', media_type: m[1]!, data: m[3]! } };
  }
  if (/^https?:\/\//i.test(url)) return { type: 'image', source: { type: 'url', url } };
  throw new GatewayError(400, 'invalid_image_url', 'image URLs must be http(s) or base64 data URLs', {
    param,
  });
}

function toolUseBlocks(m: ChatMessage, i: number): AnthropicToolUseBlock[] {
  return (m.tool_calls ?? []).map((tc, j) => ({
    type: 'tool_use',
    id: tc.id,
    name: tc.function.name,
    input: parseArguments(tc.function.arguments, `messages[${i}].tool_calls[${j}].function.arguments`),
  }));
}

function parseArguments(args: string, param: string): Record<string, unknown> {
  // Models emit "" for argument-less calls, and clients echo it back verbatim.
  if (args.trim() === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(args);
  } catch {
    throw new GatewayError(400, 'invalid_tool_call_arguments', 'tool call arguments must be valid JSON', {
      param,
    });
  }
  // Anthropic's tool_use.input must be an object; a bare JSON value would be rejected upstream less clearly.
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new GatewayError(400, 'invalid_tool_call_arguments', 'tool call arguments must be a JSON object', {
      param,
    });
  }
  return parsed as Record<string, unknown>;
}

function toolResultBlock(m: ChatMessage, i: number): AnthropicToolResultBlock {
  if (!m.tool_call_id) {
    throw new GatewayError(400, 'missing_required_parameter', 'tool messages require tool_call_id', {
      param: `messages[${i}].tool_call_id`,
    });
  }
  const block: AnthropicToolResultBlock = { type: 'tool_result', tool_use_id: m.tool_call_id };
  if (typeof m.content === 'string') {
    if (m.content !== '') block.content = m.content;
  } else if (m.content !== null) {
    const blocks = contentBlocks(m.content, i);
    if (blocks.length > 0) block.content = blocks;
  }
  return block;
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
