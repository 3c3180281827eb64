import { GatewayError } from '../../errors/gateway-error.js';
import type {
  GeminiContent,
  GeminiGenerateContentRequest,
  GeminiGenerationConfig,
  GeminiPart,
  GeminiRole,
  GeminiSchema,
  GeminiTool,
  GeminiToolConfig,
} from '../../types/gemini.js';
import type { ChatCompletionRequest, ChatMessage, ContentPart, ToolChoice } from '../../types/openai.js';
import type { AdapterContext } from '../types.js';
import { isPlainObject, toGeminiSchema } from './schema.js';

export type GeminiMethod = 'generateContent' | 'streamGenerateContent' | 'batchEmbedContents';

export function geminiUrl(ctx: AdapterContext, method: GeminiMethod): string {
  // Accept both `gemini-2.0-flash` and the resource form `models/gemini-2.0-flash` in config.
  const model = ctx.upstreamModel.replace(/^models\//, '');
  const url = `${ctx.provider.baseUrl}/v1beta/models/${model}:${method}`;
  // Without alt=sse the stream is one long JSON array, which an SSE parser cannot frame.
  return method === 'streamGenerateContent' ? `${url}?alt=sse` : url;
}

export function geminiHeaders(ctx: AdapterContext): Record<string, string> {
  const h: Record<string, string> = { 'content-type': 'application/json', ...ctx.provider.headers };
  // A header rather than `?key=`: URLs end up in access logs and error messages, headers do not.
  if (ctx.provider.apiKey) h['x-goog-api-key'] = ctx.provider.apiKey;
  return h;
}

function invalid(message: string, param: string, code = 'invalid_request'): GatewayError {
  return new GatewayError(400, code, message, { param });
}

export function toGeminiRequest(req: ChatCompletionRequest): GeminiGenerateContentRequest {
  const system: GeminiPart[] = [];
  const contents: GeminiContent[] = [];
  // Gemini's functionResponse is keyed by function name; OpenAI's tool message only carries the call id.
  const callNames = new Map<string, string>();

  const append = (role: GeminiRole, parts: GeminiPart[]): void => {
    if (parts.length === 0) return;
    const last = contents[contents.length - 1];
    // Gemini expects turns to alternate; merging same-role neighbours also merges parallel tool results.
    if (last && last.role === role) last.parts.push(...parts);
    else contents.push({ role, parts });
  };

  req.messages.forEach((m, i) => {
    switch (m.role) {
      case 'system':
      case 'developer':
        system.push(...systemParts(m, i));
        break;
      case 'user':
        append('user', contentParts(m.content, i));
        break;
      case 'assistant':
        append('model', assistantParts(m, i, callNames));
        break;
      case 'tool':
        append('user', [toolResultPart(m, i, callNames)]);
        break;
      default:
        throw invalid(`unsupported message role '${String(m.role)}'`, `messages[${i}].role`);
    }
  });

  const body: GeminiGenerateContentRequest = { contents };
  if (system.length > 0) body.systemInstruction = { parts: system };
  const generationConfig = toGenerationConfig(req);
  if (Object.keys(generationConfig).length > 0) body.generationConfig = generationConfig;
  if (req.tools && req.tools.length > 0) body.tools = toTools(req);
  if (req.tool_choice !== undefined) body.toolConfig = toToolConfig(req.tool_choice);
  return body;
}

function systemParts(m: ChatMessage, i: number): GeminiPart[] {
  const parts = contentParts(m.content, i);
  // systemInstruction documents text-only parts.
  if (parts.some((p) => p.text === undefined)) {
    throw invalid('system and developer messages may only contain text', `messages[${i}].content`);
  }
  return parts;
}

function contentParts(content: ChatMessage['content'], i: number): GeminiPart[] {
  if (content === null || content === undefined) return [];
  // Gemini rejects empty text parts, and an empty OpenAI message means "nothing to say".
  if (typeof content === 'string') return content === '' ? [] : [{ text: content }];
  const parts: GeminiPart[] = [];
  content.forEach((p: ContentPart, j) => {
    if (p.type === 'text') {
      if (p.text !== '') parts.push({ text: p.text });
    } else if (p.type === 'image_url') {
      parts.push(imagePart(p.image_url.url, `messages[${i}].content[${j}].image_url.url`));
    } else {
      throw invalid(
        `unsupported content part type '${String((p as { type: unknown }).type)}'`,
        `messages[${i}].content[${j}].type`,
      );
    }
  });
  return parts;
}

const DATA_URL = /^data:([^;,]+)?((?:;[^;,]*)*?)(;base64)?,(.*)$/s;

function imagePart(url: string, param: string): GeminiPart {
  const data = DATA_URL.exec(url);
  if (data) {
    const mimeType = data[1] ?? 'text/plain';
    const payload = data[4] ?? '';
    // Non-base64 data URLs are percent-encoded; inlineData wants base64 either way.
    if (data[3]) return { inlineData: { mimeType, data: payload } };
    let decoded: string;
    try {
      decoded = decodeURIComponent(payload);
    } catch {
      throw invalid('image_url is a malformed data: URL', param);
    }
    return { inlineData: { mimeType, data: Buffer.from(decoded, 'utf8').toString('base64') } };
  }
  if (/^https?:\/\//i.test(url)) return { fileData: { mimeType: mimeFromUrl(url), fileUri: url } };
  throw invalid('image_url must be a data: URL or an http(s) URL', param, 'unsupported_parameter');
}

const MIME_BY_EXT: Readonly<Record<string, string>> = {
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  gif: 'image/gif',
  webp: 'image/webp',
  heic: 'image/heic',
  heif: 'image/heif',
  pdf: 'application/pdf',
};

/** fileData needs a mimeType and OpenAI's image_url carries none; JPEG is the most common photo format. */
export function mimeFromUrl(url: string): string {
  let path = url;
  try {
    path = new URL(url).pathname;
  } catch {
    // keep the raw string; the extension match below still works for most inputs
  }
  const ext = /\.([a-z0-9]+)$/i.exec(path)?.[1]?.toLowerCase();
  return (ext && MIME_BY_EXT[ext]) || 'image/jpeg';
}

function assistantParts(m: ChatMessage, i: number, callNames: Map<string, string>): GeminiPart[] {
  const parts = contentParts(m.content, i);
  (m.tool_calls ?? []).forEach((tc, j) => {
    callNames.set(tc.id, tc.function.name);
    parts.push({
      functionCall: {
        name: tc.function.name,
        args: parseArgs(tc.function.arguments, `messages[${i}].tool_calls[${j}].function.arguments`),
      },
    });
  });
  return parts;
}

function parseArgs(text: string, param: string): Record<string, unknown> {
  // Models emit "" for a no-argument call; Gemini wants an object.
  if (text.trim() === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw invalid('tool call arguments must be valid JSON', param);
  }
  if (!isPlainObject(parsed)) throw invalid('tool call arguments must be a JSON object', param);
  return parsed;
}

function toolResultPart(m: ChatMessage, i: number, callNames: Map<string, string>): GeminiPart {
  const id = m.tool_call_id;
  const name = id === undefined ? undefined : callNames.get(id);
  if (name === undefined) {
    throw invalid(
      'tool message does not answer a tool call of an earlier assistant message',
      `messages[${i}].tool_call_id`,
    );
  }
  const text =
    typeof m.content === 'string'
      ? m.content
      : (m.content ?? []).map((p) => (p.type === 'text' ? p.text : '')).join('');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  // functionResponse.response must be an object; wrap anything else so the model still sees it.
  return { functionResponse: { name, response: isPlainObject(parsed) ? parsed : { content: text } } };
}

function toGenerationConfig(req: ChatCompletionRequest): GeminiGenerationConfig {
  const g: GeminiGenerationConfig = {};
  if (req.temperature !== undefined && req.temperature !== null) g.temperature = req.temperature;
  if (req.top_p !== undefined && req.top_p !== null) g.topP = req.top_p;
  const maxTokens = req.max_completion_tokens ?? req.max_tokens;
  if (maxTokens !== undefined && maxTokens !== null) g.maxOutputTokens = maxTokens;
  if (req.stop !== undefined && req.stop !== null)
    g.stopSequences = typeof req.stop === 'string' ? [req.stop] : req.stop;
  if (req.n !== undefined && req.n !== null) g.candidateCount = req.n;
  if (req.seed !== undefined && req.seed !== null) g.seed = req.seed;
  if (req.presence_penalty !== undefined && req.presence_penalty !== null)
    g.presencePenalty = req.presence_penalty;
  if (req.frequency_penalty !== undefined && req.frequency_penalty !== null)
    g.frequencyPenalty = req.frequency_penalty;
  const rf = req.response_format;
  if (rf?.type === 'json_object') {
    g.responseMimeType = 'application/json';
  } else if (rf?.type === 'json_schema') {
    g.responseMimeType = 'application/json';
    if (rf.json_schema?.schema) g.responseSchema = toGeminiSchema(rf.json_schema.schema);
  }
  return g;
}

function toTools(req: ChatCompletionRequest): GeminiTool[] {
  const functionDeclarations = (req.tools ?? []).map((t) => {
    const decl: GeminiTool['functionDeclarations'][number] = { name: t.function.name };
    if (t.function.description !== undefined) decl.description = t.function.description;
    const params = t.function.parameters ? toGeminiSchema(t.function.parameters) : undefined;
    // Gemini rejects an OBJECT schema with empty `properties` ("should be non-empty for OBJECT type"),
    // which is how OpenAI clients spell a no-argument function; omitting parameters means the same.
    if (params && !isArgumentless(params)) decl.parameters = params;
    return decl;
  });
  return [{ functionDeclarations }];
}

function isArgumentless(s: GeminiSchema): boolean {
  const noProps = !isPlainObject(s.properties) || Object.keys(s.properties).length === 0;
  return (s.type === undefined || s.type === 'object') && noProps && s.anyOf === undefined;
}

function toToolConfig(choice: ToolChoice): GeminiToolConfig {
  if (choice === 'none') return { functionCallingConfig: { mode: 'NONE' } };
  if (choice === 'required') return { functionCallingConfig: { mode: 'ANY' } };
  if (choice === 'auto') return { functionCallingConfig: { mode: 'AUTO' } };
  return { functionCallingConfig: { mode: 'ANY', allowedFunctionNames: [choice.function.name] } };
}
