import OpenAI, { toFile } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeUpstream, sendJson, startFakeUpstream } from '../helpers/fake-upstream.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

/** POST /v1/audio/transcriptions and /translations with the openai SDK and a WAV generated here. */

/** A valid 16-bit mono PCM WAV: `seconds` of a 440 Hz tone at `rate` samples per second. */
function wav(seconds: number, rate = 8000): Buffer {
  const samples = Math.round(seconds * rate);
  const data = Buffer.alloc(samples * 2);
  for (let i = 0; i < samples; i++)
    data.writeInt16LE(Math.round(Math.sin((2 * Math.PI * 440 * i) / rate) * 12000), i * 2);
  const h = Buffer.alloc(44);
  h.write('RIFF', 0, 'ascii');
  h.writeUInt32LE(36 + data.length, 4);
  h.write('WAVE', 8, 'ascii');
  h.write('fmt ', 12, 'ascii');
  h.writeUInt32LE(16, 16); // fmt chunk size
  h.writeUInt16LE(1, 20); // PCM
  h.writeUInt16LE(1, 22); // mono
  h.writeUInt32LE(rate, 24);
  h.writeUInt32LE(rate * 2, 28); // byte rate
  h.writeUInt16LE(2, 32); // block align
  h.writeUInt16LE(16, 34); // bits per sample
  h.write('data', 36, 'ascii');
  h.writeUInt32LE(data.length, 40);
  return Buffer.concat([h, data]);
}

let whisper: FakeUpstream;
let gw: TestGateway;
let client: OpenAI;

beforeAll(async () => {
  whisper = await startFakeUpstream((req, res) => {
    // Echo what arrived so the test can check the multipart the gateway built.
    const type = String(req.headers['content-type']);
    sendJson(res, 200, { text: `got ${req.raw.length} bytes as ${type.split(';')[0]}` });
  });
  gw = await startGateway(`
server: { load_shedding: { enabled: false } }
audio: { max_file_size: 64kb }
providers:
  mock: { type: mock }
  groq: { type: openai, base_url: ${whisper.url}/openai/v1, api_key: gk }
  claude: { type: anthropic, base_url: http://127.0.0.1:9, api_key: x }
models:
  whisper-mock: { targets: [ { provider: mock, model: whisper-1 } ] }
  whisper-groq: { targets: [ { provider: groq, model: whisper-large-v3 } ] }
  claude: { targets: [ { provider: claude, model: claude-x } ] }
`);
  client = new OpenAI({ baseURL: gw.baseURL, apiKey: 'client', maxRetries: 0 });
});

afterAll(async () => {
  await gw?.close();
  await whisper?.close();
});

describe('audio transcription', () => {
  it('the mock transcribes a generated WAV deterministically, in every format', async () => {
    const file = () => toFile(wav(1.5), 'hello.wav', { type: 'audio/wav' });
    const json = await client.audio.transcriptions.create({ file: await file(), model: 'whisper-mock' });
    expect(json).toEqual({ text: 'Transcribed 1.50 seconds of audio with the mock provider.' });

    const text = await client.audio.transcriptions.create({
      file: await file(),
      model: 'whisper-mock',
      response_format: 'text',
    });
    expect(text).toBe('Transcribed 1.50 seconds of audio with the mock provider.\n');

    const srt = await client.audio.transcriptions.create({
      file: await file(),
      model: 'whisper-mock',
      response_format: 'srt',
    });
    expect(srt).toBe(
      '1\n00:00:00,000 --> 00:00:01,500\nTranscribed 1.50 seconds of audio with the mock provider.\n\n',
    );

    const verbose = await client.audio.transcriptions.create({
      file: await file(),
      model: 'whisper-mock',
      response_format: 'verbose_json',
      language: 'fr',
    });
    expect(verbose).toMatchObject({ task: 'transcribe', language: 'fr', duration: 1.5 });

    const translated = await client.audio.translations.create({ file: await file(), model: 'whisper-mock' });
    expect(translated).toEqual({ text: 'Translated 1.50 seconds of audio with the mock provider.' });
  });

  it('streams the upload to an OpenAI-compatible upstream as multipart with the upstream model', async () => {
    const audio = wav(0.5);
    const res = await client.audio.transcriptions.create({
      file: await toFile(audio, 'clip.wav', { type: 'audio/wav' }),
      model: 'whisper-groq',
      prompt: 'names: Ada',
    });
    expect(res.text).toMatch(/^got \d+ bytes as multipart\/form-data$/);
    const sent = whisper.requests.at(-1)!;
    expect(sent.url).toBe('/openai/v1/audio/transcriptions');
    expect(sent.headers.authorization).toBe('Bearer gk');
    const body = sent.raw;
    expect(sent.body).toContain('name="model"\r\n\r\nwhisper-large-v3\r\n');
    expect(sent.body).toContain('name="prompt"\r\n\r\nnames: Ada\r\n');
    expect(sent.body).toContain('name="file"; filename="clip.wav"\r\nContent-Type: audio/wav\r\n\r\n');
    // The file's bytes arrive intact.
    expect(body.includes(audio)).toBe(true);
  });

  it('rejects oversized, non-audio and non-multipart uploads, and providers without audio', async () => {
    const big = await fetchForm(wav(5), 'big.wav', 'audio/wav', 'whisper-mock');
    expect(big.status).toBe(413);
    expect(((await big.json()) as { error: { code: string } }).error.code).toBe('file_too_large');

    const txt = await fetchForm(Buffer.from('hello'), 'notes.txt', 'text/plain', 'whisper-mock');
    expect(txt.status).toBe(415);
    expect(await txt.json()).toEqual({
      error: {
        message:
          "file type 'text/plain' is not supported; send flac, mp3, mp4, mpeg, mpga, m4a, ogg, wav or webm",
        type: 'invalid_request_error',
        code: 'unsupported_audio_type',
        param: 'file',
      },
    });

    const json = await fetch(`${gw.baseURL}/audio/transcriptions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'whisper-mock' }),
    });
    expect(json.status).toBe(415);

    const claude = await fetchForm(wav(0.1), 'a.wav', 'audio/wav', 'claude');
    expect(claude.status).toBe(400);
    expect(((await claude.json()) as { error: { code: string } }).error.code).toBe('audio_not_supported');

    const noModel = await fetchForm(wav(0.1), 'a.wav', 'audio/wav', undefined);
    expect(noModel.status).toBe(400);
    expect(((await noModel.json()) as { error: { param: string } }).error.param).toBe('model');
  });
});

function fetchForm(data: Buffer, name: string, type: string, model: string | undefined): Promise<Response> {
  const form = new FormData();
  form.append('file', new Blob([data], { type }), name);
  if (model !== undefined) form.append('model', model);
  return fetch(`${gw.baseURL}/audio/transcriptions`, { method: 'POST', body: form });
}
