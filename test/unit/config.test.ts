import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/config-error.js';
import { loadConfig, parseConfig } from '../../src/config/load.js';

function issuesOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err.issues;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

const FULL = `
server: { port: 9000, host: 0.0.0.0, body_limit: 2mb, shutdown_timeout: 10s, request_timeout: 90s, idle_timeout: 7s }
logging: { level: debug, log_prompts: true }
providers:
  claude: { type: anthropic, base_url: https://api.anthropic.com, api_key: \${ANTHROPIC_API_KEY} }
  openai: { type: openai, base_url: https://api.openai.com/v1/, api_key: \${OPENAI_API_KEY:-sk-default}, timeouts: { connect: 2s, headers: 30s, body: 1m } }
  gemini: { type: gemini, base_url: https://generativelanguage.googleapis.com, api_key: \${GEMINI_API_KEY} }
  local: { type: openai, base_url: http://127.0.0.1:11434/v1 }
  demo: { type: mock, reply: hello, latency_ms: 5, chunk_delay_ms: 1 }
models:
  fast: { targets: [ { provider: claude, model: claude-3-5-haiku-latest } ] }
`;

describe('config file', () => {
  it('resolves a full config: defaults, durations, sizes, interpolation, trailing slashes', () => {
    const cfg = parseConfig(FULL, 'f.yaml', { ANTHROPIC_API_KEY: 'sk-ant', GEMINI_API_KEY: 'g-key' });
    expect(cfg.server).toEqual({
      host: '0.0.0.0',
      port: 9000,
      bodyLimitBytes: 2 * 1024 * 1024,
      requestTimeoutMs: 90_000,
      headersTimeoutMs: 30_000,
      idleTimeoutMs: 7_000,
      shutdownTimeoutMs: 10_000,
      corsOrigins: [],
      loadShedding: {
        enabled: true,
        maxEventLoopDelayMs: 1000,
        maxHeapUsedBytes: 0,
        maxRssBytes: 0,
        retryAfterSeconds: 10,
      },
    });
    expect([cfg.metrics, cfg.tracing, cfg.health, cfg.adminKey, cfg.sentry]).toEqual([
      { enabled: true },
      { enabled: false, endpoint: undefined, headers: {}, serviceName: 'switchyard', sampleRatio: 1 },
      { exposeDetails: false },
      undefined,
      { dsn: undefined, environment: undefined },
    ]);
    expect(cfg.logging).toEqual({ level: 'debug', logPrompts: true });
    expect(cfg.providers.get('claude')).toEqual({
      id: 'claude',
      type: 'anthropic',
      baseUrl: 'https://api.anthropic.com',
      apiKey: 'sk-ant',
      apiKeys: ['sk-ant'],
      keyCooldownMs: 60_000,
      headers: {},
      timeouts: { connectMs: 10_000, headersMs: 120_000, bodyMs: 120_000 },
      anthropicVersion: '2023-06-01',
      defaultMaxTokens: 4096,
      maxResponseBytes: 32 * 1024 * 1024,
      mock: { reply: undefined, latencyMs: 0, chunkDelayMs: 0, faults: undefined },
    });
    const openai = cfg.providers.get('openai')!;
    expect(openai.apiKey).toBe('sk-default');
    expect(openai.baseUrl).toBe('https://api.openai.com/v1');
    expect(openai.timeouts).toEqual({ connectMs: 2000, headersMs: 30_000, bodyMs: 60_000 });
    expect(cfg.providers.get('local')!.apiKey).toBeUndefined();
    expect(cfg.providers.get('demo')!.mock).toEqual({
      reply: 'hello',
      latencyMs: 5,
      chunkDelayMs: 1,
      faults: undefined,
    });
    expect(cfg.models.get('fast')).toEqual({
      name: 'fast',
      targets: [
        { provider: 'claude', model: 'claude-3-5-haiku-latest', weight: 1, params: {}, timeouts: {} },
      ],
      strategy: 'ordered',
      fallbacks: [],
      contextFallback: undefined,
      retry: {
        attempts: 2,
        baseDelayMs: 200,
        maxDelayMs: 5000,
        on: ['rate_limit', 'server_error', 'overloaded', 'timeout', 'connection', 'invalid_response'],
      },
      timeouts: { firstTokenMs: 60_000, totalMs: 600_000 },
      circuitBreaker: {
        enabled: true,
        failureRate: 0.5,
        windowMs: 30_000,
        minRequests: 10,
        consecutiveFailures: 5,
        cooldownMs: 30_000,
      },
      degradation: undefined,
    });
  });

  it('PORT and HOST override server.port and server.host', () => {
    const cfg = parseConfig('server: { port: 9000, host: 0.0.0.0 }', 'f', { PORT: '7001', HOST: '::1' });
    expect([cfg.server.port, cfg.server.host]).toEqual([7001, '::1']);
    expect(issuesOf(() => parseConfig('{}', 'f', { PORT: 'eighty' }))).toEqual([
      'PORT: must be an integer from 0 to 65535',
    ]);
  });

  it('an unset variable is an error naming the key and the variable', () => {
    expect(issuesOf(() => parseConfig(FULL, 'f', { GEMINI_API_KEY: 'g' }))).toEqual([
      'providers.claude.api_key: environment variable ANTHROPIC_API_KEY is not set (write ${ANTHROPIC_API_KEY:-default} to allow that)',
    ]);
  });

  it('$${ is a literal ${', () => {
    const cfg = parseConfig('providers: { m: { type: mock, reply: "cost $${X}" } }', 'f', {});
    expect(cfg.providers.get('m')!.mock.reply).toBe('cost ${X}');
  });

  it('rejects unknown keys, bad URLs, bad types and bad references, each error naming its path', () => {
    const yaml = `
server: { port: high, colour: blue }
providers:
  claude: { type: anthropic, base_url: not-a-url }
  odd: { type: cohere }
  mockish: { type: openai, base_url: http://x, reply: hi }
models:
  fast: { targets: [ { provider: nobody, model: m } ] }
  empty: { targets: [] }
extra: 1
`;
    expect(issuesOf(() => parseConfig(yaml, 'f', {}))).toEqual([
      'extra: unknown key',
      'server.colour: unknown key',
      'server.port: must be an integer',
      'providers.claude.base_url: must be a URL (http:// or https://)',
      'providers.odd.type: must be one of openai, anthropic, gemini, mock',
      'models.empty.targets: must have at least 1 item(s)',
    ]);
  });

  it('tiers have one definition: the old auth.tiers list is an error naming its path', () => {
    const found = issuesOf(() =>
      parseConfig('auth: { mode: keys, tiers: [free, gold] }\ntiers: { gold: { rpm: 5 } }', 'f', {}),
    );
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(/^auth\.tiers: no longer supported\./);
    const ok = parseConfig('auth: { mode: keys, default_tier: gold }\ntiers: { gold: { rpm: 5 } }', 'f', {});
    expect(ok.auth.defaultTier).toBe('gold');
    expect(ok.auth.tiers).toContain('gold');
  });

  it('a value that is one reference keeps scalar typing', () => {
    const cfg = parseConfig('server: { port: ${P:-9100} }\nlogging: { log_prompts: ${LP} }', 'f', {
      LP: 'true',
    });
    expect(cfg.server.port).toBe(9100);
    expect(cfg.logging.logPrompts).toBe(true);
  });

  it('rejects options that belong to another provider type, and unknown model references', () => {
    const yaml = `
providers:
  o: { type: openai, base_url: http://x, reply: hi, anthropic_version: v }
  a: { type: anthropic, timeouts: { connect: soon } }
models:
  fast: { targets: [ { provider: nobody, model: m } ] }
`;
    expect(issuesOf(() => parseConfig(yaml, 'f', {}))).toEqual([
      'providers.o.reply: only valid for type mock',
      'providers.o.anthropic_version: only valid for type anthropic',
      "providers.a.timeouts.connect: must be a duration such as '30s'",
      "models.fast.targets.0.provider: unknown provider 'nobody'",
    ]);
  });

  it('reports YAML syntax errors', () => {
    expect(issuesOf(() => parseConfig('providers: [unclosed', 'f', {}))[0]).toMatch(/^YAML: /);
  });

  it('an openai provider needs a base_url; anthropic and gemini have defaults', () => {
    expect(issuesOf(() => parseConfig('providers: { o: { type: openai } }', 'f', {}))).toEqual([
      'providers.o.base_url: is required for type openai',
    ]);
    const cfg = parseConfig('providers: { a: { type: anthropic }, g: { type: gemini } }', 'f', {});
    expect(cfg.providers.get('a')!.baseUrl).toBe('https://api.anthropic.com');
    expect(cfg.providers.get('g')!.baseUrl).toBe('https://generativelanguage.googleapis.com');
  });
});

