import type { IncomingMessage, ServerResponse } from 'node:http';
import compress from '@fastify/compress';
import cors, { type FastifyCorsOptions } from '@fastify/cors';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import helmet from 'helmet';
import { GatewayError } from '../errors/gateway-error.js';
import { LoadMonitor } from '../observability/load-monitor.js';
import type { LoadSheddingSpec, ServerSpec } from '../types/config.js';

/**
 * HTTP hardening for every route: security headers, the CORS allowlist, response compression and load
 * shedding. Registered before any route so that the route-level hooks of compress (added in onRoute)
 * and the global hooks of the others reach all of them.
 */

export interface HardeningOptions {
  server: ServerSpec;
  /** How often memory and event-loop delay are sampled. */
  sampleIntervalMs?: number;
}

/**
 * Operational endpoints are never shed: probes and scrapes failing under load would get healthy pods
 * restarted or taken out of rotation all at once, turning a load spike into an outage.
 */
const NEVER_SHED = new Set(['/health/live', '/health/ready', '/health', '/metrics']);

/**
 * Request headers browsers may send cross-origin. Preflights list header names, and the OpenAI SDKs add
 * families (`OpenAI-*`, `X-Stainless-*`) that a fixed list cannot cover without reflecting everything.
 * `user-agent` is here because Firefox lets scripts set it and the SDKs do.
 */
const ALLOWED_REQUEST_HEADER =
  /^(?:authorization|content-type|accept|user-agent|idempotency-key|x-request-id|openai-[a-z0-9-]+|x-stainless-[a-z0-9-]+)$/;
const DEFAULT_ALLOWED_HEADERS = 'authorization, content-type, x-request-id';

/** Browsers hide response headers from scripts unless listed; these are the ones clients act on. */
const EXPOSED_HEADERS = [
  'x-request-id',
  'x-switchyard-provider',
  'x-switchyard-model',
  'x-upstream-request-id',
  'retry-after',
  'x-ratelimit-limit-requests',
  'x-ratelimit-remaining-requests',
  'x-ratelimit-reset-requests',
  'x-ratelimit-limit-tokens',
  'x-ratelimit-remaining-tokens',
  'x-ratelimit-reset-tokens',
];

/**
 * SSE must never be compressed: a compressor buffers until its window fills, so tokens would stop
 * arriving one by one. @fastify/compress already excludes text/event-stream in its default matcher,
 * but this is stated here so an upgrade of its defaults cannot silently start buffering streams.
 */
const COMPRESSIBLE = /^(?:application\/(?:[a-z0-9.+-]+\+)?json|text\/(?!event-stream)[a-z0-9.+-]+)(?:;|$)/i;

function isCompressible(contentType: string): boolean {
  return COMPRESSIBLE.test(contentType.trim());
}

async function hardeningPlugin(app: FastifyInstance, opts: HardeningOptions): Promise<void> {
  const { server } = opts;
  const sampleIntervalMs = opts.sampleIntervalMs ?? 1000;

  const pageHeaders = staticSecurityHeaders();
  app.addHook('onRequest', (request, reply, done) => {
    reply.headers(request.url.startsWith('/docs') ? pageHeaders : API_SECURITY_HEADERS);
    done();
  });

  if (server.corsOrigins.length > 0) await app.register(cors, corsOptions(server.corsOrigins));

  await app.register(compress, {
    threshold: 1024,
    customTypes: isCompressible,
    // zstd only exists on newer Node versions; a fixed list keeps the negotiated encoding predictable.
    encodings: ['br', 'gzip', 'deflate'],
    // Request bodies stay as they are: inflating them is a separate feature with its own limits.
    globalDecompression: false,
  });

  const ls = server.loadShedding;
  if (ls.enabled && (ls.maxEventLoopDelayMs > 0 || ls.maxHeapUsedBytes > 0 || ls.maxRssBytes > 0)) {
    await registerLoadShedding(app, ls, sampleIntervalMs);
  }
}

/**
 * What a JSON or SSE answer needs (OWASP's REST Security Cheat Sheet): no content sniffing, nothing may
 * load or frame it, and HSTS. helmet's other nine headers (referrer, cross-origin and legacy IE policies)
 * only mean something for a page a browser renders; on every API answer they were 550 bytes and about
 * 10 µs of header work per request. Pages (Swagger UI at /docs) keep helmet's full set.
 */
