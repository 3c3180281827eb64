import { setTimeout as sleep } from 'node:timers/promises';
import { countPromptTokens, countTextTokens, loadTokenizer } from '../core/tokens.js';
import { ClientAbortError } from '../errors/gateway-error.js';
import { mockChunks, mockEmbedding, mockReplyText } from '../providers/mock/reply.js';
import type {
  ChatCompletionChunk,
  ChatCompletionRequest,
  EmbeddingsRequest,
  EmbeddingsResponse,
  Usage,
} from '../types/openai.js';
import type { CallContext, ChatResult, ChatStream, ProviderClient, Target } from './types.js';

const DEFAULT_EMBEDDING_DIMENSIONS = 16;

/** The built-in provider with no network: the same shapes and timing knobs as a real upstream. */
export class MockProviderClient implements ProviderClient {
  async chat(req: ChatCompletionRequest, target: Target, ctx: CallContext): Promise<ChatResult> {
    const { latencyMs, reply } = target.provider.mock;
    await wait(latencyMs, ctx.signal);
    const text = mockReplyText(req.messages, reply);
    return {
      completion: {
        id: `chatcmpl-${ctx.requestId}`,
        object: 'chat.completion',
        created: Math.floor(Date.now() / 1000),
        model: target.upstreamModel,
        choices: [
          { index: 0, message: { role: 'assistant', content: text }, finish_reason: 'stop', logprobs: null },
        ],
        usage: await usageFor(req, text),
      },
      upstreamRequestId: undefined,
    };
  }

  async chatStream(req: ChatCompletionRequest, target: Target, ctx: CallContext): Promise<ChatStream> {
    await wait(target.provider.mock.latencyMs, ctx.signal);
    return { chunks: mockStream(req, target, ctx), upstreamRequestId: undefined };
  }

  async embeddings(req: EmbeddingsRequest, target: Target, ctx: CallContext): Promise<EmbeddingsResponse> {
    await wait(target.provider.mock.latencyMs, ctx.signal);
    const inputs = typeof req.input === 'string' ? [req.input] : req.input;
    const enc = await loadTokenizer();
    let tokens = 0;
    const data = inputs.map((input, index) => {
      const text = typeof input === 'string' ? input : JSON.stringify(input);
      tokens +=
        typeof input === 'string' ? countTextTokens(enc, input) : Array.isArray(input) ? input.length : 1;
      return {
        object: 'embedding' as const,
        index,
        embedding: mockEmbedding(text, req.dimensions ?? DEFAULT_EMBEDDING_DIMENSIONS),
      };
    });
    return {
      object: 'list',
      data,
      model: target.upstreamModel,
      usage: { prompt_tokens: tokens, total_tokens: tokens },
    };
  }
}

async function usageFor(req: ChatCompletionRequest, text: string): Promise<Usage> {
  const enc = await loadTokenizer();
  const prompt = countPromptTokens(enc, req.messages);
  const completion = countTextTokens(enc, text);
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
}

async function* mockStream(req: ChatCompletionRequest, target: Target, ctx: CallContext) {
  const { chunkDelayMs, reply } = target.provider.mock;
  const text = mockReplyText(req.messages, reply);
  const base = {
    id: `chatcmpl-${ctx.requestId}`,
    object: 'chat.completion.chunk' as const,
    created: Math.floor(Date.now() / 1000),
    model: target.upstreamModel,
  };
  const chunk = (
    delta: ChatCompletionChunk['choices'][0]['delta'],
    finish: 'stop' | null,
  ): ChatCompletionChunk => ({
    ...base,
    choices: [{ index: 0, delta, finish_reason: finish, logprobs: null }],
  });
  yield chunk({ role: 'assistant', content: '' }, null);
  for (const piece of mockChunks(text)) {
    await wait(chunkDelayMs, ctx.signal);
    yield chunk({ content: piece }, null);
  }
  yield chunk({}, 'stop');
  yield { ...base, choices: [], usage: await usageFor(req, text) } satisfies ChatCompletionChunk;
}

async function wait(ms: number, signal: AbortSignal): Promise<void> {
  if (ms <= 0) {
    if (signal.aborted) throw new ClientAbortError();
    return;
  }
  try {
    await sleep(ms, undefined, { signal });
  } catch {
    throw new ClientAbortError();
  }
}
