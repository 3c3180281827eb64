import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { randomHex } from '../core/ids.js';
import {
  type AudioFields,
  type AudioTask,
  mockTranscript,
  multipartFrame,
  renderTranscript,
  wavDurationSeconds,
} from '../dialects/audio/transcription.js';
import { abortError, GatewayError, UpstreamError } from '../errors/gateway-error.js';
import type { RouteTarget } from './runtime.js';

/**
 * One transcription attempt against one target. The upload is on local disk already (the route
 * streams it there, bounded); each attempt streams it from disk to the upstream as multipart, so a
 * retry or failover can send it again without the gateway ever holding the file in memory.
 */

export interface AudioUpload {
  path: string;
  size: number;
  filename: string;
  mimetype: string;
  /** The first bytes, for the mock's WAV duration. */
  head: Buffer;
}

/** The pipeline body of an `audio.transcription` operation. */
export interface AudioJob {
  /** The public model, read by the resolve stage. */
  model: string;
  task: AudioTask;
  fields: AudioFields;
  upload: AudioUpload;
}

export interface AudioResult {
  contentType: string;
  body: string;
}

function upstreamPath(task: AudioTask): string {
  return task === 'translate' ? '/audio/translations' : '/audio/transcriptions';
}

function fieldsFor(f: AudioFields, upstreamModel: string): Array<[string, string]> {
  const out: Array<[string, string]> = [['model', upstreamModel]];
  if (f.language !== undefined) out.push(['language', f.language]);
  if (f.prompt !== undefined) out.push(['prompt', f.prompt]);
  out.push(['response_format', f.response_format]);
  if (f.temperature !== undefined) out.push(['temperature', String(f.temperature)]);
  out.push(...f.extra);
  return out;
}

export async function transcribeAttempt(
  job: AudioJob,
  target: RouteTarget,
  ctx: { signal: AbortSignal; requestId: string; headers?: Record<string, string> },
): Promise<AudioResult> {
  const { task, fields, upload } = job;
  const type = target.provider.type;
  if (type === 'mock') {
    const t = mockTranscript(task, upload.size, wavDurationSeconds(upload.head), fields.language);
    const [contentType, body] = renderTranscript(fields.response_format, task, t);
    return { contentType, body };
  }
  if (type !== 'openai' || !target.client.forward) {
    throw new GatewayError(
      'audio_not_supported',
      `model '${fields.model}' routes to provider '${target.provider.id}' (${type}), which has no ${task === 'translate' ? 'translation' : 'transcription'} API; route it to an OpenAI-compatible provider`,
      { param: 'model' },
    );
  }
  const boundary = `----switchyard${randomHex(24)}`;
  const { head, tail } = multipartFrame(boundary, fieldsFor(fields, target.upstreamModel), upload);
  const headers: Record<string, string> = {
    'content-type': `multipart/form-data; boundary=${boundary}`,
    ...target.provider.headers,
  };
  if (target.provider.apiKey) headers.authorization = `Bearer ${target.provider.apiKey}`;
  const body = Readable.from(
    (async function* () {
      yield Buffer.from(head);
      for await (const c of createReadStream(upload.path)) yield c as Buffer;
      yield Buffer.from(tail);
    })(),
  );
  const res = await target.client.forward(
    { method: 'POST', url: `${target.provider.baseUrl}${upstreamPath(task)}`, headers, body },
    target,
    ctx,
  );
  let text: string;
  try {
    text = await res.body.text();
  } catch (err) {
    if (ctx.signal.aborted) throw abortError(ctx.signal);
    throw new UpstreamError(`provider '${target.provider.id}' closed the connection mid-body`, {
      provider: target.provider.id,
      errorClass: 'connection',
      retryable: true,
      cause: err,
    });
  }
  const ct = res.headers['content-type'];
  return { contentType: typeof ct === 'string' ? ct : 'application/json', body: text };
}
