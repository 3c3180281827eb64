import type { Redis } from 'ioredis';
import { createRedisClient } from '../backends/redis/client.js';
import type { RedisSpec } from '../types/config.js';

/**
 * Shares circuit openings and closings between gateway instances through Redis.
 *
 * Every instance keeps its own failure window (so the request path never waits on Redis); what is shared is
 * the decision. An instance that opens a circuit SETs `${prefix}circuit:<provider>:<model>` with PX = the
 * cooldown (so instances that start or reconnect later find it) and PUBLISHes on `${prefix}circuit` (so the
 * running ones learn within pub/sub latency, milliseconds). A probe success DELetes the key and publishes a
 * close. Messages carry the remaining cooldown rather than an absolute deadline, and keys are read back
 * with PTTL, so hosts with skewed clocks still agree on when a circuit may be probed.
 *
 * Redis failures are swallowed here: they are logged (rate-limited) and the circuits stay local-only until
 * ioredis reconnects, at which point this instance pushes its open circuits and pulls everyone else's.
 */

export interface RemoteCircuitHandlers {
  /** Another instance opened `provider`/`model` for `remainingMs` more. */
  onOpen(provider: string, model: string, remainingMs: number): void;
  /** Another instance's probe succeeded. */
  onClose(provider: string, model: string): void;
  /**
   * Circuits this instance opened from its own traffic and that are still open, with their remaining cooldown
   * (pushed after a reconnect). Opens learned from others are not re-pushed: their origin may have closed
   * them meanwhile, and echoing them back would reopen a recovered target.
   */
  openCircuits(): Array<{ provider: string; model: string; remainingMs: number }>;
}

export interface CircuitSyncLog {
  warn(obj: object, msg: string): void;
}

export interface RedisCircuitSync {
  publishOpen(provider: string, model: string, remainingMs: number): void;
  publishClose(provider: string, model: string): void;
  close(): Promise<void>;
}

interface OpenMessage {
  type: 'open';
  origin: string;
  provider: string;
  model: string;
  remainingMs: number;
}
interface CloseMessage {
  type: 'close';
  origin: string;
  provider: string;
  model: string;
}
type CircuitMessage = OpenMessage | CloseMessage;

interface StoredOpen {
  provider: string;
  model: string;
  origin: string;
}

/** One warning per outage, and at most one per this interval while it lasts. */
const WARN_INTERVAL_MS = 60_000;
/** Startup never waits longer than this for Redis; the sync catches up after ioredis reconnects. */
const STARTUP_CONNECT_BUDGET_MS = 2_500;
const SCAN_COUNT = 500;

