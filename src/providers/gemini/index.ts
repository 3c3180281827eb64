import { parseJsonLenient } from '../../core/classify.js';
import type { ProviderAdapter, UpstreamHttpRequest } from '../types.js';
import { fromGeminiEmbeddingsResponse, toGeminiEmbeddingsRequest } from './embeddings.js';
import { geminiHeaders, geminiUrl, toGeminiRequest } from './request.js';
import { fromGeminiError, fromGeminiResponse, GEMINI_REQUEST_ID_HEADER } from './response.js';
import { GeminiStreamTranslator } from './stream.js';

/** Google's Generative Language API (Gemini), v1beta REST, API-key auth. */
export const geminiAdapter: ProviderAdapter = {
  type: 'gemini',
  supportsEmbeddings: true,
  requestIdHeader: GEMINI_REQUEST_ID_HEADER,

  buildChatRequest(req, ctx): UpstreamHttpRequest {
    return {
      method: 'POST',
      url: geminiUrl(ctx, req.stream ? 'streamGenerateContent' : 'generateContent'),
      headers: geminiHeaders(ctx),
      body: JSON.stringify(toGeminiRequest(req, ctx.provider.id)),
    };
  },

  parseChatResponse(body, ctx) {
    return fromGeminiResponse(body, ctx);
  },

  createStreamTranslator(_req, ctx) {
    return new GeminiStreamTranslator(ctx);
  },

  buildEmbeddingsRequest(req, ctx): UpstreamHttpRequest {
    return {
      method: 'POST',
      url: geminiUrl(ctx, 'batchEmbedContents'),
      headers: geminiHeaders(ctx),
      body: JSON.stringify(toGeminiEmbeddingsRequest(req, ctx)),
    };
  },

  parseEmbeddingsResponse(body, req, ctx) {
    return fromGeminiEmbeddingsResponse(body, req, ctx);
  },

  parseError(res, ctx) {
    return fromGeminiError(parseJsonLenient(res.body), res.status, res.headers, ctx, res.body);
  },
};
