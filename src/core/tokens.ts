import type { Tiktoken } from 'js-tiktoken/lite';
import type { ChatMessage } from '../types/openai.js';

/**
 * Token counting with cl100k_base, with work that is linear in the input and bounded.
 *
 * js-tiktoken's byte-pair merge is quadratic in the length of one pre-token, and its pre-tokenizer keeps
 * a run of one character class (`aaaa…`, `!!!!…`, a long run of spaces) as one pre-token: 8,000 `a`s
 * took 10 s and stopped the event loop. So text is cut into pieces before encoding: a piece ends before
 * whitespace once it is long enough (where tiktoken splits anyway, so ordinary prose counts exactly as
 * before), and any run of one character class (letters, symbols, whitespace) is cut every RUN_MAX
 * characters (which can add a token at a cut inside a word longer than RUN_MAX). The merge work of each run grows with the
 * square of its length, so the splitter also adds it up; once it passes WORK_BUDGET the rest of the
 * text is estimated from the tokens per character counted so far. Measured on two shared cores: 1 MB of
 * English or of one repeated letter costs well under a second, on a worker thread (token-counter.ts).
 *
 * The rank table is ~1 MB of JS, so it is loaded on first use rather than at startup.
 */

/** Longest run of one class (letters, symbols) handed to the encoder in one piece. */
export const RUN_MAX = 32;
/** Whitespace merges cheaply and cl100k has tokens for long runs of spaces (indentation). */
const SPACE_RUN_MAX = 64;
/** A piece is closed at the next whitespace once it is this long. */
const PIECE_TARGET = 512;
/**
 * Merge work (the sum, over characters, of the length of the run so far) counted exactly per text. English
 * costs about 3 per character, a run of one letter about 16, whitespace 1.
 */
export const WORK_BUDGET = 1_000_000;

let encoder: Tiktoken | undefined;
let loading: Promise<Tiktoken> | undefined;

export function loadTokenizer(): Promise<Tiktoken> {
  if (encoder) return Promise.resolve(encoder);
  loading ??= Promise.all([import('js-tiktoken/lite'), import('js-tiktoken/ranks/cl100k_base')]).then(
    ([lite, ranks]) => {
      encoder = new lite.Tiktoken(ranks.default);
      // The rank-to-bytes map serves decode() only, which the gateway never calls: 100,000 small
      // Uint8Arrays (tens of MB of RSS) dropped.
      (encoder as unknown as TiktokenInternals).textMap.clear();
      return encoder;
    },
  );
  return loading;
}

const SPACE = 0;
const WORD = 1;
const DIGIT = 2;
const PUNCT = 3;

/**
 * The character classes tiktoken's pre-tokenizer splits between (letters, digits, other symbols,
 * whitespace), approximated on char codes: everything outside ASCII that is not a space counts as a
 * letter, which is what most of it is.
 */
function charClass(c: number): number {
  if (c === 32 || (c >= 9 && c <= 13) || c === 0xa0 || c === 0x3000 || (c >= 0x2000 && c <= 0x200a)) {
    return SPACE;
  }
  if (c >= 48 && c <= 57) return DIGIT;
  if (c < 128 && !((c >= 65 && c <= 90) || (c >= 97 && c <= 122))) return PUNCT;
  return WORD;
}

function isHighSurrogate(c: number): boolean {
  return c >= 0xd800 && c <= 0xdbff;
}

/**
 * Calls `piece(start, end)` for consecutive slices of text, in order, until the text ends or the merge
 * work passes `budget`. Returns where it stopped. Linear: one pass, each character looked at once.
 */
export function splitForEncoding(
  text: string,
  budget: number,
  piece: (start: number, end: number) => void,
): number {
  let start = 0;
  let run = 0;
  let work = 0;
  let prev = -1;
  const len = text.length;
  for (let i = 0; i < len; i++) {
    const cls = charClass(text.charCodeAt(i));
    const space = cls === SPACE;
    if (cls !== prev) {
      // A class change: a piece long enough ends before whitespace, where tiktoken splits anyway.
      if (space && i - start >= PIECE_TARGET) {
        piece(start, i);
        start = i;
        if (work > budget) return i;
      }
      run = 0;
      prev = cls;
    }
    run++;
    if (run > (space ? SPACE_RUN_MAX : RUN_MAX) && !isHighSurrogate(text.charCodeAt(i - 1))) {
      piece(start, i);
      start = i;
      run = 1;
      if (work > budget) return i;
    }
    work += space ? 1 : run;
  }
  if (start < len) piece(start, len);
  return len;
}

