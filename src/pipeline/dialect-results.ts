import type { PreparedResponse } from '../services/responses-service.js';
import type { MessagesResponse } from '../types/anthropic-messages.js';
import type { ChatCompletionChunk } from '../types/openai.js';
import type { ResponseObject } from '../types/responses.js';
import type { ChunkStream } from './chunk-stream.js';

/** The results of the Messages and Responses operations, as the transports deliver them. */

/** A non-streamed Messages answer: the upstream's JSON text (passthrough) or a translated message. */
export type MessagesResult = { raw: string } | { message: MessagesResponse };
/** Passthrough streams carry the upstream's SSE text; translated ones carry canonical chunks. */
export type MessagesStreamItem = string | ChatCompletionChunk;
export type CountTokensResult = { raw: string } | { input_tokens: number };

/** A Responses stream: canonical chunks, and what delivery needs to frame and store them. */
export interface ResponsesStream extends ChunkStream<ChatCompletionChunk> {
  prepared: PreparedResponse;
  /**
   * Stores the response delivery assembled (when the request asked to store it); resolves when the
   * next turn can find it, and never rejects.
   */
  save(response: ResponseObject): Promise<void>;
}

/** Errors the upstream already sent to the client in its own stream: delivery must not repeat them. */
export const FORWARDED_ERRORS = new WeakSet<object>();
