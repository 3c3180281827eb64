// Micro-benchmark: CPU cost of Switchyard's OpenAI stream path, per stream of 24 SSE events
// (role chunk, 20 content deltas, finish chunk, usage chunk, [DONE]) - the same stream the load
// benchmark's fake upstream sends. Uses the built gateway in ../../dist (run `npm run build` first).
//
//   npm --prefix bench run bench:micro        (env BENCH_TIME_MS, default 500 per task)
//
// Steps measured, each building on the previous one (mirrors SseChunkReader in
// src/upstream/http-client.ts and the framing in src/routes/deliver.ts):
//   1. JSON.parse of every event's data         - the floor: parsing is unavoidable
//   2. OpenAIStreamTranslator.push per event    - adds the translator's own checks
//   3. eventsource-parser + translator, 1 read  - whole stream in one network read
//   4. same, one read per event (TextDecoder)   - worst-case framing, as with a slow upstream
//   5. 4 + sseData() re-serialisation           - everything the gateway does per stream but I/O
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Bench } from 'tinybench';
import { streamFrames } from '../load/openai-fixtures.mjs';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const dist = (p) => join(REPO, 'dist', p);
if (!existsSync(dist('providers/openai/index.js'))) {
  process.stderr.write('dist/ is missing: run `npm run build` in the repository root first\n');
  process.exit(1);
}
const { OpenAIStreamTranslator } = await import(pathToFileURL(dist('providers/openai/index.js')).href);
const { sseData, SSE_DONE } = await import(pathToFileURL(dist('core/sse.js')).href);
const rootRequire = createRequire(join(REPO, 'package.json'));
const { createParser } = await import(pathToFileURL(rootRequire.resolve('eventsource-parser')).href);

const frames = streamFrames('gpt-4o-mini');
const EVENTS = frames.length;
const datas = frames.map((f) => f.slice('data: '.length, -2));
const whole = frames.join('');
const frameBufs = frames.map((f) => Buffer.from(f));

let sink = 0; // keeps results observable so the work cannot be optimised away

function translateEvents() {
  const t = new OpenAIStreamTranslator('up');
  for (const data of datas) sink += t.push({ event: undefined, data }).length;
  sink += t.end().length;
}

function parseAndTranslate(input, serialise) {
  const t = new OpenAIStreamTranslator('up');
  const out = [];
  const parser = createParser({
    onEvent(ev) {
      const chunks = t.push({ event: ev.event, data: ev.data });
      for (let i = 0; i < chunks.length; i++) out.push(chunks[i]);
    },
  });
  const decoder = new TextDecoder();
  if (typeof input === 'string') parser.feed(input);
  else for (const buf of input) parser.feed(decoder.decode(buf, { stream: true }));
  parser.feed(decoder.decode());
  parser.reset({ consume: true });
  for (const c of t.end()) out.push(c);
  if (serialise) {
    let bytes = 0;
    for (const c of out) bytes += sseData(c).length;
    bytes += SSE_DONE.length;
    sink += bytes;
  } else {
    sink += out.length;
  }
}

// Correctness first: every variant must produce the 23 chunks of the fixture stream.
{
  const t = new OpenAIStreamTranslator('up');
  const n = datas.reduce((acc, d) => acc + t.push({ data: d }).length, 0);
  if (n !== EVENTS - 1) throw new Error(`translator produced ${n} chunks, expected ${EVENTS - 1}`);
}

const bench = new Bench({ time: Number(process.env.BENCH_TIME_MS ?? 500), warmupTime: 200 });
bench
  .add('1. JSON.parse only (floor)', () => {
    for (const d of datas) if (d !== '[DONE]') sink += JSON.parse(d).choices.length;
  })
  .add('2. translator.push', translateEvents)
  .add('3. sse parser + translator, 1 read', () => parseAndTranslate(whole, false))
  .add(`4. sse parser + translator, ${EVENTS} reads`, () => parseAndTranslate(frameBufs, false))
  .add('5. 4 + sseData re-serialise', () => parseAndTranslate(frameBufs, true));

await bench.run();

const rows = bench.tasks.map((task) => {
  const r = task.result;
  if (r.state !== 'completed') return `| ${task.name} | ${r.state} | | | |`;
  const usPerStream = r.latency.mean * 1000;
  return `| ${task.name} | ${Math.round(r.throughput.mean).toLocaleString('en-US')} | ${usPerStream.toFixed(2)} | ${r.latency.p99 ? (r.latency.p99 * 1000).toFixed(2) : '-'} | ${((usPerStream * 1000) / EVENTS).toFixed(0)} |`;
});
process.stdout.write(
  [
    `\n## OpenAI stream translation micro-benchmark (node ${process.version}, ${EVENTS} events per stream)`,
    '',
    '| step | streams/s | µs/stream (mean) | µs/stream (p99) | ns/event |',
    '|:--|--:|--:|--:|--:|',
    ...rows,
    '',
    `(sink ${sink > 0 ? 'ok' : '0'})`,
    '',
  ].join('\n'),
);
