import type { CpuPool } from './cpu-pool.js';
import type { JobRegistry } from './registry.js';

export interface TextSplitInput {
  text: string;
  max_tokens_per_chunk?: number;
}

/**
 * `text.split`: counts the tokens of a large text and cuts it into chunks that fit a model's context,
 * on the worker-thread pool. The first step of map-reduce work over big inputs (transcripts, repositories).
 */
export function registerTextSplit(registry: JobRegistry, cpu: CpuPool): void {
  registry.register<TextSplitInput, unknown>({
    name: 'text.split',
    concurrency: 2,
    validate(input) {
      if (typeof input !== 'object' || input === null || Array.isArray(input))
        return 'input must be an object';
      const i = input as Record<string, unknown>;
      if (typeof i.text !== 'string') return 'input.text must be a string';
      const m = i.max_tokens_per_chunk;
      if (m !== undefined && (typeof m !== 'number' || !Number.isInteger(m) || m < 16 || m > 1_000_000)) {
        return 'input.max_tokens_per_chunk must be an integer from 16 to 1000000';
      }
      const extra = Object.keys(i).filter((k) => k !== 'text' && k !== 'max_tokens_per_chunk');
      return extra.length ? `input.${extra[0]} is not a known field` : undefined;
    },
    async handler(input, ctx) {
      await ctx.progress(5, 'tokenizing');
      const r = await cpu.split(
        { text: input.text, maxTokensPerChunk: input.max_tokens_per_chunk ?? 1000 },
        ctx.signal,
      );
      await ctx.progress(100, `${r.chunks.length} chunks`);
      return { tokens: r.tokens, chunks: r.chunks, worker_thread: r.threadId };
    },
  });
}
