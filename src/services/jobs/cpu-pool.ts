import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { Piscina } from 'piscina';
import type { SplitResult, SplitTask } from './text-worker.js';

/**
 * The worker-thread pool for CPU-heavy job steps (token counting and splitting of large inputs).
 *
 * Worker threads load plain JavaScript, so the pool runs the compiled `text-worker.js`. Under a TypeScript
 * loader (tsx, vitest) this module is `cpu-pool.ts` and the compiled file is looked up in `dist/`; without
 * a build there, the step runs inline and says so (`threadId` 0 is the main thread).
 */
export class CpuPool {
  private pool: Piscina | undefined;
  private readonly file: string | undefined;

  constructor(private readonly maxThreads = Math.max(1, Math.min(4, availableParallelism() - 1))) {
    const here = fileURLToPath(import.meta.url);
    const candidates = here.endsWith('.js')
      ? [here.replace(/cpu-pool\.js$/, 'text-worker.js')]
      : [
          here.replace(
            /src([/\\])services([/\\])jobs([/\\])cpu-pool\.ts$/,
            'dist$1services$2jobs$3text-worker.js',
          ),
        ];
    this.file = candidates.find((f) => existsSync(f));
  }

  get threaded(): boolean {
    return this.file !== undefined;
  }

  async split(task: SplitTask, signal?: AbortSignal): Promise<SplitResult> {
    if (!this.file) {
      const { default: split } = await import('./text-worker.js');
      return split(task);
    }
    // piscina is imported on first use: most gateways never split a large text.
    if (!this.pool) {
      const { Piscina: Pool } = await import('piscina');
      this.pool ??= new Pool({
        filename: this.file,
        minThreads: 0,
        maxThreads: this.maxThreads,
        // Threads that sit idle give their memory (the ~50 MiB tokenizer) back.
        idleTimeout: 30_000,
      });
    }
    return (await this.pool.run(task, signal ? { signal } : {})) as SplitResult;
  }

  async close(): Promise<void> {
    await this.pool?.destroy();
  }
}
