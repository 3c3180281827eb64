import { type ErrorCode, GatewayError } from '../../errors/gateway-error.js';
import type { ChatCompletionRequest, ChatMessage, ContentPart, ToolCall } from '../../types/openai.js';

/**
 * What the Anthropic and Gemini adapters do alike when they take an OpenAI chat request apart: walk the
 * messages by role, read system text, normalise content parts and image URLs, parse tool-call arguments,
 * pair tool results with the calls they answer, and refuse parameters that would change the shape of the
 * answer. One place, so the same client mistake gets the same code and param whatever the provider
 * (docs/errors.md lists them).
 */

export function badRequest(code: ErrorCode, message: string, param: string): GatewayError {
  return new GatewayError(code, message, { param });
}

export type CanonicalImage =
  | { kind: 'base64'; mediaType: string; data: string }
  | { kind: 'url'; url: string };

export type CanonicalPart = { kind: 'text'; text: string } | { kind: 'image'; image: CanonicalImage };

/** One callback per role; an unknown role is the same 400 for every provider. */
export interface MessageVisitor {
  system(m: ChatMessage, i: number): void;
  user(m: ChatMessage, i: number): void;
  assistant(m: ChatMessage, i: number): void;
  tool(m: ChatMessage, i: number): void;
}

export function visitMessages(messages: readonly ChatMessage[], v: MessageVisitor): void {
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i]!;
    switch (m.role) {
      case 'system':
      case 'developer':
        v.system(m, i);
        break;
      case 'user':
        v.user(m, i);
        break;
      case 'assistant':
        v.assistant(m, i);
        break;
      case 'tool':
        v.tool(m, i);
        break;
      default:
        throw badRequest(
          'invalid_value',
          `unsupported message role '${String(m.role)}'`,
          `messages[${i}].role`,
        );
    }
  }
}

/** The text of each part of a system or developer message; any other part is refused. */
export function systemTexts(m: ChatMessage, i: number): string[] {
  if (m.content === null || m.content === undefined) return [];
  if (typeof m.content === 'string') return m.content === '' ? [] : [m.content];
  const out: string[] = [];
  for (let k = 0; k < m.content.length; k++) {
    const p = m.content[k]!;
    if (p.type !== 'text') {
      throw badRequest(
        'unsupported_content',
        `${m.role} messages may contain text parts only`,
        `messages[${i}].content[${k}]`,
      );
    }
    if (p.text !== '') out.push(p.text);
  }
  return out;
}

/**
 * Content in provider-neutral parts. Empty text is dropped: both providers reject empty text blocks, and
 * OpenAI clients send `content: ""` (or no content at all) next to tool_calls routinely.
 */
export function contentParts(content: ChatMessage['content'] | undefined, i: number): CanonicalPart[] {
  if (content === null || content === undefined) return [];
  if (typeof content === 'string') return content === '' ? [] : [{ kind: 'text', text: content }];
  const out: CanonicalPart[] = [];
  for (let k = 0; k < content.length; k++) {
    const p = content[k]! as ContentPart;
    if (p.type === 'text') {
      if (p.text !== '') out.push({ kind: 'text', text: p.text });
    } else if (p.type === 'image_url') {
      out.push({
        kind: 'image',
        image: parseImageUrl(p.image_url.url, `messages[${i}].content[${k}].image_url.url`),
      });
    } else {
      throw badRequest(
        'unsupported_content',
        `unsupported content part type '${String((p as { type: unknown }).type)}'`,
        `messages[${i}].content[${k}].type`,
      );
    }
  }
  return out;
}

const DATA_URL = /^data:([^;,]+)?((?:;[^;,]*)*?)(;base64)?,(.*)$/s;

