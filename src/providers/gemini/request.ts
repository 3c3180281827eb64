import { EFFORT_BUDGET_TOKENS } from '../../core/reasoning.js';
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
import type { ChatCompletionRequest, ChatMessage, ToolChoice } from '../../types/openai.js';
import {
  appendAll,
  contentParts,
  parseToolArguments,
  refuseUnsupported,
  systemTexts,
  ToolCallLedger,
  toolResultText,
  visitMessages,
} from '../common/messages.js';
import type { AdapterContext } from '../types.js';
import { isPlainObject, toGeminiSchema } from './schema.js';
import { thoughtSignatureOf } from './thought-signature.js';

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

export function toGeminiRequest(
  req: ChatCompletionRequest,
  provider = 'gemini',
): GeminiGenerateContentRequest {
  refuseUnsupported(req, provider, { n: true, logprobs: false });
  const system: GeminiPart[] = [];
  const contents: GeminiContent[] = [];
  // Gemini's functionResponse is keyed by function name; OpenAI's tool message only carries the call id.
  const ledger = new ToolCallLedger();

  const append = (role: GeminiRole, parts: GeminiPart[]): void => {
    if (parts.length === 0) return;
    const last = contents[contents.length - 1];
    // Gemini expects turns to alternate; merging same-role neighbours also merges parallel tool results.
    if (last && last.role === role) appendAll(last.parts, parts);
    else contents.push({ role, parts });
  };

  visitMessages(req.messages, {
    system: (m, i) => {
      for (const text of systemTexts(m, i)) system.push({ text });
    },
    user: (m, i) => append('user', geminiParts(m.content, i)),
    assistant: (m, i) => {
      ledger.record(m);
      append('model', assistantParts(m, i));
    },
    tool: (m, i) => append('user', [toolResultPart(m, ledger.answered(m, i).function.name)]),
  });

  const body: GeminiGenerateContentRequest = { contents };
  if (system.length > 0) body.systemInstruction = { parts: system };
  const generationConfig = toGenerationConfig(req);
  if (Object.keys(generationConfig).length > 0) body.generationConfig = generationConfig;
  if (req.tools && req.tools.length > 0) body.tools = toTools(req);
  if (req.tool_choice !== undefined) body.toolConfig = toToolConfig(req.tool_choice);
  return body;
}

function geminiParts(content: ChatMessage['content'] | undefined, i: number): GeminiPart[] {
  return contentParts(content, i).map((p): GeminiPart => {
    if (p.kind === 'text') return { text: p.text };
    const img = p.image;
    return img.kind === 'base64'
      ? { inlineData: { mimeType: img.mediaType, data: img.data } }
      : { fileData: { mimeType: mimeFromUrl(img.url), fileUri: img.url } };
  });
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

function assistantParts(m: ChatMessage, i: number): GeminiPart[] {
  const parts = geminiParts(m.content, i);
  (m.tool_calls ?? []).forEach((tc, j) => {
    const part: GeminiPart = {
      functionCall: {
        name: tc.function.name,
        args: parseToolArguments(tc.function.arguments, `messages[${i}].tool_calls[${j}].function.arguments`),
      },
    };
    // Gemini 3 requires the signature of its own function calls back on the next turn.
    const signature = thoughtSignatureOf(tc);
    if (signature !== undefined) part.thoughtSignature = signature;
    parts.push(part);
  });
  return parts;
}

function toolResultPart(m: ChatMessage, name: string): GeminiPart {
  const text = toolResultText(m);
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
  const effort = req.reasoning_effort;
  if (effort) {
    g.thinkingConfig =
      effort === 'none'
        ? { thinkingBudget: 0 }
        : { thinkingBudget: EFFORT_BUDGET_TOKENS[effort], includeThoughts: true };
  }
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
