import { setTimeout as sleep } from 'node:timers/promises';
import { streamInterrupted, upstreamErrorFromHttp } from '../core/classify.js';
import { promptTokens, textTokens } from '../core/token-counter.js';
import { abortError, GatewayError, UpstreamError } from '../errors/gateway-error.js';
import { assistantMessage, fullUsage } from '../providers/common/response.js';
import {
  createRng,
  type FaultOutcome,
  type FaultPlan,
  malformedIndex,
  NO_FAULTS,
  planFaults,
  type Rng,
} from '../providers/mock/faults.js';
import { mockChunks, mockEmbedding, mockReplyText } from '../providers/mock/reply.js';
import type { MockFaults } from '../types/config.js';
import type {
  ChatCompletionChunk,
  ChatCompletionRequest,
  EmbeddingsRequest,
  EmbeddingsResponse,
  Usage,
} from '../types/openai.js';
import type { CallContext, ChatResult, ChatStream, ProviderClient, Target } from './types.js';

const DEFAULT_EMBEDDING_DIMENSIONS = 16;
/** About 10 MB of JSON: 2,048 inputs of 512 dimensions, or 128 of 8,192. */
export const MAX_EMBEDDING_NUMBERS = 1_048_576;

/**
 * The built-in provider with no network: the same shapes and timing knobs as a real upstream, and
 * injected faults that surface exactly as the HTTP client surfaces the real ones, so retries,
 * failover and breakers cannot tell them apart.
 */
export class MockProviderClient implements ProviderClient {
  // Keyed by the provider's resolved faults, so each provider has its own sequence and a reload
  // (new config objects) starts a seeded sequence afresh.
  private readonly rngs = new WeakMap<MockFaults, Rng>();

  async chat(req: ChatCompletionRequest, target: Target, ctx: CallContext): Promise<ChatResult> {
    const { outcome } = await this.begin(target, ctx, false);
    if (outcome.kind === 'malformed') throw notJson(target);
    const text = mockReplyText(req.messages, target.provider.mock.reply);
    return {
      completion: {
        id: `chatcmpl-${ctx.requestId}`,
        object: 'chat.completion',
        created: Math.floor(Date.now() / 1000),
        model: target.upstreamModel,
        choices: [{ index: 0, message: assistantMessage(text, []), finish_reason: 'stop', logprobs: null }],
        system_fingerprint: null,
        usage: await usageFor(req, text),
      },
      upstreamRequestId: undefined,
    };
  }

  async chatStream(req: ChatCompletionRequest, target: Target, ctx: CallContext): Promise<ChatStream> {
    const { outcome } = await this.begin(target, ctx, true);
    return { chunks: mockStream(req, target, ctx, outcome), upstreamRequestId: undefined };
  }

  async embeddings(req: EmbeddingsRequest, target: Target, ctx: CallContext): Promise<EmbeddingsResponse> {
    const { outcome } = await this.begin(target, ctx, false);
    if (outcome.kind === 'malformed') throw notJson(target);
    const inputs = typeof req.input === 'string' ? [req.input] : req.input;
    const dimensions = req.dimensions ?? DEFAULT_EMBEDDING_DIMENSIONS;
    // The answer grows with inputs x dimensions, whatever the request's own size: bounded here.
    if (inputs.length * dimensions > MAX_EMBEDDING_NUMBERS) {
      throw new GatewayError(
        'unsupported_parameter',
        `the mock provider returns at most ${MAX_EMBEDDING_NUMBERS} numbers per request; ${inputs.length} inputs x ${dimensions} dimensions is more`,
        { param: 'dimensions' },
      );
    }
    const strings: string[] = [];
    let tokens = 0;
    for (const input of inputs) {
      if (typeof input === 'string') strings.push(input);
      else tokens += Array.isArray(input) ? input.length : 1;
    }
    for (const n of await textTokens(strings)) tokens += n;
    const data = inputs.map((input, index) => {
      const text = typeof input === 'string' ? input : JSON.stringify(input);
      return {
        object: 'embedding' as const,
        index,
        embedding: mockEmbedding(text, dimensions),
      };
    });
    return {
      object: 'list',
      data,
      model: target.upstreamModel,
      usage: { prompt_tokens: tokens, total_tokens: tokens },
    };
  }

