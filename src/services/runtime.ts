import { GatewayError } from '../errors/gateway-error.js';
import { adapterFor } from '../providers/registry.js';
import type { GatewayConfig, ProviderSpec } from '../types/config.js';
import type { ModelObject } from '../types/openai.js';
import { HttpProviderClient } from '../upstream/http-client.js';
import { MockProviderClient } from '../upstream/mock-client.js';
import type { UpstreamPools } from '../upstream/pools.js';
import type { ProviderClient, Target } from '../upstream/types.js';

export interface ResolvedRoute {
  /** The public name the client asked for. */
  model: string;
  targets: Array<Target & { client: ProviderClient }>;
}

/**
 * An immutable snapshot compiled from one config: provider clients and model routes. A request captures
 * the snapshot it started with, so a hot reload can swap in a new one without disturbing it.
 */
export class Runtime {
  readonly config: GatewayConfig;
  private readonly clients = new Map<string, ProviderClient>();
  private readonly created = Math.floor(Date.now() / 1000);

  constructor(config: GatewayConfig, pools: UpstreamPools) {
    this.config = config;
    const mock = new MockProviderClient();
    for (const spec of config.providers.values()) {
      this.clients.set(
        spec.id,
        spec.type === 'mock' ? mock : new HttpProviderClient(adapterFor(spec.type), pools),
      );
    }
  }

  /** A public model from config, or `provider-id/upstream-model` addressed directly. */
  resolve(model: string): ResolvedRoute {
    const spec = this.config.models.get(model);
    if (spec) {
      return {
        model,
        targets: spec.targets.map((t) => this.target(this.config.providers.get(t.provider)!, t.model)),
      };
    }
    const slash = model.indexOf('/');
    if (slash > 0 && slash < model.length - 1) {
      const provider = this.config.providers.get(model.slice(0, slash));
      if (provider) return { model, targets: [this.target(provider, model.slice(slash + 1))] };
    }
    throw new GatewayError(
      404,
      'model_not_found',
      `The model '${model}' does not exist. Use a model from GET /v1/models, or 'provider/model' with a configured provider.`,
      { param: 'model' },
    );
  }

  listModels(): ModelObject[] {
    return [...this.config.models.values()].map((m) => ({
      id: m.name,
      object: 'model',
      created: this.created,
      owned_by: m.targets[0]?.provider ?? 'switchyard',
    }));
  }

  private target(provider: ProviderSpec, upstreamModel: string): Target & { client: ProviderClient } {
    return { provider, upstreamModel, client: this.clients.get(provider.id)! };
  }
}
