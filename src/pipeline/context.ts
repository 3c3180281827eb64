import { type CancelSource, cancelOf } from '../core/cancel.js';
import type { EventBus } from '../core/event-bus.js';
import type { SpanHandle } from '../core/trace-context.js';
import type { CircuitBreakerRegistry } from '../resilience/circuit-breakers.js';
import type { AudioJob, AudioResult } from '../services/audio-service.js';
import type { RequestMeta } from '../services/request-meta.js';
import type { ResponseStore } from '../services/response-store.js';
import type { ResolvedRoute, Runtime } from '../services/runtime.js';
import type { TargetStats } from '../services/target-stats.js';
import type { MessagesRequest } from '../types/anthropic-messages.js';
import type { Caller } from '../types/caller.js';
import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionRequest,
  EmbeddingsRequest,
  EmbeddingsResponse,
} from '../types/openai.js';
import type { ResponseObject, ResponsesRequest } from '../types/responses.js';
import type { ChunkStream } from './chunk-stream.js';
import type {
  CountTokensResult,
  MessagesResult,
  MessagesStreamItem,
  ResponsesStream,
} from './dialect-results.js';

/**
 * The one per-request context every stage reads and writes. It is built from an HTTP request by a
 * route, or from a job by the job runner: nothing in it is Fastify's, so the same stages serve both.
 */

/**
 * What a request asks of the gateway. Each operation names its body and its result; a streamed
 * operation's result is a ChunkStream. New ingress dialects and job types add entries here.
 */
export interface Operations {
  chat: { body: ChatCompletionRequest; result: ChatCompletion };
  'chat.stream': { body: ChatCompletionRequest; result: ChunkStream<ChatCompletionChunk> };
  embeddings: { body: EmbeddingsRequest; result: EmbeddingsResponse };
  /** Anthropic Messages: passthrough to Anthropic targets, translation to others. */
  messages: { body: MessagesRequest; result: MessagesResult };
  /** Items are the upstream's own SSE text (passthrough) or canonical chunks (translation). */
  'messages.stream': { body: MessagesRequest; result: ChunkStream<MessagesStreamItem> };
  'messages.count_tokens': { body: MessagesRequest; result: CountTokensResult };
  responses: { body: ResponsesRequest; result: ResponseObject };
  'responses.stream': { body: ResponsesRequest; result: ResponsesStream };
  'audio.transcription': { body: AudioJob; result: AudioResult };
}

export type OperationName = keyof Operations;
export type BodyOf<Op extends OperationName> = Operations[Op]['body'];
export type ResultOf<Op extends OperationName> = Operations[Op]['result'];

/** Who is calling. Set by the identify stage; nothing else reads headers for identity. */
export type { Caller } from '../types/caller.js';

/** Callers with no identity (auth mode `none`) all belong to this team. */
export const NO_TEAM = 'none';

/** What a stage may know of the transport the request came in on; a job fills what it has. */
export interface Ingress {
  /** Lower-cased request headers (HTTP), or the job's equivalent. Read by stages, never by services. */
  headers: Readonly<Record<string, string | string[] | undefined>>;
  /** The client's address, for per-IP limits; undefined for jobs. */
  ip: string | undefined;
  /** The route template (`/v1/chat/completions`), or `job:<type>`; per-route limits key on it. */
  path: string;
  /** The raw request body, when a stage needs its exact bytes (request signatures). */
  rawBody?: Buffer;
}