export async function createRedisCircuitSync(opts: {
  redis: RedisSpec;
  instanceId: string;
  handlers: RemoteCircuitHandlers;
  log: CircuitSyncLog;
}): Promise<RedisCircuitSync> {
  const { redis: spec, instanceId, handlers, log } = opts;
  const channel = `${spec.keyPrefix}circuit`;
  const keyPrefix = `${spec.keyPrefix}circuit:`;
  const keyOf = (provider: string, model: string) => `${keyPrefix}${provider}:${model}`;
  const cmd = createRedisClient(spec, 'circuit');
  const sub = createRedisClient(spec, 'circuit-sub');
  let closed = false;
  let healthy = true;
  let lastWarnAt = Number.NEGATIVE_INFINITY;

  const degraded = (err: unknown): void => {
    if (closed) return;
    const t = Date.now();
    if (healthy || t - lastWarnAt >= WARN_INTERVAL_MS) {
      lastWarnAt = t;
      log.warn(
        { err: err instanceof Error ? err.message : String(err), redis: redactUrl(spec.url) },
        'circuit breaker sync via Redis unavailable; circuits are local to this instance until it returns',
      );
    }
    healthy = false;
  };
  const restored = (): void => {
    if (healthy || closed) return;
    healthy = true;
    log.warn({ redis: redactUrl(spec.url) }, 'circuit breaker sync via Redis restored');
  };

  const onMessage = (ch: string, raw: string): void => {
    if (ch !== channel) return;
    const msg = parseMessage(raw);
    // Our own broadcasts come back to us; the local state already reflects them.
    if (!msg || msg.origin === instanceId) return;
    if (msg.type === 'open') handlers.onOpen(msg.provider, msg.model, msg.remainingMs);
    else handlers.onClose(msg.provider, msg.model);
  };

  /** Pull every open circuit stored in Redis: covers startup and anything published while we were away. */
  const pull = async (): Promise<void> => {
    const pattern = `${escapeGlob(keyPrefix)}*`;
    let cursor = '0';
    do {
      const [next, keys] = await cmd.scan(cursor, 'MATCH', pattern, 'COUNT', SCAN_COUNT);
      cursor = next;
      if (keys.length === 0) continue;
      const pipe = cmd.pipeline();
      for (const k of keys) pipe.get(k).pttl(k);
      const replies = (await pipe.exec()) ?? [];
      for (let i = 0; i < keys.length; i++) {
        const value = replies[2 * i]?.[1];
        const pttl = replies[2 * i + 1]?.[1];
        const stored = typeof value === 'string' ? parseStored(value) : undefined;
        if (!stored || typeof pttl !== 'number' || pttl <= 0 || stored.origin === instanceId) continue;
        handlers.onOpen(stored.provider, stored.model, pttl);
      }
    } while (cursor !== '0');
  };

  /** Re-publish our open circuits: ones that opened while Redis was unreachable were never shared. */
  const push = async (): Promise<void> => {
    const open = handlers.openCircuits();
    if (open.length === 0) return;
    const pipe = cmd.pipeline();
    for (const c of open) addOpen(pipe, c.provider, c.model, c.remainingMs);
    await pipe.exec();
  };

  const addOpen = (
    pipe: ReturnType<Redis['pipeline']>,
    provider: string,
    model: string,
    remainingMs: number,
  ) => {
    const ms = Math.max(1, Math.ceil(remainingMs));
    const stored: StoredOpen = { provider, model, origin: instanceId };
    const msg: OpenMessage = { type: 'open', origin: instanceId, provider, model, remainingMs: ms };
    pipe.set(keyOf(provider, model), JSON.stringify(stored), 'PX', ms).publish(channel, JSON.stringify(msg));
  };

  // Both connections resync on every (re)connect: the subscriber because messages sent while it was down
  // are lost, the command connection because opens made while it was down were never pushed.
  const resync = (): void => {
    if (closed || sub.status !== 'ready' || cmd.status !== 'ready') return;
    push().then(pull).then(restored).catch(degraded);
  };
  const subscribe = async (): Promise<void> => {
    await sub.subscribe(channel);
  };

  sub.on('message', onMessage);
  sub.on('error', degraded);
  cmd.on('error', degraded);
  // ioredis resubscribes by itself after a reconnect, but only channels whose first SUBSCRIBE succeeded;
  // subscribing again on every ready covers a Redis that was down at startup (SUBSCRIBE is idempotent).
  sub.on('ready', () => {
    subscribe().then(resync).catch(degraded);
  });
  cmd.on('ready', resync);

  const started = Promise.all([cmd.connect(), sub.connect()]).then(async () => {
    await subscribe();
    await pull();
  });
  let budget: NodeJS.Timeout | undefined;
  await Promise.race([
    started.catch(degraded),
    new Promise<void>((resolve) => {
      budget = setTimeout(() => {
        degraded(new Error(`no Redis connection within ${STARTUP_CONNECT_BUDGET_MS}ms`));
        resolve();
      }, STARTUP_CONNECT_BUDGET_MS);
      budget.unref();
    }),
  ]);
  clearTimeout(budget);

  return {
    publishOpen(provider, model, remainingMs) {
      if (closed || cmd.status !== 'ready') return;
      const pipe = cmd.pipeline();
      addOpen(pipe, provider, model, remainingMs);
      pipe.exec().catch(degraded);
    },
    publishClose(provider, model) {
      if (closed || cmd.status !== 'ready') return;
      const msg: CloseMessage = { type: 'close', origin: instanceId, provider, model };
      cmd.pipeline().del(keyOf(provider, model)).publish(channel, JSON.stringify(msg)).exec().catch(degraded);
    },
    async close() {
      closed = true;
      await Promise.all([quit(cmd), quit(sub)]);
    },
  };
}

async function quit(client: Redis): Promise<void> {
  client.removeAllListeners('ready');
  if (client.status === 'ready') {
    try {
      await client.quit();
      return;
    } catch {
      // Fall through: a connection that cannot say goodbye is simply dropped.
    }
  }
  client.disconnect();
}

function parseMessage(raw: string): CircuitMessage | undefined {
  const v = parseJson(raw);
  if (!isRecord(v) || typeof v.origin !== 'string' || typeof v.provider !== 'string') return undefined;
  if (typeof v.model !== 'string') return undefined;
  if (v.type === 'close') return { type: 'close', origin: v.origin, provider: v.provider, model: v.model };
  if (v.type === 'open' && typeof v.remainingMs === 'number' && Number.isFinite(v.remainingMs)) {
    return {
      type: 'open',
      origin: v.origin,
      provider: v.provider,
      model: v.model,
      remainingMs: v.remainingMs,
    };
  }
  return undefined;
}

function parseStored(raw: string): StoredOpen | undefined {
  const v = parseJson(raw);
  if (!isRecord(v) || typeof v.provider !== 'string' || typeof v.model !== 'string') return undefined;
  return { provider: v.provider, model: v.model, origin: typeof v.origin === 'string' ? v.origin : '' };
}

function parseJson(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return undefined;
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null;
}

/** The prefix is operator-chosen; glob characters in it must match literally in SCAN MATCH. */
function escapeGlob(s: string): string {
  return s.replace(/[*?[\]\\]/g, '\\$&');
}

/** Redis URLs may carry a password; logs get host and port only. */
function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}`;
  } catch {
    return '[unparseable redis url]';
  }
}
