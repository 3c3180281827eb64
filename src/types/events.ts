import type { Usage } from './openai.js';

/** Lifecycle events. Metrics, logs, health stats, webhooks and the dashboard subscribe; stages only emit. */

export interface ResponseIdentity {
  requestId: string;
  /** Public model name (bounded: configured names, or provider/model that reached a provider). */
  model: string;
  provider: string;
  upstreamModel: string;
  stream: boolean;
  /** Caller's team, once keys exist; 'none' until then. */
  team: string;
}

export interface GatewayEvents {
  'ai.response.started': ResponseIdentity;
  /** The first streamed chunk is on its way to the client. */
  'ai.response.streaming': ResponseIdentity & { firstTokenMs: number };
  'ai.response.completed': ResponseIdentity & {
    /** Time spent waiting for the provider, ms. */
    upstreamMs: number;
    /** Whole request, ms. */
    totalMs: number;
    /** Gateway time excluding the upstream wait, ms. */
    overheadMs: number;
    firstTokenMs: number | undefined;
    usage: Usage | undefined;
  };
  'ai.response.error': Partial<ResponseIdentity> & {
    requestId: string;
    /** `upstream_<class>` or a gateway error code. */
    code: string;
    /** The error class for upstream errors (rate_limit, timeout, …), else 'gateway'. */
    errorType: string;
    status: number;
    /** Whether the client had already received stream bytes. */
    midStream: boolean;
    upstreamMs: number | undefined;
  };
  /** One attempt failed; the request may still succeed on a retry, another target or a fallback. */
  'ai.attempt.failed': {
    requestId: string;
    provider: string;
    model: string;
    errorType: string;
    code: string;
    stream: boolean;
    /** What happens next: retry the target, try the next one, or give up. */
    next: 'retry' | 'next_target' | 'give_up';
  };
  'ai.provider.outage': { provider: string; since: number; errorType: string };
  'ai.circuit.state_changed': { provider: string; model: string; from: string; to: string };
  'ai.cache.invalidated': { reason: string; keys: number };
  'ai.config.reloaded': { source: string; ok: boolean; errors: string[] };
}

export type GatewayEventName = keyof GatewayEvents;
