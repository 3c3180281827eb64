import { GatewayError } from '../../errors/gateway-error.js';
import type { AdapterContext, ProviderAdapter } from '../types.js';
import { anthropicHeaders, anthropicMessagesUrl, toAnthropicRequest } from './request.js';
import { ANTHROPIC_REQUEST_ID_HEADER, fromAnthropicError, fromAnthropicResponse } from './response.js';
import { AnthropicStreamTranslator } from './stream.js';

/** Anthropic's Messages API (POST /v1/messages). Translation lives in request/response/stream.ts. */

function embeddingsNotSupported(ctx: AdapterContext): GatewayError {
  return new GatewayError(
    'embeddings_not_supported',
    `provider '${ctx.provider.id}' (anthropic) does not support embeddings`,
    { param: 'model' },
  );
}

export const anthropicAdapter: ProviderAdapter = {
  type: 'anthropic',
  supportsEmbeddings: false,
  requestIdHeader: ANTHROPIC_REQUEST_ID_HEADER,

  buildChatRequest(req, ctx) {
    return {
      method: 'POST',
      url: anthropicMessagesUrl(ctx.provider.baseUrl),
      headers: anthropicHeaders(ctx),
      body: JSON.stringify(toAnthropicRequest(req, ctx)),
    };
  },

  parseChatResponse(body, ctx) {
    return fromAnthropicResponse(body, ctx);
  },

  createStreamTranslator(_req, ctx) {
    return new AnthropicStreamTranslator(ctx);
  },

  buildEmbeddingsRequest(_req, ctx) {
    throw embeddingsNotSupported(ctx);
  },

  parseEmbeddingsResponse(_body, _req, ctx) {
    throw embeddingsNotSupported(ctx);
  },

  parseError(res, ctx) {
    return fromAnthropicError(res, ctx);
  },
};