/** The parts of js-tiktoken's Tiktoken (0.0.x, lite) the counter reads; all set in its constructor. */
interface TiktokenInternals {
  patStr: string;
  rankMap: Map<string, number>;
  textMap: Map<number, Uint8Array>;
  specialTokens: Record<string, number>;
}

type Counter = (text: string) => number;
const counters = new WeakMap<Tiktoken, Counter>();

/**
 * `enc.encode(text).length` without the encoding: the same pre-tokenizer pattern, rank table and
 * byte-pair merge, and the same refusal of text holding a special token, but compiled once instead of
 * on every call (js-tiktoken's encode() builds its regular expressions, escapes every special token and
 * runs a TextEncoder per call), with no token arrays built, and ASCII pieces keyed without a TextEncoder.
 * The counts are js-tiktoken's exactly (test/unit/tokens-fast-count.test.ts compares them).
 */
function counterFor(enc: Tiktoken): Counter {
  let counter = counters.get(enc);
  if (counter) return counter;
  const t = enc as unknown as TiktokenInternals;
  const pattern = new RegExp(t.patStr, 'ug');
  const specials = Object.keys(t.specialTokens);
  const special =
    specials.length > 0
      ? new RegExp(specials.map((x) => x.replace(/[\\^$*+?.()|[\]{}]/g, '\\$&')).join('|'))
      : undefined;
  const ranks = t.rankMap;
  const utf8 = new TextEncoder();
  counter = (text) => {
    const m = special?.exec(text);
    if (m) throw new Error(`The text contains a special token that is not allowed: ${m[0]}`);
    let n = 0;
    for (const match of text.matchAll(pattern)) {
      const piece = match[0];
      const bytes = asciiBytes(piece) ?? Array.from(utf8.encode(piece));
      if (ranks.has(bytes.join(','))) n++;
      else n += bytePairCount(bytes, ranks);
    }
    return n;
  };
  counters.set(enc, counter);
  return counter;
}

/** The bytes of an ASCII string (its char codes), or undefined when it has any other character. */
function asciiBytes(s: string): number[] | undefined {
  const out = new Array<number>(s.length);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0x7f) return undefined;
    out[i] = c;
  }
  return out;
}

/** How many tokens js-tiktoken's bytePairEncode returns for `piece`: the same merge, counted. */
function bytePairCount(piece: number[], ranks: Map<string, number>): number {
  // js-tiktoken returns [rank] for one byte without checking it is in the table: always one.
  if (piece.length === 1) return 1;
  const parts: Array<{ start: number; end: number }> = [];
  for (let i = 0; i < piece.length; i++) parts.push({ start: i, end: i + 1 });
  while (parts.length > 1) {
    let minRank = -1;
    let at = -1;
    for (let i = 0; i < parts.length - 1; i++) {
      const rank = ranks.get(piece.slice(parts[i]!.start, parts[i + 1]!.end).join(','));
      if (rank === undefined) continue;
      if (at === -1 || rank < minRank) {
        minRank = rank;
        at = i;
      }
    }
    if (at === -1) break;
    parts[at] = { start: parts[at]!.start, end: parts[at + 1]!.end };
    parts.splice(at + 1, 1);
  }
  let n = 0;
  for (const p of parts) if (ranks.has(piece.slice(p.start, p.end).join(','))) n++;
  return n;
}

/** The tokenizer if it has been loaded, without loading it. */
export function getLoadedTokenizer(): Tiktoken | undefined {
  return encoder;
}

export function countTextTokens(enc: Tiktoken, text: string): number {
  if (text.length === 0) return 0;
  const count = counterFor(enc);
  let n = 0;
  const stop = splitForEncoding(text, WORK_BUDGET, (s, e) => {
    n += count(text.slice(s, e));
  });
  // Beyond the budget, the rest is assumed to tokenize like the part counted.
  if (stop < text.length) n += Math.ceil(((text.length - stop) * n) / stop);
  return n;
}

/** OpenAI's published accounting for chat prompts: 3 tokens per message, 3 to prime the reply. */
export function countPromptTokens(enc: Tiktoken, messages: readonly ChatMessage[]): number {
  let n = 3;
  for (const m of messages) {
    n += 3 + countTextTokens(enc, messageText(m));
    if (m.name) n += 1;
  }
  return n;
}

/** The text parts of a message joined. Builds the string in one pass (no spread of a huge array). */
export function messageText(m: ChatMessage): string {
  if (typeof m.content === 'string') return m.content;
  if (!m.content) return '';
  const texts: string[] = [];
  for (const p of m.content) if (p.type === 'text') texts.push(p.text);
  return texts.join('');
}
