/**
 * The canonical request/response shapes. Internally every request, response and stream chunk is
 * OpenAI's chat format; provider adapters translate at the edges. Wire types only: no runtime code.
 */

export type Role = 'system' | 'developer' | 'user' | 'assistant' | 'tool';

export interface TextPart {
  type: 'text';
  text: string;
}

export interface ImagePart {
  type: 'image_url';
  image_url: { url: string; detail?: 'auto' | 'low' | 'high' };
}

export type ContentPart = TextPart | ImagePart;

export interface ToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
  /** Provider extras that must come back on the next turn (Gemini 3's thought signature). */
  extra_content?: { google?: { thought_signature?: string } };
}

/**
 * One block of a model's reasoning, kept whole so that a provider which signs its reasoning
 * (Anthropic's thinking signatures, Gemini's thought signatures) gets it back byte for byte on the
 * next turn. Field names follow Anthropic's blocks, which LiteLLM also uses as `thinking_blocks`.
 */
export type ThinkingBlock =
  | { type: 'thinking'; thinking: string; signature?: string }
  | { type: 'redacted_thinking'; data: string };

export interface ChatMessage {
  role: Role;
  content: string | ContentPart[] | null;
  name?: string;
  tool_calls?: ToolCall[];
  tool_call_id?: string;
  /** Assistant turns: the reasoning text, as DeepSeek, vLLM and the AI SDK's compatible provider read it. */
  reasoning_content?: string | null;
  /** Assistant turns: the reasoning as signed blocks, for providers that need them back. */
  thinking_blocks?: ThinkingBlock[];
}

export interface FunctionTool {
  type: 'function';
  function: { name: string; description?: string; parameters?: Record<string, unknown>; strict?: boolean };
}

export type ToolChoice = 'none' | 'auto' | 'required' | { type: 'function'; function: { name: string } };

export interface ResponseFormat {
  type: 'text' | 'json_object' | 'json_schema';
  json_schema?: { name: string; schema?: Record<string, unknown>; strict?: boolean; description?: string };
}

export interface ChatCompletionRequest {
  model: string;
  messages: ChatMessage[];
  stream?: boolean;
  stream_options?: { include_usage?: boolean };
  max_tokens?: number;
  max_completion_tokens?: number;
  temperature?: number;
  top_p?: number;
  n?: number;
  stop?: string | string[];
  presence_penalty?: number;
  frequency_penalty?: number;
  seed?: number;
  user?: string;
  tools?: FunctionTool[];
  tool_choice?: ToolChoice;
  parallel_tool_calls?: boolean;
  response_format?: ResponseFormat;
  /** OpenAI's reasoning effort; adapters map it to Anthropic's thinking budget and Gemini's thinkingConfig. */
  reasoning_effort?: ReasoningEffort;
  logprobs?: boolean;
  top_logprobs?: number;
  /** Provider-specific extras pass through untouched to OpenAI-compatible upstreams. */
  [extra: string]: unknown;
}

export type ReasoningEffort = 'none' | 'minimal' | 'low' | 'medium' | 'high' | 'xhigh';

export type FinishReason = 'stop' | 'length' | 'tool_calls' | 'content_filter' | 'function_call';

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  prompt_tokens_details?: { cached_tokens?: number; audio_tokens?: number; cache_creation_tokens?: number };
  completion_tokens_details?: {
    reasoning_tokens?: number;
    audio_tokens?: number;
    accepted_prediction_tokens?: number;
    rejected_prediction_tokens?: number;
  };
}

export interface ChatCompletionChoice {
  index: number;
  message: {
    role: 'assistant';
    content: string | null;
    tool_calls?: ToolCall[];
    refusal?: string | null;
    reasoning_content?: string | null;
    thinking_blocks?: ThinkingBlock[];
    annotations?: unknown[];
  };
  finish_reason: FinishReason | null;
  logprobs?: null;
}

export interface ChatCompletion {
  id: string;
  object: 'chat.completion';
  created: number;
  model: string;
  choices: ChatCompletionChoice[];
  usage?: Usage;
  system_fingerprint?: string | null;
}

export interface ToolCallDelta {
  index: number;
  id?: string;
  type?: 'function';
  function?: { name?: string; arguments?: string };
  extra_content?: ToolCall['extra_content'];
}

export interface ChunkChoice {
  index: number;
  delta: {
    role?: 'assistant';
    content?: string | null;
    tool_calls?: ToolCallDelta[];
    refusal?: string | null;
    reasoning_content?: string | null;
    /**
     * A signed reasoning block finished: its signature (text already streamed as reasoning_content,
     * so `thinking` is '') or a whole redacted block.
     */
    thinking_blocks?: ThinkingBlock[];
  };
  finish_reason: FinishReason | null;
  logprobs?: null;
}

export interface ChatCompletionChunk {
  id: string;
  object: 'chat.completion.chunk';
  created: number;
  model: string;
  choices: ChunkChoice[];
  usage?: Usage | null;
  system_fingerprint?: string | null;
}

export interface EmbeddingsRequest {
  model: string;
  input: string | string[] | number[] | number[][];
  encoding_format?: 'float' | 'base64';
  dimensions?: number;
  user?: string;
}

export interface Embedding {
  object: 'embedding';
  index: number;
  embedding: number[] | string;
}

export interface EmbeddingsResponse {
  object: 'list';
  data: Embedding[];
  model: string;
  usage: { prompt_tokens: number; total_tokens: number };
}

export interface ModelObject {
  id: string;
  object: 'model';
  created: number;
  owned_by: string;
}

/** OpenAI's error envelope, used for every error Switchyard returns. */
export interface ErrorBody {
  error: { message: string; type: string; code: string | null; param: string | null };
}
