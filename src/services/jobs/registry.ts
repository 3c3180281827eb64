import type { Logger } from 'pino';
import type { JobRecord, QueueTypeOptions } from '../../backends/queue/types.js';
import type { JobTypeSpec } from '../../types/config.js';

export interface JobHandlerContext {
  /** Aborted on cancel (`cancelled`) and at the shutdown deadline (`shutdown`): stop and throw. */
  signal: AbortSignal;
  /** Reports 0-100 progress with an optional message; shown by GET /v1/jobs/:id and its SSE stream. */
  progress(pct: number, message?: string): Promise<void>;
  log: Logger;
  attempt: number;
  job: Pick<JobRecord, 'id' | 'team' | 'type' | 'priority' | 'caller'>;
}

export interface JobTypeDefinition<I = unknown, R = unknown> {
  /** Also the queue name: `^[a-z][a-z0-9_.-]{0,63}$`. */
  name: string;
  handler(input: I, ctx: JobHandlerContext): Promise<R>;
  /** Checks a submission; a message becomes a 400 naming the problem. Runs before anything is queued. */
  validate?(input: unknown): string | undefined;
  /** Whether clients may submit it through POST /v1/jobs (internal types such as webhook delivery are not). */
  public?: boolean;
  maxAttempts?: number;
  concurrency?: number;
  rateLimit?: { max: number; durationMs: number };
}

const TYPE_NAME = /^[a-z][a-z0-9_.-]{0,63}$/;
export const DEFAULT_TYPE_SETTINGS: JobTypeSpec = { concurrency: 4, maxAttempts: 3, rateLimit: undefined };

/** Job types by name. Later issues register theirs (tasks, repository analysis, reports) at startup. */
export class JobRegistry {
  private readonly types = new Map<string, JobTypeDefinition>();

  constructor(private readonly overrides: ReadonlyMap<string, Partial<JobTypeSpec>> = new Map()) {}

  register<I, R>(def: JobTypeDefinition<I, R>): void {
    if (!TYPE_NAME.test(def.name)) throw new Error(`job type name '${def.name}' must match ${TYPE_NAME}`);
    if (this.types.has(def.name)) throw new Error(`job type '${def.name}' is already registered`);
    this.types.set(def.name, def as JobTypeDefinition);
  }

  get(name: string): JobTypeDefinition | undefined {
    return this.types.get(name);
  }

  names(): string[] {
    return [...this.types.keys()];
  }

  /** The type's settings: config (`jobs.types.<name>`) over the registration over the defaults. */
  settings(name: string): JobTypeSpec {
    const def = this.types.get(name);
    const o = this.overrides.get(name) ?? {};
    return {
      concurrency: o.concurrency ?? def?.concurrency ?? DEFAULT_TYPE_SETTINGS.concurrency,
      maxAttempts: o.maxAttempts ?? def?.maxAttempts ?? DEFAULT_TYPE_SETTINGS.maxAttempts,
      rateLimit: o.rateLimit ?? def?.rateLimit,
    };
  }

  workOptions(names: readonly string[] = this.names()): Record<string, QueueTypeOptions> {
    const out: Record<string, QueueTypeOptions> = {};
    for (const n of names) {
      const s = this.settings(n);
      out[n] = { concurrency: s.concurrency, rateLimit: s.rateLimit };
    }
    return out;
  }
}
