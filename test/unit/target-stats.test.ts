import { describe, expect, it } from 'vitest';
import { orderTargets, seededRng } from '../../src/core/routing.js';
import { TargetStats, targetKey } from '../../src/services/target-stats.js';

describe('targetKey', () => {
  it('is provider/model', () => {
    expect(targetKey('openai', 'gpt-4o')).toBe('openai/gpt-4o');
  });
});

describe('TargetStats', () => {
  it('reports an unknown key as idle and unmeasured', () => {
    expect(new TargetStats().load('x/y')).toEqual({ inFlight: 0, latencyMs: undefined, ttftMs: undefined });
  });

  it('counts in-flight attempts per key', () => {
    const stats = new TargetStats();
    const a1 = stats.begin('p/a');
    const a2 = stats.begin('p/a');
    const b1 = stats.begin('p/b');
    expect(stats.load('p/a').inFlight).toBe(2);
    expect(stats.load('p/b').inFlight).toBe(1);
    a1({ ok: true });
    expect(stats.load('p/a').inFlight).toBe(1);
    a2({ ok: false });
    b1({ ok: true });
    expect(stats.load('p/a').inFlight).toBe(0);
    expect(stats.load('p/b').inFlight).toBe(0);
  });

  it('takes the first sample as is, then applies the EWMA (default alpha 0.2)', () => {
    const stats = new TargetStats();
    stats.begin('k')({ ok: true, latencyMs: 100, ttftMs: 40 });
    expect(stats.load('k')).toEqual({ inFlight: 0, latencyMs: 100, ttftMs: 40 });
    // 100 + 0.2 * (200 - 100) = 120; 40 + 0.2 * (80 - 40) = 48
    stats.begin('k')({ ok: true, latencyMs: 200, ttftMs: 80 });
    expect(stats.load('k')).toEqual({ inFlight: 0, latencyMs: 120, ttftMs: 48 });
    // 120 + 0.2 * (50 - 120) = 106; no TTFT sample leaves TTFT alone
    stats.begin('k')({ ok: true, latencyMs: 50 });
    expect(stats.load('k')).toEqual({ inFlight: 0, latencyMs: 106, ttftMs: 48 });
  });

  it('honours a custom alpha', () => {
    const stats = new TargetStats({ alpha: 0.5 });
    stats.begin('k')({ ok: true, latencyMs: 100 });
    stats.begin('k')({ ok: true, latencyMs: 300 });
    stats.begin('k')({ ok: true, latencyMs: 400 });
    // 100 → 200 → 300
    expect(stats.load('k').latencyMs).toBe(300);
  });

  it('rejects an alpha outside (0, 1]', () => {
    for (const alpha of [0, -0.1, 1.5, Number.NaN]) {
      expect(() => new TargetStats({ alpha })).toThrow(RangeError);
    }
    expect(() => new TargetStats({ alpha: 1 })).not.toThrow();
  });

  it('makes a second release a no-op', () => {
    const stats = new TargetStats();
    const end = stats.begin('k');
    stats.begin('k');
    end({ ok: true, latencyMs: 100 });
    end({ ok: true, latencyMs: 900 });
    expect(stats.load('k')).toEqual({ inFlight: 1, latencyMs: 100, ttftMs: undefined });
  });

  it('releases failed attempts without touching the latency EWMAs', () => {
    const stats = new TargetStats();
    stats.begin('k')({ ok: false, latencyMs: 5, ttftMs: 1 });
    expect(stats.load('k')).toEqual({ inFlight: 0, latencyMs: undefined, ttftMs: undefined });
    stats.begin('k')({ ok: true, latencyMs: 100, ttftMs: 30 });
    stats.begin('k')({ ok: false, latencyMs: 1, ttftMs: 1 });
    expect(stats.load('k')).toEqual({ inFlight: 0, latencyMs: 100, ttftMs: 30 });
  });

  it('ignores negative and non-finite samples', () => {
    const stats = new TargetStats();
    stats.begin('k')({ ok: true, latencyMs: 100 });
    stats.begin('k')({ ok: true, latencyMs: -1, ttftMs: Number.NaN });
    stats.begin('k')({ ok: true, latencyMs: Number.POSITIVE_INFINITY });
    expect(stats.load('k')).toEqual({ inFlight: 0, latencyMs: 100, ttftMs: undefined });
  });

  it('returns a snapshot, not the live entry', () => {
    const stats = new TargetStats();
    stats.begin('k');
    const snap = stats.load('k');
    snap.inFlight = 99;
    expect(stats.load('k').inFlight).toBe(1);
  });

  it('drives least-busy routing', () => {
    const stats = new TargetStats();
    const targets = [
      { provider: 'openai', model: 'm', weight: 1 },
      { provider: 'azure', model: 'm', weight: 1 },
    ];
    const load = (i: number) => stats.load(targetKey(targets[i]!.provider, targets[i]!.model));
    const end = stats.begin('openai/m');
    expect(orderTargets(targets, 'least-busy', load, seededRng(1))[0]!.provider).toBe('azure');
    end({ ok: true });
    stats.begin('azure/m');
    expect(orderTargets(targets, 'least-busy', load, seededRng(1))[0]!.provider).toBe('openai');
  });
});
