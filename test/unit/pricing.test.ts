import { describe, expect, it } from 'vitest';
import { Pricing } from '../../src/services/pricing.js';

describe('pricing', () => {
  const p = new Pricing(
    new Map([
      ['gpt-4o', { input: 5, output: 15 }],
      ['house-ft', { input: 3, output: 12 }],
    ]),
  );

  it('prices from actual usage in integer micro-dollars (tokens x USD per million)', () => {
    expect(p.cost('gpt-4o-mini', 1_000_000, 1_000_000)).toEqual({ microUsd: 750_000, priced: true });
    expect(p.cost('gpt-4o-mini', 9, 3)).toEqual({ microUsd: 3, priced: true }); // 3.15 rounds once
    expect(p.cost('claude-sonnet-4', 1000, 500)).toEqual({ microUsd: 10_500, priced: true });
  });

  it('config overrides and extends the built-in table', () => {
    expect(p.price('gpt-4o')).toEqual({ input: 5, output: 15 });
    expect(p.price('house-ft')).toEqual({ input: 3, output: 12 });
  });

  it('a dated or provider-qualified name takes its longest listed prefix', () => {
    expect(p.price('gpt-4o-2024-08-06')).toEqual({ input: 5, output: 15 });
    expect(p.price('gpt-4o-mini-2024-07-18')).toEqual({ input: 0.15, output: 0.6 });
    expect(p.price('claude-3-5-haiku-20241022')).toEqual({ input: 0.8, output: 4 });
    expect(p.price('models/gemini-2.5-flash')).toEqual({ input: 0.3, output: 2.5 });
    // A prefix only matches at a '-' boundary: 'gpt-4ox' is not 'gpt-4o'.
    expect(p.price('gpt-4ox')).toBeUndefined();
  });

  it('unknown models cost 0 and are remembered for /health', () => {
    expect(p.cost('mystery-1', 100, 100)).toEqual({ microUsd: 0, priced: false });
    expect(p.cost('mystery-1', 1, 1)).toEqual({ microUsd: 0, priced: false });
    expect(p.cost(undefined, 1, 1)).toEqual({ microUsd: 0, priced: false });
    expect(p.unpriced()).toEqual(['mystery-1']);
    expect(p.cost('mock', 10, 10)).toEqual({ microUsd: 0, priced: true });
  });
});
