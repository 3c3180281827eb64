import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import multipart from '@fastify/multipart';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  type AudioFields,
  type AudioTask,
  isAcceptedAudio,
  TRANSCRIPT_FORMATS,
  type TranscriptFormat,
} from '../../dialects/audio/transcription.js';
import { GatewayError } from '../../errors/gateway-error.js';
import { runPipeline } from '../../pipeline/pipeline.js';
import type { AudioUpload } from '../../services/audio-service.js';
import type { GatewayState } from '../../services/gateway-state.js';
import { writeHeaders } from '../deliver.js';
import { httpContext } from '../http-context.js';

/**
 * POST /v1/audio/transcriptions and /v1/audio/translations, multipart as OpenAI defines them. The
 * file is streamed to a private temporary file as it arrives (clients such as the `openai` SDK send
 * the file before the model field, so the route is unknown until the upload ends), bounded by
 * `audio.max_file_size`, and deleted when the response is done.
 */

const FIELD_LIMIT = 64 * 1024;
const HEAD_BYTES = 4096;

export default async function audioRoutes(
  app: FastifyInstance,
  opts: { state: GatewayState },
): Promise<void> {
  const { state } = opts;
  const maxFileBytes = state.runtime.config.audio.maxFileBytes;
  await app.register(multipart, {
    limits: { fileSize: maxFileBytes, files: 1, fields: 32, fieldSize: FIELD_LIMIT, parts: 34 },
    throwFileSizeLimit: true,
  });

  const handler = (task: AudioTask) => async (request: FastifyRequest, reply: FastifyReply) => {
    if (!request.isMultipart()) {
      throw new GatewayError('unsupported_media_type', 'Content-Type must be multipart/form-data.');
    }
    const dir = await mkdtemp(join(tmpdir(), 'switchyard-audio-'));
    try {
      const { fields, upload } = await readUpload(request, dir, maxFileBytes);
      const ctx = httpContext(request, reply, state, 'audio.transcription', {
        model: fields.model,
        task,
        fields,
        upload,
      });
      const result = await runPipeline(ctx);
      writeHeaders(ctx, reply);
      return reply.header('content-type', result.contentType).send(result.body);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  };
  app.post('/audio/transcriptions', handler('transcribe'));
  app.post('/audio/translations', handler('translate'));
}

async function readUpload(
  request: FastifyRequest,
  dir: string,
  maxFileBytes: number,
): Promise<{ fields: AudioFields; upload: AudioUpload }> {
  const raw = new Map<string, string>();
  const extra: Array<[string, string]> = [];
  let upload: AudioUpload | undefined;
  try {
    for await (const part of request.parts()) {
      if (part.type === 'file') {
        if (part.fieldname !== 'file' || upload) {
          part.file.resume();
          throw new GatewayError('invalid_request', "exactly one file is expected, in the field 'file'", {
            param: part.fieldname,
          });
        }
        if (!isAcceptedAudio(part.mimetype, part.filename)) {
          part.file.resume();
          throw new GatewayError(
            'unsupported_audio_type',
            `file type '${part.mimetype}' is not supported; send flac, mp3, mp4, mpeg, mpga, m4a, ogg, wav or webm`,
            { param: 'file' },
          );
        }
        const path = join(dir, randomUUID());
        const chunks: Buffer[] = [];
        let head = 0;
        let size = 0;
        await pipeline(
          part.file,
          new Transform({
            transform(chunk: Buffer, _enc, cb) {
              size += chunk.length;
              if (head < HEAD_BYTES) {
                chunks.push(chunk.subarray(0, HEAD_BYTES - head));
                head += Math.min(chunk.length, HEAD_BYTES - head);
              }
              cb(null, chunk);
            },
          }),
          createWriteStream(path, { mode: 0o600 }),
        );
        if (size === 0)
          throw new GatewayError('invalid_request', 'the uploaded file is empty', { param: 'file' });
        upload = {
          path,
          size,
          filename: part.filename || 'audio',
          mimetype: part.mimetype,
          head: Buffer.concat(chunks),
        };
      } else {
        const value = typeof part.value === 'string' ? part.value : String(part.value);
        if (part.valueTruncated) {
          throw new GatewayError(
            'invalid_request',
            `field '${part.fieldname}' is longer than ${FIELD_LIMIT} bytes`,
            {
              param: part.fieldname,
            },
          );
        }
        if (KNOWN_FIELDS.has(part.fieldname)) raw.set(part.fieldname, value);
        else extra.push([part.fieldname, value]);
      }
    }
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'FST_REQ_FILE_TOO_LARGE') {
      throw new GatewayError(
        'file_too_large',
        `the file is larger than ${maxFileBytes} bytes (audio.max_file_size)`,
        {
          param: 'file',
        },
      );
    }
    if (code === 'FST_FILES_LIMIT' || code === 'FST_PARTS_LIMIT' || code === 'FST_FIELDS_LIMIT') {
      throw new GatewayError('too_many_form_parts', 'the form has too many fields or files', { param: null });
    }
    throw err;
  }
  if (!upload) throw new GatewayError('missing_required_parameter', "'file' is required", { param: 'file' });
  return { fields: audioFields(raw, extra), upload };
}

const KNOWN_FIELDS: ReadonlySet<string> = new Set([
  'model',
  'language',
  'prompt',
  'response_format',
  'temperature',
]);

function audioFields(raw: Map<string, string>, extra: Array<[string, string]>): AudioFields {
  const model = raw.get('model');
  if (!model) throw new GatewayError('missing_required_parameter', "'model' is required", { param: 'model' });
  const format = (raw.get('response_format') ?? 'json') as TranscriptFormat;
  if (!TRANSCRIPT_FORMATS.includes(format)) {
    throw new GatewayError(
      'invalid_value',
      `response_format must be one of: ${TRANSCRIPT_FORMATS.join(', ')}`,
      {
        param: 'response_format',
      },
    );
  }
  const fields: AudioFields = { model, response_format: format, extra };
  const language = raw.get('language');
  if (language !== undefined) {
    if (!/^[a-z]{2,3}(-[A-Za-z]{2,4})?$/.test(language)) {
      throw new GatewayError('invalid_value', 'language must be an ISO-639-1 code such as "en"', {
        param: 'language',
      });
    }
    fields.language = language;
  }
  const prompt = raw.get('prompt');
  if (prompt !== undefined) fields.prompt = prompt;
  const temperature = raw.get('temperature');
  if (temperature !== undefined) {
    const t = Number(temperature);
    if (!Number.isFinite(t) || t < 0 || t > 1) {
      throw new GatewayError('invalid_value', 'temperature must be a number between 0 and 1', {
        param: 'temperature',
      });
    }
    fields.temperature = t;
  }
  return fields;
}