export const API_SECURITY_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
  'strict-transport-security': 'max-age=31536000; includeSubDomains',
  'x-content-type-options': 'nosniff',
});

/**
 * helmet's headers for pages, computed once. @fastify/helmet calls `helmet(config)` on every request, rebuilding
 * the middleware and re-parsing the CSP directives each time (about 3% of CPU under load in bench/);
 * with a static config the result never changes, so we run helmet once and reuse what it sets.
 */
export function staticSecurityHeaders(): Record<string, string> {
  const headers: Record<string, string> = {};
  const res = {
    setHeader(name: string, value: string | number | readonly string[]) {
      headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : String(value);
    },
    removeHeader(name: string) {
      delete headers[name.toLowerCase()];
    },
  };
  helmet({
    // helmet's default CSP suits both the JSON API and /docs (swagger-ui 6 loads only same-origin
    // scripts and no inline ones). upgrade-insecure-requests is dropped: a self-hosted gateway is often
    // reached over plain http on a LAN, where it would make browsers fetch the docs' assets over https.
    contentSecurityPolicy: { directives: { upgradeInsecureRequests: null } },
  })({} as IncomingMessage, res as unknown as ServerResponse, () => {});
  return headers;
}

function corsOptions(origins: string[]): FastifyCorsOptions {
  const anyOrigin = origins.includes('*');
  const allowed = new Set(origins);
  const base: FastifyCorsOptions = {
    // A disallowed or missing Origin gets no CORS headers at all, and its preflight falls through to
    // the 404 handler, rather than a 204 that lists methods and headers for nobody.
    origin: anyOrigin ? '*' : (origin, cb) => cb(null, origin !== undefined && allowed.has(origin)),
    methods: ['GET', 'HEAD', 'POST'],
    exposedHeaders: EXPOSED_HEADERS,
    maxAge: 600,
    // Strict mode answers a malformed preflight with a text/plain 400 that bypasses our error shape.
    strictPreflight: false,
  };
  return {
    delegator: (req, cb) => {
      const requested = req.headers['access-control-request-headers'];
      const names = typeof requested === 'string' ? requested.split(',') : [];
      const ok = names.map((h) => h.trim().toLowerCase()).filter((h) => ALLOWED_REQUEST_HEADER.test(h));
      cb(null, { ...base, allowedHeaders: ok.length > 0 ? ok.join(', ') : DEFAULT_ALLOWED_HEADERS });
    },
  };
}

async function registerLoadShedding(
  app: FastifyInstance,
  ls: LoadSheddingSpec,
  sampleIntervalMs: number,
): Promise<void> {
  const monitor = new LoadMonitor({
    maxEventLoopDelayMs: ls.maxEventLoopDelayMs,
    maxHeapUsedBytes: ls.maxHeapUsedBytes,
    maxRssBytes: ls.maxRssBytes,
    sampleIntervalMs,
  });
  app.addHook('onListen', async () => monitor.start());
  app.addHook('onClose', async () => monitor.stop());
  let lastWarnAt = 0;
  // preParsing: after every onRequest hook (so the 503 carries x-request-id and gets its log line), but
  // before any body is read.
  // Callback style, not async: no promise and no extra microtask per request on the path every request takes.
  app.addHook('preParsing', (request, _reply, payload, done) => {
    const pressure = monitor.pressure();
    if (pressure === undefined || NEVER_SHED.has(request.routeOptions.url ?? '')) {
      done(null, payload);
      return;
    }
    // Every shed request has its own 503 log line; this says why, without a line per request.
    const now = Date.now();
    if (now - lastWarnAt >= 10_000) {
      lastWarnAt = now;
      app.log.warn(
        { pressure: pressure.kind, value: pressure.value },
        'shedding load: server under pressure',
      );
    }
    done(
      new GatewayError('server_overloaded', 'Server is under pressure, retry later.', {
        headers: { 'retry-after': String(ls.retryAfterSeconds) },
      }),
    );
  });
}

export default fp(hardeningPlugin, { name: 'gw-hardening', fastify: '5.x' });