export interface PipelineLogger {
  readonly level: string;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** How a request ended, as settle sees it. */
export interface Outcome {
  ok: boolean;
  /** The error that ended it (before or during a stream); undefined on success and client abort. */
  error?: unknown;
  /** The client went away (or a job was cancelled) before the answer was complete. */
  aborted?: boolean;
  /** The error came after the first streamed byte had gone to the client. */
  midStream?: boolean;
}

export type SettleHook = (ctx: RequestContext, outcome: Outcome) => void;

export interface RequestContext<Op extends OperationName = OperationName> {
  readonly id: string;
  /** performance.now() at arrival; timeouts and latencies count from here. */
  readonly startedAt: number;
  /** Wall-clock arrival, for records. */
  readonly receivedAt: number;
  /** Aborted when the client disconnects or the job is cancelled; cancels the upstream call. */
  readonly cancel: CancelSource;
  /** `cancel` as an AbortSignal, made on first use, for what needs one. */
  readonly signal: AbortSignal;
  readonly span: SpanHandle;
  readonly log: PipelineLogger;
  /** The config snapshot this request runs on, captured once at arrival. */
  readonly runtime: Runtime;
  readonly operation: Op;
  readonly body: BodyOf<Op>;
  readonly ingress: Ingress;
  caller: Caller;
  /** Set by the resolve stage. */
  route: ResolvedRoute | undefined;
  /** What the request did; the log line, the request record and the metrics read it once, at settle. */
  readonly meta: RequestMeta;
  /** Headers stages add for the client (rate limits, cache status); delivery writes them, errors too. */
  readonly responseHeaders: Record<string, string>;
  /** Work to do exactly once when the request ends: reconcile reservations, write the cache. */
  readonly settleHooks: SettleHook[];
  settled: boolean;
  /** Set by the cache stage: an expired answer within its grace period exists (stale-if-error). */
  staleAvailable?: boolean;
  readonly deps: PipelineDeps;
}

export interface PipelineDeps {
  events: EventBus;
  breakers: CircuitBreakerRegistry;
  stats: TargetStats;
  rng: () => number;
  stages: StageImplementations;
  /** Stored Responses API responses, scoped by the caller's team. */
  responses: ResponseStore;
}

/**
 * The stages that features fill in. Each has a pass-through default; a feature (keys, limits, cache)
 * arrives as a new implementation here, never as a new call site in a route.
 */
export interface StageImplementations {
  /** Who is calling: sets `ctx.caller`, or throws a 401/403 GatewayError. */
  identify(ctx: RequestContext): Promise<void> | void;
  /**
   * Reserve what the request may consume (requests, tokens, budget), or throw a 429/402. Anything to
   * reconcile afterwards goes into `ctx.settleHooks`.
   */
  admit(ctx: RequestContext): Promise<void> | void;
  /**
   * Around execute: answer from the cache, join an identical request in flight, or call `execute` and
   * keep what it returns. The default just calls `execute`. `execute(cancel)` runs the upstream call on
   * that source instead of the client's, so a call merged requests share outlives one client leaving.
   */
  cache<Op extends OperationName>(
    ctx: RequestContext<Op>,
    execute: (cancel?: CancelSource) => Promise<ResultOf<Op>>,
  ): Promise<ResultOf<Op>>;
}

export const PASS_THROUGH_STAGES: StageImplementations = {
  identify() {},
  admit() {},
  cache(_ctx, execute) {
    return execute();
  },
};

export interface ContextInit<Op extends OperationName> {
  id: string;
  startedAt?: number;
  /**
   * The client's going away: an AbortSignal (a job's), or a Cancel (HTTP), which makes an AbortSignal
   * only when a stage asks for `signal`: most requests never need one (core/cancel.ts).
   */
  signal: AbortSignal | CancelSource;
  span: SpanHandle;
  log: PipelineLogger;
  runtime: Runtime;
  operation: Op;
  body: BodyOf<Op>;
  ingress: Ingress;
  deps: PipelineDeps;
  /** The object the transport reads after the request (the HTTP log line); a fresh one otherwise. */
  meta?: RequestMeta;
  /** Likewise for the headers stages add, which the HTTP error handler writes too. */
  responseHeaders?: Record<string, string>;
}

export function createContext<Op extends OperationName>(init: ContextInit<Op>): RequestContext<Op> {
  return new PipelineContext(init);
}

/**
 * A class rather than an object literal so that `signal` can be a getter on the prototype: a getter in
 * a literal is a new closure per request, which gives every context its own hidden class and makes
 * every stage's property reads megamorphic (measured: +10% CPU per cache hit).
 */
class PipelineContext<Op extends OperationName> implements RequestContext<Op> {
  // `declare`: assigned once in the constructor, in this order, with no field initializers running
  // first (native class fields would define each member as undefined, then the constructor again).
  declare readonly id: string;
  declare readonly startedAt: number;
  declare readonly receivedAt: number;
  declare readonly span: SpanHandle;
  declare readonly log: PipelineLogger;
  declare readonly runtime: Runtime;
  declare readonly operation: Op;
  declare readonly body: BodyOf<Op>;
  declare readonly ingress: Ingress;
  declare caller: Caller;
  declare route: ResolvedRoute | undefined;
  declare readonly meta: RequestMeta;
  declare readonly responseHeaders: Record<string, string>;
  declare readonly settleHooks: SettleHook[];
  declare settled: boolean;
  declare staleAvailable?: boolean;
  declare readonly deps: PipelineDeps;
  declare readonly cancel: CancelSource;

  constructor(init: ContextInit<Op>) {
    this.id = init.id;
    this.startedAt = init.startedAt ?? performance.now();
    this.receivedAt = Date.now();
    this.cancel = init.signal instanceof AbortSignal ? cancelOf(init.signal) : init.signal;
    this.span = init.span;
    this.log = init.log;
    this.runtime = init.runtime;
    this.operation = init.operation;
    this.body = init.body;
    this.ingress = init.ingress;
    this.caller = { team: NO_TEAM };
    this.route = undefined;
    this.meta = init.meta ?? {};
    this.responseHeaders = init.responseHeaders ?? {};
    this.settleHooks = [];
    this.settled = false;
    this.deps = init.deps;
  }

  get signal(): AbortSignal {
    return this.cancel.signal;
  }
}

/**
 * The same request on another cancel source: the upstream call merged requests share runs on the
 * flight's, so that one client leaving does not cut it for the others. Everything else is the request's
 * own (the same meta, headers and settle hooks).
 */
export function withCancel<Op extends OperationName>(
  ctx: RequestContext<Op>,
  cancel: CancelSource,
): RequestContext<Op> {
  const copy = Object.assign(Object.create(PipelineContext.prototype) as PipelineContext<Op>, ctx);
  (copy as { cancel: CancelSource }).cancel = cancel;
  return copy;
}

export function isStreamOperation(op: OperationName): boolean {
  return op.endsWith('.stream');
}
