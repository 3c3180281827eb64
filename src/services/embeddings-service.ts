import { isClientAbort, isGatewayError, isUpstreamError } from '../errors/gateway-error.js';
import type { EmbeddingsRequest, EmbeddingsResponse } from '../types/openai.js';
import type { ChatCall } from './chat-service.js';
import { execute } from './executor.js';
import type { Runtime } from './runtime.js';

export async function createEmbeddings(
  runtime: Runtime,
  req: EmbeddingsRequest,
  call: ChatCall,
): Promise<EmbeddingsResponse> {
  const route = runtime.resolve(req.model);
  call.meta.model = route.model;
  const t0 = performance.now();
  let res: EmbeddingsResponse;
  try {
    const exec = await execute(
      runtime,
      route,
      {
        requestId: call.requestId,
        signal: call.signal,
        startedAt: call.startedAt,
        span: call.span,
        meta: call.meta,
        stream: false,
        team: call.team,
        operation: 'embeddings',
      },
      (target, _params, ctx) => target.client.embeddings(req, target, ctx),
      call.exec,
    );
    exec.finish({ ok: true });
    res = exec.result;
  } catch (err) {
    if (isClientAbort(err)) call.meta.clientAborted = true;
    else if (isGatewayError(err)) {
      call.meta.error = {
        code: err.code,
        errorType: isUpstreamError(err) ? err.errorClass : err.code,
        status: err.status,
        midStream: false,
      };
    }
    throw err;
  } finally {
    call.meta.upstreamMs = performance.now() - t0;
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
