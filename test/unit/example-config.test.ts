import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';

describe('switchyard.example.yaml', () => {
  it('is a valid config, with and without keys in the environment', async () => {
    const text = await readFile(new URL('../../switchyard.example.yaml', import.meta.url), 'utf8');
    const none = parseConfig(text, 'example', {});
    expect([...none.providers.keys()]).toEqual([
      'claude',
      'openai',
      'gemini',
      'xai',
      'openrouter',
      'local',
      'mock',
    ]);
    expect(none.providers.get('claude')!.apiKey).toBeUndefined();
    const withKeys = parseConfig(text, 'example', { ANTHROPIC_API_KEY: 'sk-ant-x' });
    expect(withKeys.providers.get('claude')!.apiKey).toBe('sk-ant-x');
    expect(withKeys.providers.get('openrouter')!.headers).toEqual({
      'HTTP-Referer': 'https://example.com',
      'X-Title': 'my-app',
    });
    expect(withKeys.providers.get('local')!.timeouts).toEqual({
      connectMs: 2000,
      headersMs: 300_000,
      bodyMs: 60_000,
    });
    expect([...withKeys.models.keys()]).toEqual(['chat', 'long', 'fast', 'smart', 'flash', 'embed', 'mock']);
    expect(withKeys.models.get('chat')).toMatchObject({
      strategy: 'weighted',
      fallbacks: ['flash'],
      contextFallback: 'long',
      retry: { attempts: 2, baseDelayMs: 200, maxDelayMs: 5000 },
      timeouts: { firstTokenMs: 30_000, totalMs: 300_000 },
      degradation: { chain: ['offline', 'error'], offlineProvider: undefined },
    });
    expect(withKeys.redis).toEqual({ url: 'redis://127.0.0.1:6379', keyPrefix: 'switchyard:' });
    // Tiers are defined once, at the top level; the auth section only names the default one.
    expect(withKeys.limits.enabled).toBe(false);
    expect(withKeys.auth.tiers).toEqual(['free', 'pro', 'enterprise', 'unlimited']);
    expect(withKeys.limits.tiers.get('enterprise')).toMatchObject({
      onLimit: 'queue',
      maxQueueWaitMs: 30_000,
      priority: 4,
      rates: [
        { name: 'rpm', unit: 'requests', limit: 200, windowMs: 60_000 },
        { name: 'tpm', unit: 'tokens', limit: 2_000_000, windowMs: 60_000 },
      ],
    });
    expect(withKeys.limits.tiers.get('pro')?.budget.dailyMicros).toBe(5_000_000);
    expect(withKeys.limits.teams.get('acme')?.budget.monthlyMicros).toBe(100_000_000);
  });
});