describe('loadConfig', () => {
  it('zero-config: the mock, plus every provider whose key is in the environment', async () => {
    const cfg = await loadConfig({
      env: { OPENAI_API_KEY: 'sk-o', XAI_API_KEY: 'xk', OPENROUTER_API_KEY: 'or' },
    });
    expect(cfg.source).toBe('zero-config');
    expect([...cfg.providers.keys()]).toEqual(['openai', 'xai', 'openrouter', 'mock']);
    expect(cfg.providers.get('xai')).toMatchObject({
      type: 'openai',
      baseUrl: 'https://api.x.ai/v1',
      apiKey: 'xk',
    });
    expect(cfg.providers.get('openrouter')).toMatchObject({
      baseUrl: 'https://openrouter.ai/api/v1',
      apiKey: 'or',
    });
    expect([...cfg.models.keys()]).toEqual(['mock']);
    expect(cfg.server).toMatchObject({ port: 8080, host: '127.0.0.1' });

    const all = await loadConfig({ env: { ANTHROPIC_API_KEY: 'a', GEMINI_API_KEY: 'g' } });
    expect([...all.providers.entries()].map(([id, p]) => `${id}:${p.type}`)).toEqual([
      'anthropic:anthropic',
      'gemini:gemini',
      'mock:mock',
    ]);
  });

  it('reads the file named by --config, else SWITCHYARD_CONFIG', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sy-cfg-'));
    const a = join(dir, 'a.yaml');
    const b = join(dir, 'b.yaml');
    await writeFile(a, 'server: { port: 1111 }\n');
    await writeFile(b, 'server: { port: 2222 }\n');
    expect((await loadConfig({ path: a, env: { SWITCHYARD_CONFIG: b } })).server.port).toBe(1111);
    expect((await loadConfig({ env: { SWITCHYARD_CONFIG: b } })).server.port).toBe(2222);
    await expect(loadConfig({ path: join(dir, 'missing.yaml'), env: {} })).rejects.toThrow(
      /cannot read config file/,
    );
  });
});

