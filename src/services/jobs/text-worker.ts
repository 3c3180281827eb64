import { threadId } from 'node:worker_threads';
import { Tiktoken } from 'js-tiktoken/lite';
import ranks from 'js-tiktoken/ranks/cl100k_base';

/**
 * Runs on the piscina worker-thread pool (cpu-pool.ts): tokenising megabytes of text takes hundreds of
 * milliseconds of pure CPU, which must not stall the event loop serving requests.
 */

let enc: Tiktoken | undefined;

export interface SplitTask {
  text: string;
  maxTokensPerChunk: number;
}

export interface SplitResult {
  tokens: number;
  chunks: Array<{ index: number; tokens: number; text: string }>;
  threadId: number;
}

/** Counts cl100k tokens and cuts the text into chunks of at most `maxTokensPerChunk`, at line ends when possible. */
export default function split(task: SplitTask): SplitResult {
  enc ??= new Tiktoken(ranks);
  const lines = task.text.split(/(?<=\n)/);
  const chunks: SplitResult['chunks'] = [];
  let cur = '';
  let curTokens = 0;
  let total = 0;
  const flush = () => {
    if (cur.length > 0) chunks.push({ index: chunks.length, tokens: curTokens, text: cur });
    cur = '';
    curTokens = 0;
  };
  for (const line of lines) {
    const ids = enc.encode(line);
    total += ids.length;
    if (ids.length > task.maxTokensPerChunk) {
      // One line longer than a chunk: cut it by tokens.
      flush();
      for (let i = 0; i < ids.length; i += task.maxTokensPerChunk) {
        const part = ids.slice(i, i + task.maxTokensPerChunk);
        chunks.push({ index: chunks.length, tokens: part.length, text: enc.decode(part) });
      }
      continue;
    }
    if (curTokens + ids.length > task.maxTokensPerChunk) flush();
    cur += line;
    curTokens += ids.length;
  }
  flush();
  return { tokens: total, chunks, threadId };
}
