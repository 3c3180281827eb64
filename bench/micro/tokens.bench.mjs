// Micro-benchmark: token counting is linear and bounded (issue 8, item 1). Uses the built gateway in
// ../../dist (run `npm run build` first):
//   countTextTokens (dist/core/tokens.js)    one repeated letter, English, at 125 KB .. 1 MB
//   countPromptTokens                        150,000 text parts of "a" in one message
//
//   npm --prefix bench run bench:micro:tokens
//
// Each input is timed at four sizes that double; linear work shows as a time per 1,000 characters (or
// parts) that does not grow with the size (the last column), where the encoder on the whole text is
// quadratic in a run of one letter (8,000 `a`s took 10 s; the second table). Past the work budget
// (tokens.ts WORK_BUDGET) the rest is estimated, so the largest inputs cost less per character still.
// Each row is the median of RUNS timings (default 5) after one warm-up.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const file = join(REPO, 'dist', 'core/tokens.js');
if (!existsSync(file)) {
  process.stderr.write('dist/core/tokens.js is missing: run `npm run build` in the repository root first\n');
  process.exit(1);
}
const { countTextTokens, countPromptTokens, loadTokenizer } = await import(pathToFileURL(file).href);
const enc = await loadTokenizer();
const RUNS = Number(process.env.RUNS ?? 5);

const ENGLISH =
  'It was the best of times, it was the worst of times, it was the age of wisdom, it was the age of ' +
  'foolishness, it was the epoch of belief, it was the epoch of incredulity, it was the season of Light. ';

function median(fn) {
  fn();
  const times = [];
  let result;
  for (let i = 0; i < RUNS; i++) {
    const t = performance.now();
    result = fn();
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  return { ms: times[Math.floor(times.length / 2)], result };
}

const rows = [];
const MB = 1024 * 1024;
for (const [name, make] of [
  ['one letter', (n) => 'a'.repeat(n)],
  ['English', (n) => ENGLISH.repeat(Math.ceil(n / ENGLISH.length)).slice(0, n)],
]) {
  for (const size of [MB / 8, MB / 4, MB / 2, MB]) {
    const text = make(size);
    const { ms, result } = median(() => countTextTokens(enc, text));
    rows.push(row(name, size, result, ms));
  }
}
for (const parts of [18_750, 37_500, 75_000, 150_000]) {
  const messages = [
    { role: 'user', content: Array.from({ length: parts }, () => ({ type: 'text', text: 'a' })) },
  ];
  const { ms, result } = median(() => countPromptTokens(enc, messages));
  rows.push(row('parts of "a"', parts, result, ms));
}
console.table(rows);

// For contrast: the encoder called on the whole text, as before. Quadratic in a run of one letter, so
// only small sizes, once each.
const before = [];
for (const size of [1000, 2000, 4000]) {
  const text = 'a'.repeat(size);
  const t = performance.now();
  const tokens = enc.encode(text).length;
  before.push(row('one letter, unsplit', size, tokens, performance.now() - t));
}
console.table(before);

function row(input, size, tokens, ms) {
  return { input, size, tokens, ms: ms.toFixed(1), 'µs per 1,000': ((ms * 1000) / (size / 1000)).toFixed(0) };
}
