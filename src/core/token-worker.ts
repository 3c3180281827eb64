import { countTextTokens, loadTokenizer } from './tokens.js';

/** Runs on a worker thread (token-counter.ts): large inputs are counted here, off the event loop. */
export default async function count(texts: string[]): Promise<number[]> {
  const enc = await loadTokenizer();
  return texts.map((t) => countTextTokens(enc, t));
}
