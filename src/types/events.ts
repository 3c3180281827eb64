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
    /**
     * For a provider's failure, its error class (`rate_limit`, `timeout`, …); for the gateway's own errors,
     * the error code again (`circuit_open`, `model_not_found`, …).
     */
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
    /** The failed attempt's error class (`server_error`, `timeout`, …). */
    errorType: string;
    code: string;
    stream: boolean;
    /** What happens next: retry the target, try the next one, or give up. */
    next: 'retry' | 'next_target' | 'give_up';
  };
  'ai.provider.outage': {
    provider: string;
    since: number;
    /** The error code of the failure that tipped the provider over (`upstream_server_error`, …). */
    errorType: string;
  };
  'ai.circuit.state_changed': { provider: string; model: string; from: string; to: string };
  'ai.cache.invalidated': { reason: string; keys: number };
  'ai.config.reloaded': { source: string; ok: boolean; errors: string[] };
  /** Every request and job, once, when it settles: what the request log keeps. */
  'ai.request.settled': RequestRecord;
}

/** One request as the request log keeps it. */
export interface RequestRecord {
  requestId: string;
  /** Wall-clock ms at arrival. */
  receivedAt: number;
  /** `chat`, `chat.stream`, `embeddings`, ... */
  operation: string;
  /** The route template, or `job:<type>` for jobs. */
  path: string;
  team: string;
  user: string | undefined;
  keyId: string | undefined;
  model: string | undefined;
  provider: string | undefined;
  upstreamModel: string | undefined;
  upstreamRequestId: string | undefined;
  stream: boolean;
  /** 200 on success, the error's status, or 499 when the client went away. */
  status: number;
  errorCode: string | undefined;
  errorType: string | undefined;
  midStream: boolean;
  totalMs: number;
  upstreamMs: number | undefined;
  firstTokenMs: number | undefined;
  usage: Usage | undefined;
  /** The usage was counted by the gateway (a stream that ended without the provider's usage). */
  usageEstimated: boolean;
  attempts: number;
  fallback: string | undefined;
  degraded: string | undefined;
  cache: string | undefined;
  /** Request merging: the request id whose upstream call this request shared. */
  mergedWith: string | undefined;
}

export type GatewayEventName = keyof GatewayEvents;