describe('routing config', () => {
  const base = `
providers:
  a: { type: openai, base_url: http://a, api_keys: [k1, k2], key_cooldown: 10s }
  b: { type: anthropic, api_key: kb }
  m: { type: mock, faults: { seed: 7, errors: [ { status: 429, probability: 0.5, retry_after: 2s } ], latency: { distribution: uniform, min: 10ms, max: 50ms }, stream_cut_after: 3 } }
`;

  it('resolves strategies, weights, per-target params and timeouts, retries, breakers, fallbacks, degradation, defaults', () => {
    const cfg = parseConfig(
      `${base}
routing:
  retry: { attempts: 4 }
  circuit_breaker: { cooldown: 5s }
models:
  chat:
    strategy: weighted
    targets:
      - { provider: b, model: claude-3-5-haiku-latest, weight: 3, params: { temperature: 0.2 }, timeouts: { first_token: 2s } }
      - { provider: a, model: gpt-4o-mini }
    fallbacks: [cheap]
    context_fallback: long
    retry: { base_delay: 100ms, max_delay: 2s, on: [rate_limit, timeout] }
    timeouts: { first_token: 10s, total: 2m }
    degradation: { chain: [stale_cache, offline, error], offline_provider: m }
  cheap: { targets: [ { provider: a, model: gpt-4.1-nano } ] }
  long: { targets: [ { provider: b, model: claude-sonnet-4 } ] }
`,
      'f',
      {},
    );
    const chat = cfg.models.get('chat')!;
    expect(chat).toEqual({
      name: 'chat',
      targets: [
        {
          provider: 'b',
          model: 'claude-3-5-haiku-latest',
          weight: 3,
          params: { temperature: 0.2 },
          timeouts: { firstTokenMs: 2000 },
        },
        { provider: 'a', model: 'gpt-4o-mini', weight: 1, params: {}, timeouts: {} },
      ],
      strategy: 'weighted',
      fallbacks: ['cheap'],
      contextFallback: 'long',
      retry: { attempts: 4, baseDelayMs: 100, maxDelayMs: 2000, on: ['rate_limit', 'timeout'] },
      timeouts: { firstTokenMs: 10_000, totalMs: 120_000 },
      circuitBreaker: {
        enabled: true,
        failureRate: 0.5,
        windowMs: 30_000,
        minRequests: 10,
        consecutiveFailures: 5,
        cooldownMs: 5000,
      },
      degradation: { chain: ['stale_cache', 'offline', 'error'], offlineProvider: 'm' },
    });
    expect(cfg.models.get('cheap')!.retry.attempts).toBe(4);
    const a = cfg.providers.get('a')!;
    expect([a.apiKey, a.apiKeys, a.keyCooldownMs]).toEqual(['k1', ['k1', 'k2'], 10_000]);
    expect(cfg.providers.get('m')!.mock.faults).toEqual({
      seed: 7,
      errors: [{ status: 429, probability: 0.5, message: undefined, retryAfterMs: 2000 }],
      latency: { distribution: 'uniform', minMs: 10, maxMs: 50, meanMs: 0, stddevMs: 0 },
      resetProbability: 0,
      hangProbability: 0,
      malformedProbability: 0,
      streamCutAfter: 3,
      streamCutProbability: 1,
    });
  });

  it('rejects bad references and misplaced keys', () => {
    const broken = `${base}
  o: { type: openai, base_url: http://o, api_key: x, api_keys: [y] }
  mm: { type: mock, api_key: nope }
models:
  chat:
    targets: [ { provider: a, model: x } ]
    fallbacks: [chat, ghost]
    context_fallback: nowhere
    degradation: { chain: [offline], offline_provider: a }
`;
    // Schema errors come first and stop there; reference checks run on a schema-valid file.
    expect(issuesOf(() => parseConfig(`${broken}    retry: { on: [bad_request] }\n`, 'f', {}))).toEqual([
      'models.chat.retry.on.0: must be one of rate_limit, server_error, overloaded, timeout, connection, invalid_response',
    ]);
    expect(issuesOf(() => parseConfig(broken, 'f', {}))).toEqual([
      'providers.o.api_keys: give api_key or api_keys, not both',
      'providers.mm.api_key: not valid for type mock',
      'models.chat.fallbacks.0: a model cannot fall back to itself',
      "models.chat.fallbacks.1: unknown model 'ghost'",
      "models.chat.context_fallback: unknown model 'nowhere'",
      "models.chat.degradation.offline_provider: 'a' is not a mock provider",
    ]);
  });

  it('REDIS_URL configures redis in zero-config mode; the file key otherwise', async () => {
    expect((await loadConfig({ env: { REDIS_URL: 'redis://127.0.0.1:6379' } })).redis).toEqual({
      url: 'redis://127.0.0.1:6379',
      keyPrefix: 'switchyard:',
    });
    expect(parseConfig('redis: { url: redis://r:6379, key_prefix: "sy:" }', 'f', {}).redis).toEqual({
      url: 'redis://r:6379',
      keyPrefix: 'sy:',
    });
  });
});
