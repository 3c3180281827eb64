import { spawn } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { gunzipSync } from 'node:zlib';
import type { FastifyError } from 'fastify';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { GatewayError, UpstreamError } from '../../src/errors/gateway-error.js';
import { isReportable } from '../../src/plugins/sentry.js';
import { VERSION } from '../../src/version.js';

/**
 * Sentry runs in a child process built from dist/ (`npm test` builds it first): Sentry.init installs
 * process-wide state (a global client, uncaughtException/unhandledRejection listeners) that must not
 * leak into the Vitest worker, and dist/ is what ships.
 */

const DIST = new URL('../../dist/', import.meta.url).href;

interface Ingested {
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

let ingest: { port: number; received: Ingested[]; close(): Promise<void> };

/** A Sentry ingest endpoint on 127.0.0.1 that records every envelope. */
async function startIngest(): Promise<typeof ingest> {
  const received: Ingested[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const body = req.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw;
      received.push({ url: req.url ?? '', headers: req.headers, body: body.toString('utf8') });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    received,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

interface EnvelopeItem {
  header: { type: string; length?: number };
  payload: Record<string, unknown>;
}

/** Envelope: a header line, then per item a header line and a payload (`length` bytes when given). */
function parseEnvelope(body: string): EnvelopeItem[] {
  const buf = Buffer.from(body, 'utf8');
  let pos = buf.indexOf(0x0a) + 1;
  const items: EnvelopeItem[] = [];
  while (pos > 0 && pos < buf.length) {
    const headerEnd = buf.indexOf(0x0a, pos);
    const header = JSON.parse(buf.subarray(pos, headerEnd).toString('utf8')) as EnvelopeItem['header'];
    const start = headerEnd + 1;
    let end = header.length === undefined ? buf.indexOf(0x0a, start) : start + header.length;
    if (end < 0) end = buf.length;
    items.push({ header, payload: JSON.parse(buf.subarray(start, end).toString('utf8')) });
    pos = end + 1;
  }
  return items;
}

interface ChildResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Tests that spawn a child get longer than the default test timeout; see runChild's guard. */
const CHILD_GUARD_MS = 60_000;
const CHILD_TEST_TIMEOUT_MS = CHILD_GUARD_MS + 10_000;

function runChild(
  script: string,
  env: Record<string, string>,
  nodeArgs: string[] = [],
): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...nodeArgs, '--input-type=module', '-e', script], {
      env: { PATH: process.env.PATH ?? '', DIST, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    // Only a guard against a hung child: on a loaded two-core machine, starting Node, loading the app and
    // Sentry can take well over 15 s, and a guard that fires then fails a test that would have passed.
    const timer = setTimeout(() => child.kill('SIGKILL'), CHILD_GUARD_MS);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Builds the real gateway (zero-config, so SENTRY_DSN is read as in production) plus a route that throws. */
const GATEWAY_SCRIPT = `
const { buildApp } = await import(process.env.DIST + 'app.js');
const { zeroConfig } = await import(process.env.DIST + 'config/resolve.js');
const config = zeroConfig({ LOG_LEVEL: 'silent', SENTRY_DSN: process.env.TEST_DSN, SENTRY_ENVIRONMENT: process.env.TEST_ENV });
const { app } = await buildApp({ config });
app.get('/boom', async () => { throw new Error('boom'); });
const bad = await app.inject({ method: 'POST', url: '/v1/chat/completions', headers: { 'content-type': 'application/json', authorization: 'Bearer sk-client-secret' }, payload: '{not json' });
const boom = await app.inject({ method: 'GET', url: '/boom', headers: { authorization: 'Bearer sk-client-secret', 'x-request-id': 'req-boom-1' } });
await app.close();
process.stdout.write(JSON.stringify({ bad: bad.statusCode, boom: boom.statusCode, body: boom.json() }), () => process.exit(0));
`;

beforeAll(async () => {
  ingest = await startIngest();
});
afterAll(async () => {
  await ingest.close();
});
beforeEach(() => {
  ingest.received.length = 0;
});

describe('Sentry error reporting', () => {
  it(
    'reports a 500 with its exception, environment and release, and never a 4xx',
    async () => {
      const r = await runChild(GATEWAY_SCRIPT, {
        TEST_DSN: `http://publickey@127.0.0.1:${ingest.port}/1`,
        TEST_ENV: 'ci',
      });
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout)).toEqual({
        bad: 400,
        boom: 500,
        body: {
          error: {
            message: 'Internal gateway error.',
            type: 'server_error',
            code: 'internal_error',
            param: null,
          },
        },
      });

      for (const env of ingest.received) expect(env.url).toMatch(/^\/api\/1\/envelope\/\?/);
      const events = ingest.received
        .flatMap((env) => parseEnvelope(env.body))
        .filter((item) => item.header.type === 'event')
        .map((item) => item.payload);
      // Only the 500: the bad-JSON 400 went through the same error handler and was not reported.
      expect(events).toHaveLength(1);
      const event = events[0]!;
      expect(event.exception).toMatchObject({ values: [{ type: 'Error', value: 'boom' }] });
      expect(event.environment).toBe('ci');
      expect(event.release).toBe(`switchyard@${VERSION}`);
      expect(event.tags).toEqual({ method: 'GET', route: '/boom' });
      expect(event.extra).toEqual({ request_id: 'req-boom-1' });
      // No request data integration: the client's key never leaves the gateway.
      expect(ingest.received.map((env) => env.body).join('\n')).not.toContain('sk-client-secret');
    },
    CHILD_TEST_TIMEOUT_MS,
  );

  it(
    'reports an uncaught exception, then exits 1 as Node would',
    async () => {
      const r = await runChild(
        `
const { buildApp } = await import(process.env.DIST + 'app.js');
const { zeroConfig } = await import(process.env.DIST + 'config/resolve.js');
const { app } = await buildApp({ config: zeroConfig({ LOG_LEVEL: 'silent', SENTRY_DSN: process.env.TEST_DSN }) });
await app.ready();
setTimeout(() => { throw new Error('kaboom'); }, 0);
`,
        { TEST_DSN: `http://publickey@127.0.0.1:${ingest.port}/1` },
      );
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('Error: kaboom');
      const events = ingest.received
        .flatMap((env) => parseEnvelope(env.body))
        .filter((item) => item.header.type === 'event')
        .map((item) => item.payload);
      expect(events).toHaveLength(1);
      expect(events[0]).toMatchObject({
        level: 'fatal',
        exception: { values: [{ type: 'Error', value: 'kaboom', mechanism: { handled: false } }] },
      });
    },
    CHILD_TEST_TIMEOUT_MS,
  );

  it(
    'without a DSN, @sentry/* is never imported',
    async () => {
      // A loader hook that fails any resolution of an @sentry/ specifier, static or dynamic, from any
      // module: building the gateway succeeds only if nothing tries to load Sentry. The DSN run is the
      // control proving the hook does catch the plugin's dynamic import.
      const dir = await mkdtemp(join(tmpdir(), 'sy-sentry-'));
      const hooks = join(dir, 'hooks.mjs');
      const register = join(dir, 'register.mjs');
      await writeFile(
        hooks,
        `export async function resolve(specifier, context, next) {
  if (specifier.startsWith('@sentry/')) throw new Error('blocked import of ' + specifier);
  return next(specifier, context);
}
`,
      );
      await writeFile(
        register,
        `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(hooks).href)});\n`,
      );
      const probe = `
const { buildApp } = await import(process.env.DIST + 'app.js');
const { zeroConfig } = await import(process.env.DIST + 'config/resolve.js');
const env = { LOG_LEVEL: 'silent', ...(process.env.TEST_DSN ? { SENTRY_DSN: process.env.TEST_DSN } : {}) };
try {
  const { app } = await buildApp({ config: zeroConfig(env) });
  const live = await app.inject({ method: 'GET', url: '/health/live' });
  await app.close();
  process.stdout.write('built ' + live.statusCode, () => process.exit(0));
} catch (err) {
  process.stdout.write('failed: ' + err.message, () => process.exit(0));
}
`;
      const without = await runChild(probe, {}, ['--import', register]);
      expect(without.stderr).toBe('');
      expect(without.stdout).toBe('built 200');

      const withDsn = await runChild(probe, { TEST_DSN: `http://publickey@127.0.0.1:${ingest.port}/1` }, [
        '--import',
        register,
      ]);
      expect(withDsn.stdout).toBe('failed: blocked import of @sentry/node');
      expect(ingest.received).toEqual([]);
    },
    CHILD_TEST_TIMEOUT_MS,
  );
});

describe('isReportable', () => {
  const asFastify = (err: Error) => err as FastifyError;

  it('reports bugs and non-upstream 5xx', () => {
    expect(isReportable(asFastify(new TypeError('x is undefined')))).toBe(true);
    expect(isReportable(asFastify(new GatewayError('internal_error', 'x')))).toBe(true);
    expect(isReportable(asFastify(new GatewayError('all_targets_failed', 'x')))).toBe(true);
  });

  it('never reports 4xx, provider failures or deliberate 503s', () => {
    expect(isReportable(asFastify(new GatewayError('invalid_json', 'x')))).toBe(false);
    expect(isReportable(asFastify(Object.assign(new Error('too big'), { statusCode: 413 })))).toBe(false);
    expect(isReportable(asFastify(new GatewayError('server_overloaded', 'x')))).toBe(false);
    const upstream = new UpstreamError('provider down', {
      provider: 'openai',
      errorClass: 'server_error',
      retryable: true,
      upstreamStatus: 500,
    });
    expect(upstream.status).toBe(502);
    expect(isReportable(asFastify(upstream))).toBe(false);
  });
});
