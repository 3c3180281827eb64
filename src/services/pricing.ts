import type { PriceSpec } from '../types/config.js';

/**
 * USD per million tokens (input, output) for well-known models, as published by each provider. Config
 * `pricing:` overrides and extends this. A dated snapshot (`gpt-4o-2024-08-06`) is priced as its base
 * name (`gpt-4o`) through a longest-prefix match on `-` boundaries.
 */
export const BUILT_IN_PRICES: Readonly<Record<string, PriceSpec>> = {
  // OpenAI
  'gpt-5': { input: 1.25, output: 10 },
  'gpt-5-mini': { input: 0.25, output: 2 },
  'gpt-5-nano': { input: 0.05, output: 0.4 },
  'gpt-4.1': { input: 2, output: 8 },
  'gpt-4.1-mini': { input: 0.4, output: 1.6 },
  'gpt-4.1-nano': { input: 0.1, output: 0.4 },
  'gpt-4o': { input: 2.5, output: 10 },
  'gpt-4o-mini': { input: 0.15, output: 0.6 },
  'gpt-4-turbo': { input: 10, output: 30 },
  'gpt-3.5-turbo': { input: 0.5, output: 1.5 },
  o1: { input: 15, output: 60 },
  o3: { input: 2, output: 8 },
  'o3-mini': { input: 1.1, output: 4.4 },
  'o4-mini': { input: 1.1, output: 4.4 },
  'text-embedding-3-small': { input: 0.02, output: 0 },
  'text-embedding-3-large': { input: 0.13, output: 0 },
  'text-embedding-ada-002': { input: 0.1, output: 0 },
  // Anthropic
  'claude-opus-4': { input: 15, output: 75 },
  'claude-opus-4-1': { input: 15, output: 75 },
  'claude-sonnet-4': { input: 3, output: 15 },
  'claude-sonnet-4-5': { input: 3, output: 15 },
  'claude-haiku-4-5': { input: 1, output: 5 },
  'claude-3-7-sonnet': { input: 3, output: 15 },
  'claude-3-5-sonnet': { input: 3, output: 15 },
  'claude-3-5-haiku': { input: 0.8, output: 4 },
  'claude-3-haiku': { input: 0.25, output: 1.25 },
  'claude-3-opus': { input: 15, output: 75 },
  // Google
  'gemini-2.5-pro': { input: 1.25, output: 10 },
  'gemini-2.5-flash': { input: 0.3, output: 2.5 },
  'gemini-2.5-flash-lite': { input: 0.1, output: 0.4 },
  'gemini-2.0-flash': { input: 0.1, output: 0.4 },
  'gemini-2.0-flash-lite': { input: 0.075, output: 0.3 },
  'gemini-1.5-pro': { input: 1.25, output: 5 },
  'gemini-1.5-flash': { input: 0.075, output: 0.3 },
  'text-embedding-004': { input: 0, output: 0 },
  // xAI
  'grok-4': { input: 3, output: 15 },
  'grok-3': { input: 3, output: 15 },
  'grok-3-mini': { input: 0.3, output: 0.5 },
  // The built-in mock costs nothing, and is known to.
  mock: { input: 0, output: 0 },
};

/** At most this many distinct unpriced model names are remembered for /health. */
const MAX_UNPRICED = 100;

export interface Cost {
  /** Integer micro-dollars. */
  microUsd: number;
  /** false: the model is in no price table and cost 0 was recorded. */
  priced: boolean;
}

export class Pricing {
  private readonly table: Map<string, PriceSpec>;
  private readonly resolved = new Map<string, PriceSpec | null>();
  private readonly unpricedSeen = new Set<string>();

  constructor(overrides: ReadonlyMap<string, PriceSpec> = new Map()) {
    this.table = new Map([...Object.entries(BUILT_IN_PRICES), ...overrides]);
  }

  /** The price of an upstream model: exact name, else the longest configured prefix ending at a `-`. */
  price(model: string): PriceSpec | undefined {
    const hit = this.resolved.get(model);
    if (hit !== undefined) return hit ?? undefined;
    let found: PriceSpec | undefined = this.table.get(model);
    // Provider-qualified names (`openai/gpt-4o`, `models/gemini-...`) are priced by their last part.
    const bare = model.slice(model.lastIndexOf('/') + 1);
    if (!found) found = this.table.get(bare);
    if (!found) {
      let best = -1;
      for (const [name, p] of this.table) {
        if (name.length > best && bare.startsWith(`${name}-`)) {
          best = name.length;
          found = p;
        }
      }
    }
    // Bounded: model names come from config and provider responses, but never let it grow forever.
    if (this.resolved.size < 10_000) this.resolved.set(model, found ?? null);
    return found;
  }

  /**
   * Cost from actual usage: tokens x USD per million tokens = micro-dollars exactly, so the integer
   * rounding happens once, per request.
   */
  cost(model: string | null | undefined, promptTokens: number, completionTokens: number): Cost {
    if (!model) return { microUsd: 0, priced: false };
    const p = this.price(model);
    if (!p) {
      if (this.unpricedSeen.size < MAX_UNPRICED) this.unpricedSeen.add(model);
      return { microUsd: 0, priced: false };
    }
    return { microUsd: Math.round(promptTokens * p.input + completionTokens * p.output), priced: true };
  }

  /** Models that served requests but have no price (their cost was recorded as 0), for /health. */
  unpriced(): string[] {
    return [...this.unpricedSeen].sort();
  }
}
