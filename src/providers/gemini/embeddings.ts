import { GatewayError } from '../../errors/gateway-error.js';
import type {
  GeminiBatchEmbedContentsRequest,
  GeminiBatchEmbedContentsResponse,
} from '../../types/gemini.js';
import type { Embedding, EmbeddingsRequest, EmbeddingsResponse } from '../../types/openai.js';
import type { AdapterContext } from '../types.js';
import { malformedResponse } from './response.js';
import { isPlainObject } from './schema.js';

/** batchEmbedContents takes one EmbedContentRequest per input, so a list of texts is one upstream call. */
export function toGeminiEmbeddingsRequest(
  req: EmbeddingsRequest,
  ctx: AdapterContext,
): GeminiBatchEmbedContentsRequest {
  const inputs = typeof req.input === 'string' ? [req.input] : req.input;
  if (inputs.length === 0) {
    throw new GatewayError('invalid_request', 'input must not be empty', { param: 'input' });
  }
  const texts = inputs.map((x) => {
    if (typeof x !== 'string') {
      // Token ids belong to OpenAI's tokenizer; Gemini cannot interpret them.
      throw new GatewayError('unsupported_parameter', 'Gemini embeddings need text input, not token arrays', {
        param: 'input',
      });
    }
    return x;
  });
  const model = `models/${ctx.upstreamModel.replace(/^models\//, '')}`;
  return {
    requests: texts.map((text) => {
      const r: GeminiBatchEmbedContentsRequest['requests'][number] = {
        model,
        content: { parts: [{ text }] },
      };
      if (req.dimensions !== undefined) r.outputDimensionality = req.dimensions;
      return r;
    }),
  };
}

export function fromGeminiEmbeddingsResponse(
  body: unknown,
  _req: EmbeddingsRequest,
  ctx: AdapterContext,
): EmbeddingsResponse {
  if (!isPlainObject(body) || !Array.isArray(body.embeddings)) {
    throw malformedResponse(ctx, 'batchEmbedContents response');
  }
  const res = body as GeminiBatchEmbedContentsResponse;
  const data = (res.embeddings ?? []).map((e, index): Embedding => {
    const values = e.values ?? [];
    return {
      object: 'embedding',
      index,
      // Floats always; the embeddings service encodes base64 for every provider in one place.
      embedding: values,
    };
  });
  const prompt = res.usageMetadata?.promptTokenCount ?? 0;
  return {
    object: 'list',
    data,
    model: ctx.upstreamModel,
    usage: { prompt_tokens: prompt, total_tokens: res.usageMetadata?.totalTokenCount ?? prompt },
  };
}