  /**
   * Everything up to the response headers: plans the faults, waits the latency, and throws the
   * faults that happen before a response exists. Returns the plan for the body-level faults.
   */
  private async begin(target: Target, ctx: CallContext, stream: boolean): Promise<FaultPlan> {
    const { faults, latencyMs } = target.provider.mock;
    // Planned synchronously on arrival, so a seeded sequence follows request order.
    const plan = faults ? planFaults(faults, this.rng(faults), stream) : NO_FAULTS;
    await wait(latencyMs + plan.latencyMs, ctx.signal);
    const { outcome } = plan;
    const provider = target.provider.id;
    switch (outcome.kind) {
      case 'reset':
        throw new UpstreamError(`cannot reach provider '${provider}': ECONNRESET`, {
          provider,
          errorClass: 'connection',
          retryable: true,
          cause: Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }),
        });
      case 'hang':
        await hang(ctx.signal);
        break;
      case 'error':
        throw upstreamErrorFromHttp({
          provider,
          status: outcome.status,
          message: outcome.message,
          providerType: undefined,
          headers: retryAfterHeaders(outcome.retryAfterMs),
          requestIdHeader: 'x-request-id',
        });
    }
    return plan;
  }

  private rng(faults: MockFaults): Rng {
    let rng = this.rngs.get(faults);
    if (!rng) {
      rng = createRng(faults.seed);
      this.rngs.set(faults, rng);
    }
    return rng;
  }
}

/** As OpenAI sends them: milliseconds for precision, whole seconds for everyone else. */
function retryAfterHeaders(ms: number | undefined): Record<string, string> {
  if (ms === undefined) return {};
  return { 'retry-after-ms': String(ms), 'retry-after': String(Math.ceil(ms / 1000)) };
}

/** The same error http-client.ts readJson raises for a 200 whose body does not parse. */
function notJson(target: Target): UpstreamError {
  return new UpstreamError(`provider '${target.provider.id}' returned a response that is not valid JSON`, {
    provider: target.provider.id,
    upstreamStatus: 200,
    errorClass: 'server_error',
    retryable: true,
  });
}

async function usageFor(req: ChatCompletionRequest, text: string): Promise<Usage> {
  const prompt = await promptTokens(req.messages);
  const [completion = 0] = await textTokens([text]);
  return fullUsage(prompt, completion);
}

/**
 * Chunks are counted as the upstream sends them: the role chunk is chunk 1, and the finish and usage
 * chunks count too (even when the gateway drops the usage chunk for a client that did not ask).
 */
async function* mockStream(
  req: ChatCompletionRequest,
  target: Target,
  ctx: CallContext,
  outcome: FaultOutcome,
): AsyncGenerator<ChatCompletionChunk> {
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
  const pieces = mockChunks(text);
  const total = pieces.length + 3;
  // The number of chunks that arrive before the failure; undefined: no failure.
  let failAt: number | undefined;
  let failure = '';
  if (outcome.kind === 'cut' && outcome.after <= total) {
    failAt = outcome.after;
    failure = 'connection lost';
  } else if (outcome.kind === 'malformed') {
    failAt = malformedIndex(outcome.atFraction, total);
    failure = 'malformed JSON in stream event';
  }
  let sent = 0;
  const check = () => {
    if (sent === failAt) throw streamInterrupted(target.provider.id, failure);
    sent++;
  };

  check();
  yield chunk({ role: 'assistant', content: '' }, null);
  for (const piece of pieces) {
    await wait(chunkDelayMs, ctx.signal);
    check();
    yield chunk({ content: piece }, null);
  }
  check();
  yield chunk({}, 'stop');
  const usage = await usageFor(req, text);
  check();
  yield { ...base, choices: [], usage } satisfies ChatCompletionChunk;
  // Cut after the last chunk: the connection drops before the end of the stream, as a real one can.
  check();
}

/** Until the caller gives up: its timeouts and the client's disconnect both arrive as an abort. */
function hang(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    if (signal.aborted) {
      reject(abortError(signal));
      return;
    }
    signal.addEventListener('abort', () => reject(abortError(signal)), { once: true });
  });
}

async function wait(ms: number, signal: AbortSignal): Promise<void> {
  if (ms <= 0) {
    if (signal.aborted) throw abortError(signal);
    return;
  }
  try {
    await sleep(ms, undefined, { signal });
  } catch {
    throw abortError(signal);
  }
}
