import type { ProviderType } from '../types/config.js';
import { anthropicAdapter } from './anthropic/index.js';
import { geminiAdapter } from './gemini/index.js';
import { openaiAdapter } from './openai/index.js';
import type { ProviderAdapter } from './types.js';

/** Every HTTP provider type and its adapter. `mock` has no adapter: it never leaves the process. */
export const ADAPTERS = {
  openai: openaiAdapter,
  anthropic: anthropicAdapter,
  gemini: geminiAdapter,
} satisfies Partial<Record<Exclude<ProviderType, 'mock'>, ProviderAdapter>>;

export function adapterFor(type: Exclude<ProviderType, 'mock'>): ProviderAdapter {
  const a = (ADAPTERS as Partial<Record<string, ProviderAdapter>>)[type];
  if (!a) throw new Error(`no adapter for provider type ${type}`);
  return a;
}
