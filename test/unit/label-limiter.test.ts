import { describe, expect, it } from 'vitest';
import { LabelLimiter } from '../../src/observability/label-limiter.js';

describe('LabelLimiter', () => {
  it('keeps the first N distinct values and folds the rest into _other', () => {
    const l = new LabelLimiter(2);
    expect(['a', 'b', 'a', 'c', 'b', 'd'].map((v) => l.get(v))).toEqual([
      'a',
      'b',
      'a',
      '_other',
      'b',
      '_other',
    ]);
  });
});
