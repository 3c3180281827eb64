/**
 * The Anthropic Messages API as clients send it to the gateway's `/v1/messages` ingress: the full
 * request (thinking, cache_control, documents, citations, server tools) and the response and stream
 * shapes the gateway writes back. Wire types only: no runtime code. The egress adapter's narrower
 * view is in ./anthropic.ts.
 */

export interface CacheControl {
  type: 'ephemeral';
  ttl?: '5m' | '1h';
}

export interface MessagesTextBlock {
  type: 'text';
  text: string;
  cache_control?: CacheControl | null;
  citations?: unknown[] | null;
}

export interface MessagesImageBlock {
  type: 'image';
  source:
    | { type: 'base64'; media_type: string; data: string }
    | { type: 'url'; url: string }
    | { type: 'file'; file_id: string };
  cache_control?: CacheControl | null;
}

export interface MessagesDocumentBlock {
  type: 'document';
  source: Record<string, unknown>;
  title?: string | null;
  context?: string | null;
  citations?: { enabled?: boolean } | null;
  cache_control?: CacheControl | null;
}

export interface MessagesToolUseBlock {
  type: 'tool_use';
  id: string;
  name: string;
  input: unknown;
  cache_control?: CacheControl | null;
}

export interface MessagesToolResultBlock {
  type: 'tool_result';
  tool_use_id: string;
  content?: string | Array<MessagesTextBlock | MessagesImageBlock | MessagesDocumentBlock>;
  is_error?: boolean;
  cache_control?: CacheControl | null;
}

export interface MessagesThinkingBlock {
  type: 'thinking';
  thinking: string;
  signature: string;
}

export interface MessagesRedactedThinkingBlock {
  type: 'redacted_thinking';
  data: string;
}

export type MessagesContentBlock =
  | MessagesTextBlock
  | MessagesImageBlock
  | MessagesDocumentBlock
  | MessagesToolUseBlock
  | MessagesToolResultBlock
  | MessagesThinkingBlock
  | MessagesRedactedThinkingBlock;

export interface MessagesMessageParam {
  role: 'user' | 'assistant';
  content: string | MessagesContentBlock[];
}

export interface MessagesTool {
  /** Absent for custom tools; server tools (web_search_20250305, ...) carry a versioned type. */
  type?: string;
  name: string;
  description?: string;
  input_schema?: Record<string, unknown>;
  cache_control?: CacheControl | null;
}

export type MessagesToolChoice =
  | { type: 'auto'; disable_parallel_tool_use?: boolean }
  | { type: 'any'; disable_parallel_tool_use?: boolean }
  | { type: 'tool'; name: string; disable_parallel_tool_use?: boolean }
  | { type: 'none' };

export type MessagesThinkingConfig =
  | { type: 'enabled'; budget_tokens: number }
  | { type: 'disabled' }
  | { type: 'adaptive' };

export interface MessagesRequest {
  model: string;
  max_tokens: number;
  messages: MessagesMessageParam[];
  system?: string | MessagesTextBlock[];
  stop_sequences?: string[];
  temperature?: number;
  top_p?: number;
  top_k?: number;
  tools?: MessagesTool[];
  tool_choice?: MessagesToolChoice;
  thinking?: MessagesThinkingConfig;
  metadata?: { user_id?: string | null };
  stream?: boolean;
  service_tier?: string;
  [extra: string]: unknown;
}

// ---- response ----

export type MessagesResponseBlock =
  | { type: 'text'; text: string; citations?: unknown[] | null }
  | { type: 'thinking'; thinking: string; signature: string }
  | { type: 'redacted_thinking'; data: string }
  | { type: 'tool_use'; id: string; name: string; input: unknown };

export interface MessagesUsage {
  input_tokens: number;
  output_tokens: number;
  cache_creation_input_tokens: number | null;
  cache_read_input_tokens: number | null;
}

export interface MessagesResponse {
  id: string;
  type: 'message';
  role: 'assistant';
  model: string;
  content: MessagesResponseBlock[];
  stop_reason: string | null;
  stop_sequence: string | null;
  usage: MessagesUsage;
}

export interface MessagesErrorBody {
  type: 'error';
  error: { type: string; message: string };
}
