import { GatewayError } from '../errors/gateway-error.js';
import { adapterFor } from '../providers/registry.js';
import { KeyPool } from '../resilience/key-pool.js';
import type {
  CircuitBreakerSpec,
  GatewayConfig,
  ModelSpec,
  ProviderSpec,
  TargetSpec,
} from '../types/config.js';
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
  /** Settings of this target's one circuit breaker (see Runtime.breakerFor), whichever model routes here. */
  breaker: CircuitBreakerSpec;
}

/** A model whose breaker settings for a shared target are not used, because an earlier model's are. */
export interface BreakerConflict {
  /** `provider/model` */
  target: string;
  model: string;
  /** The model whose settings the target's breaker uses. */
  usedFrom: string;
}

export interface ResolvedRoute {
  /** The public name the client asked for (or the fallback's name). */
  model: string;
  settings: Omit<ModelSpec, 'name' | 'targets'>;
  targets: RouteTarget[];
}

/** Longest model name a client may send; real names are far shorter (the longest known are ~100). */
export const MAX_MODEL_NAME_LENGTH = 256;
/**
 * Printable ASCII without spaces: every provider's model names fit (`org/name:tag@version`), and the
 * name is echoed in response headers (`x-switchyard-model`), which cannot carry control characters or
 * non-Latin-1 text.
 */
const MODEL_NAME_RE = /^[\x21-\x7e]+$/;

/**
 * Names that are not configured models are checked before anything else happens with them: they end up
 * in circuit-breaker keys, /health, metrics labels and headers.
 */
export function checkModelName(model: string): void {
  if (model.length > MAX_MODEL_NAME_LENGTH || !MODEL_NAME_RE.test(model)) {
    throw new GatewayError(
      'model_name_invalid',
      `Model names are 1 to ${MAX_MODEL_NAME_LENGTH} printable ASCII characters without spaces; got ${model.length} characters starting '${echo(model)}'.`,
      { param: 'model' },
    );
  }
}

/** A short prefix of a client-chosen name, safe to put in a message: never echo megabytes back. */
function echo(name: string): string {
  const prefix = name.slice(0, 64).replace(/[^\x20-\x7e]/g, '?');
  return name.length > 64 ? `${prefix}…` : prefix;
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
  /** Per target key: the breaker settings it uses and the model they come from. */
  private readonly breakers = new Map<string, { spec: CircuitBreakerSpec; model: string }>();
  /** Models sharing a target with different breaker settings; logged as a warning at start and reload. */
  readonly breakerConflicts: BreakerConflict[] = [];

  constructor(config: GatewayConfig, pools: UpstreamPools) {
    this.config = config;
    for (const spec of config.providers.values()) {
      this.clients.set(
        spec.id,
        spec.type === 'mock' ? this.mock : new HttpProviderClient(adapterFor(spec.type), pools),
      );
      this.keyPools.set(spec.id, new KeyPool(spec.apiKeys));
    }
    this.assignBreakers(config);
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
    checkModelName(model);
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
      'model_not_found',
      `The model '${echo(model)}' does not exist. Use a model from GET /v1/models, or 'provider/model' with a configured provider.`,
      { param: 'model' },
    );
  }

  /** One model for `GET /v1/models/{id}`: a configured public model, else 404 as for a request. */
  /** `visible`: a caller's model allowlist; a model outside it is not found, as OpenAI hides what a key can't use. */
  getModel(id: string, visible?: readonly string[]): ModelObject {
    const m = this.config.models.get(id);
    if (m && (!visible || visible.includes(m.name))) {
      return {
        id: m.name,
        object: 'model',
        created: this.created,
        owned_by: m.targets[0]?.provider ?? 'switchyard',
      };
    }
    checkModelName(id);
    throw new GatewayError('model_not_found', `The model '${echo(id)}' does not exist.`, {
      param: 'model',
    });
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
      breaker: this.config.directRoute.circuitBreaker,
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

  /**
   * A target has one circuit breaker, however many models route to it, so it has one set of settings:
   * those of the first model in the config file that lists it (direct `provider/model` requests to a
   * target no model lists use the `routing:` defaults). Deterministic, unlike "the last request's model",
   * and a model whose different settings are thereby unused is reported.
   */
  private assignBreakers(config: GatewayConfig): void {
    for (const m of config.models.values()) {
      for (const t of m.targets) {
        const key = targetKey(t.provider, t.model);
        const first = this.breakers.get(key);
        if (!first) this.breakers.set(key, { spec: m.circuitBreaker, model: m.name });
        else if (
          first.model !== m.name &&
          JSON.stringify(first.spec) !== JSON.stringify(m.circuitBreaker) &&
          !this.breakerConflicts.some((c) => c.target === key && c.model === m.name)
        ) {
          this.breakerConflicts.push({ target: key, model: m.name, usedFrom: first.model });
        }
      }
    }
  }

  private target(provider: ProviderSpec, spec: TargetSpec): RouteTarget {
    const key = targetKey(provider.id, spec.model);
    return {
      provider,
      upstreamModel: spec.model,
      client: this.clients.get(provider.id)!,
      spec,
      keys: this.keyPools.get(provider.id)!,
      weight: spec.weight,
      key,
      breaker: this.breakers.get(key)?.spec ?? this.config.directRoute.circuitBreaker,
    };
  }
}

/** One warning per model whose breaker settings for a shared target are not the ones in use. */
export function warnBreakerConflicts(runtime: Runtime, log: { warn(obj: object, msg: string): void }): void {
  for (const c of runtime.breakerConflicts) {
    log.warn(
      c,
      `model '${c.model}' sets different circuit_breaker settings for target ${c.target}, which has one breaker; it uses those of model '${c.usedFrom}', the first to list it`,
    );
  }
}
