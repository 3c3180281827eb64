import { describe, expect, it } from 'vitest';
import { KeyPool } from '../../src/resilience/key-pool.js';

describe('KeyPool', () => {
  it('round-robins, skips resting keys, and brings them back after their rest', () => {
    let now = 1000;
    const pool = new KeyPool(['a', 'b', 'c'], () => now);
    expect([pool.pick(), pool.pick(), pool.pick(), pool.pick()]).toEqual(['a', 'b', 'c', 'a']);
    pool.rest('b', 500);
    expect([pool.pick(), pool.pick(), pool.pick()]).toEqual(['c', 'a', 'c']);
    pool.rest('a', 100);
    pool.rest('c', 100);
    expect(pool.pick()).toBeUndefined();
    expect(pool.msUntilAvailable()).toBe(100);
    now += 100;
    expect(pool.pick()).toBe('a');
    pool.rest('a', 10);
    pool.rest('a', 1); // a shorter rest never shortens a longer one
    now += 5;
    expect(pool.pick()).toBe('c');
  });

  it('an empty pool picks nothing and is always available', () => {
    const pool = new KeyPool([]);
    expect([pool.pick(), pool.msUntilAvailable(), pool.size]).toEqual([undefined, 0, 0]);
  });
});
