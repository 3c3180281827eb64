import { GatewayError } from '../errors/gateway-error.js';
import { adapterFor } from '../providers/registry.js';
import { KeyPool } from '../resilience/key-pool.js';
import type { GatewayConfig, ModelSpec, ProviderSpec, TargetSpec } from '../types/config.js';
import type { ModelObject } from '../types/openai.js';
import { HttpProviderClient } from '../upstream/http-client.js';
import { MockProviderClient } from '../upstream/mock-client.js';
import type { UpstreamPools } from '../upstream/pools.js';
import type { ProviderClient, Target } from '../upstream/types.js';
import { targetKey } from './target-stats.js';

export interface RouteTarget extends Target {
  client: ProviderClient;
  spec: TargetSpec;
  keys: KeyPool;
  /** spec.weight, where the routing strategies look for it. */
  weight: number;
  /** `provider/model`, built once: stats and breakers look it up on every attempt. */
  key: string;
}

export interface ResolvedRoute {
  /** The public name the client asked for (or the fallback's name). */
  model: string;
  settings: Omit<ModelSpec, 'name' | 'targets'>;
  targets: RouteTarget[];
}

const DIRECT_TARGET: Omit<TargetSpec, 'provider' | 'model'> = { weight: 1, params: {}, timeouts: {} };

/** The built-in offline responder for graceful degradation when no mock provider is named. */
const OFFLINE_MOCK: ProviderSpec = {
  id: 'offline',
  type: 'mock',
  baseUrl: '',
  apiKey: undefined,
  apiKeys: [],
  keyCooldownMs: 0,
  headers: {},
  timeouts: { connectMs: 0, headersMs: 0, bodyMs: 0 },
  anthropicVersion: '',
  defaultMaxTokens: 0,
  mock: {
    reply:
      'The AI service is temporarily unavailable, so this is an automatic placeholder answer. Please try again shortly.',
    latencyMs: 0,
    chunkDelayMs: 0,
    faults: undefined,
  },
};

/**
 * An immutable snapshot compiled from one config: provider clients, key pools and model routes. A
 * request captures the snapshot it started with, so a hot reload can swap in a new one without
 * disturbing it.
 */
export class Runtime {
  readonly config: GatewayConfig;
  private readonly clients = new Map<string, ProviderClient>();
  private readonly keyPools = new Map<string, KeyPool>();
  private readonly routes = new Map<string, ResolvedRoute>();
  private readonly mock = new MockProviderClient();
  private readonly created = Math.floor(Date.now() / 1000);

  constructor(config: GatewayConfig, pools: UpstreamPools) {
    this.config = config;
    for (const spec of config.providers.values()) {
      this.clients.set(
        spec.id,
        spec.type === 'mock' ? this.mock : new HttpProviderClient(adapterFor(spec.type), pools),
      );
      this.keyPools.set(spec.id, new KeyPool(spec.apiKeys));
    }
    for (const m of config.models.values()) {
      const { name, targets, ...settings } = m;
      this.routes.set(name, {
        model: name,
        settings,
        targets: targets.map((t) => this.target(config.providers.get(t.provider)!, t)),
      });
    }
  }

  /** A public model from config, or `provider-id/upstream-model` addressed directly. */
  resolve(model: string): ResolvedRoute {
    const route = this.routes.get(model);
    if (route) return route;
    const slash = model.indexOf('/');
    if (slash > 0 && slash < model.length - 1) {
      const provider = this.config.providers.get(model.slice(0, slash));
      if (provider) {
        const spec = { provider: provider.id, model: model.slice(slash + 1), ...DIRECT_TARGET };
        return {
          model,
          settings: { ...this.config.directRoute, fallbacks: [], contextFallback: undefined },
          targets: [this.target(provider, spec)],
        };
      }
    }
    throw new GatewayError(
      404,
      'model_not_found',
      `The model '${model}' does not exist. Use a model from GET /v1/models, or 'provider/model' with a configured provider.`,
      { param: 'model' },
    );
  }

  /** The responder for the `offline` degradation level. */
  offline(providerId: string | undefined): RouteTarget {
    const provider = providerId ? (this.config.providers.get(providerId) ?? OFFLINE_MOCK) : OFFLINE_MOCK;
    return {
      provider,
      upstreamModel: 'offline',
      client: this.mock,
      spec: { provider: provider.id, model: 'offline', ...DIRECT_TARGET },
      keys: new KeyPool([]),
      weight: 1,
      key: `${provider.id}/offline`,
    };
  }

  listModels(): ModelObject[] {
    return [...this.config.models.values()].map((m) => ({
      id: m.name,
      object: 'model',
      created: this.created,
      owned_by: m.targets[0]?.provider ?? 'switchyard',
    }));
  }

  private target(provider: ProviderSpec, spec: TargetSpec): RouteTarget {
    return {
      provider,
      upstreamModel: spec.model,
      client: this.clients.get(provider.id)!,
      spec,
      keys: this.keyPools.get(provider.id)!,
      weight: spec.weight,
      key: targetKey(provider.id, spec.model),
    };
  }
}
