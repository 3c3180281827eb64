import type { EmbeddingsRequest, EmbeddingsResponse } from '../types/openai.js';
import type { ChatCall } from './chat-service.js';
import type { Runtime } from './runtime.js';

export async function createEmbeddings(
  runtime: Runtime,
  req: EmbeddingsRequest,
  call: ChatCall,
): Promise<EmbeddingsResponse> {
  const target = runtime.resolve(req.model).targets[0]!;
  call.meta.model = req.model;
  call.meta.provider = target.provider.id;
  call.meta.upstreamModel = target.upstreamModel;
  const res = await target.client.embeddings(req, target, call);
  call.meta.usage = { prompt_tokens: res.usage.prompt_tokens, completion_tokens: 0, total_tokens: res.usage.total_tokens };
  return res;
}
