import { randomBase62 } from '../core/base62.js';
import type { CredentialRecord, Store } from '../db/store.js';
import { GatewayError } from '../errors/gateway-error.js';
import type { GatewayConfig } from '../types/config.js';
import type { SecretBox } from './secret-box.js';

export function maskSecret(last4: string): string {
  return `****${last4}`;
}

export function publicCredential(c: CredentialRecord) {
  return {
    id: c.id,
    provider: c.provider,
    name: c.name,
    value: maskSecret(c.last4),
    created_at: new Date(c.createdAt).toISOString(),
    updated_at: new Date(c.updatedAt).toISOString(),
  };
}

/**
 * Provider API keys stored in the database, encrypted at rest. Plaintext leaves this service only through
 * `decryptAll`, for the gateway's own upstream calls; the API and CLI show the masked form.
 */
export class CredentialService {
  constructor(
    private readonly store: Store,
    private readonly box: SecretBox,
  ) {}

  private requireKey(): void {
    if (!this.box.enabled) {
      throw new GatewayError(
        'secret_key_missing',
        'Stored credentials need SWITCHYARD_SECRET_KEY to be set on the gateway.',
      );
    }
  }

  async create(input: { provider: string; name?: string | null; value: string }): Promise<CredentialRecord> {
    this.requireKey();
    const id = `cred_${randomBase62(12)}`;
    const { ciphertext, keyId } = this.box.encrypt(input.value, id);
    const now = Date.now();
    const rec: CredentialRecord = {
      id,
      provider: input.provider,
      name: input.name ?? null,
      ciphertext,
      keyId,
      last4: input.value.slice(-4),
      createdAt: now,
      updatedAt: now,
    };
    await this.store.insertCredential(rec);
    return rec;
  }

  list(provider?: string): Promise<CredentialRecord[]> {
    return this.store.listCredentials(provider);
  }

  delete(id: string): Promise<boolean> {
    return this.store.deleteCredential(id);
  }

  /** provider id -> plaintext values, for the upstream key pools. Rows no configured key opens are skipped. */
  async decryptAll(onError?: (id: string, err: Error) => void): Promise<Map<string, string[]>> {
    const out = new Map<string, string[]>();
    if (!this.box.enabled) return out;
    for (const c of await this.store.listCredentials()) {
      try {
        const v = this.box.decrypt(c.ciphertext, c.keyId, c.id);
        out.set(c.provider, [...(out.get(c.provider) ?? []), v]);
      } catch (err) {
        onError?.(c.id, err as Error);
      }
    }
    return out;
  }

  /**
   * Re-encrypts every row under the current key (SWITCHYARD_SECRET_KEY); the old one must be in
   * SWITCHYARD_SECRET_KEY_PREVIOUS. Row by row with compare-and-set, so it runs beside live gateways.
   */
  async rotate(): Promise<{ rotated: number; current: number; failed: string[] }> {
    this.requireKey();
    const result = { rotated: 0, current: 0, failed: [] as string[] };
    for (const c of await this.store.listCredentials()) {
      if (c.keyId === this.box.currentKeyId) {
        result.current += 1;
        continue;
      }
      try {
        const plain = this.box.decrypt(c.ciphertext, c.keyId, c.id);
        const next = this.box.encrypt(plain, c.id);
        if (await this.store.reencryptCredential(c.id, c.ciphertext, next.ciphertext, next.keyId)) {
          result.rotated += 1;
        }
      } catch {
        result.failed.push(c.id);
      }
    }
    return result;
  }
}

/**
 * The config with stored credentials appended to each configured provider's key pool (after the keys
 * from the file). Credentials for providers the config does not define are ignored.
 */
export function withStoredCredentials(
  config: GatewayConfig,
  stored: ReadonlyMap<string, readonly string[]>,
): GatewayConfig {
  if (stored.size === 0) return config;
  const providers = new Map(config.providers);
  for (const [id, values] of stored) {
    const p = providers.get(id);
    if (!p || p.type === 'mock') continue;
    const apiKeys = [...new Set([...p.apiKeys, ...values])];
    providers.set(id, { ...p, apiKeys, apiKey: apiKeys[0] });
  }
  return { ...config, providers };
}
