import { createRequire } from 'node:module';
import type { Piscina } from 'piscina';
import type { ChatMessage } from '../types/openai.js';
import { countTextTokens, loadTokenizer, messageText } from './tokens.js';

/**
 * Asynchronous token counts for the request path. Small inputs are counted inline (a worker round trip
 * costs more than the count); from OFFLOAD_CHARS on, the count runs on a worker thread, so a 1 MB
 * prompt never holds up `/health/live` or other requests. Counting itself is linear and capped
 * (tokens.ts), so a worker is never stuck for long either.
 */

export const OFFLOAD_CHARS = 16 * 1024;

let pool: Piscina | undefined;
// piscina loads with the first offloaded count: most gateways (no mock provider) never count tokens.
const require = createRequire(import.meta.url);

function workerPool(): Piscina {
  if (pool) return pool;
  const self = import.meta.url;
  // From source (tests, `npm run dev`) the worker is TypeScript, which a worker thread loads through tsx.
  const fromSource = self.endsWith('.ts');
  const { Piscina: PiscinaCtor } = require('piscina') as typeof import('piscina');
  pool = new PiscinaCtor({
    filename: new URL(fromSource ? './token-worker.ts' : './token-worker.js', self).href,
    minThreads: 0,
    maxThreads: 1,
    // The encoder's rank table is ~1 MB per thread; an idle worker goes away.
    idleTimeout: 30_000,
    ...(fromSource ? { execArgv: ['--import', 'tsx'] } : {}),
  });
  return pool;
}

/**
 * Per text. Only strings cross to the worker: cloning a message with 150,000 content-part objects costs
 * more than joining their text here.
 */
export async function textTokens(texts: readonly string[]): Promise<number[]> {
  let size = 0;
  for (const t of texts) size += t.length;
  if (size >= OFFLOAD_CHARS) return workerPool().run(texts) as Promise<number[]>;
  const enc = await loadTokenizer();
  return texts.map((t) => countTextTokens(enc, t));
}

/** OpenAI's published accounting for chat prompts: 3 tokens per message, 3 to prime the reply. */
export async function promptTokens(messages: readonly ChatMessage[]): Promise<number> {
  const texts = messages.map(messageText);
  let n = 3;
  for (const c of await textTokens(texts)) n += 3 + c;
  for (const m of messages) if (m.name) n += 1;
  return n;
}

let users = 0;

/**
 * One gateway in this process uses the counter; `closeTokenCounter` undoes it. The worker is shared, so
 * it stops only when the last gateway (tests run several in one process) has closed.
 */
export function useTokenCounter(): void {
  users++;
}

/** Stops the worker, if one was started, once no gateway in the process uses it (shutdown). */
export async function closeTokenCounter(): Promise<void> {
  users = Math.max(0, users - 1);
  if (users > 0) return;
  const p = pool;
  pool = undefined;
  await p?.destroy();
}