/** A `data:` URL (base64 or percent-encoded) or an http(s) URL; anything else is refused. */
export function parseImageUrl(url: string, param: string): CanonicalImage {
  const data = DATA_URL.exec(url);
  if (data) {
    const mediaType = data[1] ?? 'text/plain';
    const payload = data[4] ?? '';
    if (data[3]) return { kind: 'base64', mediaType, data: payload };
    // Percent-encoded data URLs are valid too; both providers want base64.
    let decoded: string;
    try {
      decoded = decodeURIComponent(payload);
    } catch {
      throw badRequest('invalid_image_url', 'image_url is a malformed data: URL', param);
    }
    return { kind: 'base64', mediaType, data: Buffer.from(decoded, 'utf8').toString('base64') };
  }
  if (/^https?:\/\//i.test(url)) return { kind: 'url', url };
  throw badRequest('invalid_image_url', 'image URLs must be http(s) or data: URLs', param);
}

/** A tool call's `arguments` as the object both providers want. */
export function parseToolArguments(args: string, param: string): Record<string, unknown> {
  // Models emit "" for argument-less calls, and clients echo it back verbatim.
  if (args.trim() === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(args);
  } catch {
    throw badRequest('invalid_tool_call_arguments', 'tool call arguments must be valid JSON', param);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw badRequest('invalid_tool_call_arguments', 'tool call arguments must be a JSON object', param);
  }
  return parsed as Record<string, unknown>;
}

/**
 * The tool calls of earlier assistant messages, so each tool message can be checked against the call it
 * answers (and Gemini, whose functionResponse is keyed by name, can find the name).
 */
export class ToolCallLedger {
  private readonly calls = new Map<string, ToolCall>();

  record(m: ChatMessage): void {
    for (const tc of m.tool_calls ?? []) this.calls.set(tc.id, tc);
  }

  /** The call a tool message answers; a missing or unknown id is the same 400 for every provider. */
  answered(m: ChatMessage, i: number): ToolCall {
    const id = m.tool_call_id;
    if (id === undefined || id === '') {
      throw badRequest(
        'missing_required_parameter',
        'tool messages require tool_call_id',
        `messages[${i}].tool_call_id`,
      );
    }
    const call = this.calls.get(id);
    if (!call) {
      throw badRequest(
        'unknown_tool_call_id',
        `tool_call_id '${id.slice(0, 64)}' does not answer a tool call of an earlier assistant message`,
        `messages[${i}].tool_call_id`,
      );
    }
    return call;
  }
}

/** The text of a tool message's content (text parts joined; other parts carry nothing a tool result can). */
export function toolResultText(m: ChatMessage): string {
  if (typeof m.content === 'string') return m.content;
  const texts: string[] = [];
  for (const p of m.content ?? []) if (p.type === 'text') texts.push(p.text);
  return texts.join('');
}

/** Appends in a loop: spreading a 130,000-element array into push() overflows the stack. */
export function appendAll<T>(into: T[], items: readonly T[]): void {
  for (let k = 0; k < items.length; k++) into.push(items[k]!);
}

/**
 * Parameters that change the shape of the answer and that a provider cannot honour: a 400 naming the
 * parameter, never a silent drop (the client would get one choice for n=3, or no logprobs, with a 200).
 */
export function refuseUnsupported(
  req: ChatCompletionRequest,
  provider: string,
  opts: { n: boolean; logprobs: boolean },
): void {
  if (!opts.n && typeof req.n === 'number' && req.n > 1) {
    throw badRequest(
      'unsupported_parameter',
      `provider '${provider}' returns one choice per request; n=${req.n} is not supported`,
      'n',
    );
  }
  if (!opts.logprobs) {
    if (req.logprobs === true) {
      throw badRequest(
        'unsupported_parameter',
        `provider '${provider}' does not return logprobs`,
        'logprobs',
      );
    }
    if (req.top_logprobs !== undefined && req.top_logprobs !== null) {
      throw badRequest(
        'unsupported_parameter',
        `provider '${provider}' does not return logprobs`,
        'top_logprobs',
      );
    }
  }
}
