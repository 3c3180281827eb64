/**
 * Audio transcription and translation (POST /v1/audio/transcriptions, /v1/audio/translations) as
 * OpenAI defines them: the accepted formats, the multipart body forwarded to OpenAI-compatible
 * upstreams, and the mock provider's deterministic transcript in every response_format. Pure: no I/O.
 */

export type AudioTask = 'transcribe' | 'translate';
export type TranscriptFormat = 'json' | 'text' | 'srt' | 'verbose_json' | 'vtt';

export const TRANSCRIPT_FORMATS: readonly TranscriptFormat[] = ['json', 'text', 'srt', 'verbose_json', 'vtt'];

/** The file types OpenAI's Whisper endpoints accept, by extension. */
export const AUDIO_EXTENSIONS: ReadonlySet<string> = new Set([
  'flac',
  'mp3',
  'mp4',
  'mpeg',
  'mpga',
  'm4a',
  'ogg',
  'oga',
  'opus',
  'wav',
  'webm',
]);

/** An upload is audio when its type says so, or when a generic type comes with an audio extension. */
export function isAcceptedAudio(mimetype: string, filename: string): boolean {
  const type = mimetype.toLowerCase().split(';')[0]!.trim();
  if (type.startsWith('audio/') || type === 'video/mp4' || type === 'video/webm' || type === 'video/mpeg')
    return true;
  if (type === 'application/octet-stream' || type === '') {
    const ext = filename.toLowerCase().split('.').pop() ?? '';
    return AUDIO_EXTENSIONS.has(ext);
  }
  return false;
}

export interface AudioFields {
  model: string;
  language?: string;
  prompt?: string;
  response_format: TranscriptFormat;
  temperature?: number;
  /** Other fields (timestamp_granularities[], ...) forwarded as sent. */
  extra: Array<[string, string]>;
}

/** The multipart body around the file: the head (fields, then the file part's headers) and the tail. */
export function multipartFrame(
  boundary: string,
  fields: Array<[string, string]>,
  file: { filename: string; mimetype: string },
): { head: string; tail: string } {
  let head = '';
  for (const [name, value] of fields) {
    head += `--${boundary}\r\nContent-Disposition: form-data; name="${escapeQuoted(name)}"\r\n\r\n${value}\r\n`;
  }
  head +=
    `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${escapeQuoted(file.filename)}"\r\n` +
    `Content-Type: ${file.mimetype}\r\n\r\n`;
  return { head, tail: `\r\n--${boundary}--\r\n` };
}

function escapeQuoted(s: string): string {
  return s.replace(/["\r\n\\]/g, (c) => encodeURIComponent(c));
}

/** Duration of a PCM WAV file from its header, or undefined for anything else. */
export function wavDurationSeconds(header: Buffer): number | undefined {
  if (
    header.length < 44 ||
    header.toString('ascii', 0, 4) !== 'RIFF' ||
    header.toString('ascii', 8, 12) !== 'WAVE'
  ) {
    return undefined;
  }
  // Walk the chunks: fmt gives the byte rate, data gives the length.
  let offset = 12;
  let byteRate: number | undefined;
  while (offset + 8 <= header.length) {
    const id = header.toString('ascii', offset, offset + 4);
    const size = header.readUInt32LE(offset + 4);
    if (id === 'fmt ' && offset + 16 <= header.length) byteRate = header.readUInt32LE(offset + 16);
    if (id === 'data') return byteRate ? size / byteRate : undefined;
    offset += 8 + size + (size % 2);
  }
  return undefined;
}

/**
 * The mock's transcript: deterministic, and derived from the audio (its duration for WAV, its size
 * otherwise) so a demo shows that the file arrived.
 */
export function mockTranscript(
  task: AudioTask,
  bytes: number,
  durationSec: number | undefined,
  language: string | undefined,
) {
  const duration = durationSec ?? bytes / 16_000;
  const what =
    durationSec !== undefined ? `${durationSec.toFixed(2)} seconds of audio` : `${bytes} bytes of audio`;
  const text = `${task === 'translate' ? 'Translated' : 'Transcribed'} ${what} with the mock provider.`;
  return {
    text,
    duration: Math.round(duration * 100) / 100,
    language: task === 'translate' ? 'english' : (language ?? 'english'),
  };
}

function stamp(sec: number, sep: ',' | '.'): string {
  const ms = Math.round(sec * 1000);
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = Math.floor((ms % 60_000) / 1000);
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${pad(h)}:${pad(m)}:${pad(s)}${sep}${pad(ms % 1000, 3)}`;
}

/** Renders a transcript in the requested response_format: [content-type, body]. */
export function renderTranscript(
  format: TranscriptFormat,
  task: AudioTask,
  t: { text: string; duration: number; language: string },
): [string, string] {
  switch (format) {
    case 'text':
      return ['text/plain; charset=utf-8', `${t.text}\n`];
    case 'srt':
      return [
        'text/plain; charset=utf-8',
        `1\n${stamp(0, ',')} --> ${stamp(t.duration, ',')}\n${t.text}\n\n`,
      ];
    case 'vtt':
      return [
        'text/vtt; charset=utf-8',
        `WEBVTT\n\n${stamp(0, '.')} --> ${stamp(t.duration, '.')}\n${t.text}\n\n`,
      ];
    case 'verbose_json':
      return [
        'application/json',
        JSON.stringify({
          task,
          language: t.language,
          duration: t.duration,
          text: t.text,
          segments: [
            {
              id: 0,
              seek: 0,
              start: 0,
              end: t.duration,
              text: t.text,
              tokens: [],
              temperature: 0,
              avg_logprob: 0,
              compression_ratio: 1,
              no_speech_prob: 0,
            },
          ],
        }),
      ];
    default:
      return ['application/json', JSON.stringify({ text: t.text })];
  }
}
