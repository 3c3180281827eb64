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
  const attempt = call.span.child(`embeddings ${target.upstreamModel}`, 'client', {
    'gen_ai.system': target.provider.type,
    'gen_ai.request.model': target.upstreamModel,
  });
  const t0 = performance.now();
  let res: EmbeddingsResponse;
  try {
    res = await target.client.embeddings(req, target, {
      requestId: call.requestId,
      signal: call.signal,
      headers: attempt.propagationHeaders(),
    });
  } catch (err) {
    attempt.fail(err);
    throw err;
  } finally {
    call.meta.upstreamMs = performance.now() - t0;
    attempt.end();
  }
  call.meta.usage = {
    prompt_tokens: res.usage.prompt_tokens,
    completion_tokens: 0,
    total_tokens: res.usage.total_tokens,
  };
  if (req.encoding_format === 'base64') {
    // The openai SDKs ask for base64 by default. Upstreams that speak it already return strings; float
    // arrays from the others are encoded here, once, as OpenAI does: little-endian float32.
    for (const e of res.data) if (Array.isArray(e.embedding)) e.embedding = toBase64Float32(e.embedding);
  }
  return res;
}

export function toBase64Float32(values: readonly number[]): string {
  const buf = Buffer.allocUnsafe(values.length * 4);
  for (let i = 0; i < values.length; i++) buf.writeFloatLE(values[i]!, i * 4);
  return buf.toString('base64');
}
