import { isUtf8 } from 'node:buffer';
import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import sjson from 'secure-json-parse';
import { depthExceededAt, MAX_JSON_DEPTH } from '../core/json-depth.js';
import { retryAdvice } from '../core/retry-advice.js';
import { toMessagesError } from '../dialects/anthropic-messages/from-canonical.js';
import { type ErrorCode, GatewayError, isClientAbort, isGatewayError } from '../errors/gateway-error.js';
import { resilienceHeaders } from '../pipeline/headers.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The error shape this route's clients expect: OpenAI's (default) or Anthropic's (/v1/messages). */
    errorDialect?: 'openai' | 'anthropic';
  }
}

/** The error body in the dialect the route speaks. */
function errorBody(request: FastifyRequest, gw: GatewayError): object {
  return request.routeOptions.config?.errorDialect === 'anthropic' ? toMessagesError(gw) : gw.toBody();
}

/**
 * Body parsing and the single error handler. Every failure leaves as OpenAI's error shape with a 4xx
 * that names the offending field; only genuine bugs become 500, and those never leak internals.
 */

interface AjvError {
  instancePath: string;
  keyword: string;
  message?: string;
  params: Record<string, unknown>;
}

/**
 * secure-json-parse scans the whole text with its prototype-poisoning patterns after parsing. Those
 * patterns need `__proto__` or `constructor`, literally or with a `\u` escape in them; a body with none
 * of the three cannot match, so it gets a plain JSON.parse (the same result, without the scan).
 */
function parseBody(text: string): unknown {
  if (
    text.charCodeAt(0) !== 0xfeff && // secure-json-parse strips a byte-order mark; leave that to it
    !text.includes('__proto__') &&
    !text.includes('constructor') &&
    !text.includes('\\u')
  ) {
    return JSON.parse(text);
  }
  return sjson.parse(text, { protoAction: 'remove', constructorAction: 'remove' });
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The JSON body's exact bytes. */
    rawBody?: Buffer;
  }
}

async function requestErrorsPlugin(app: FastifyInstance): Promise<void> {
  // JSON only: Fastify's built-in text/plain parser would hand a string to the schema, which answers 400
  // where docs/errors.md promises 415. Without a parser, any other media type is FST_ERR_CTP_INVALID_MEDIA_TYPE.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (req, body, done) => {
    const buf = body as Buffer;
    // Kept (no copy) for stages that need the exact bytes: per-key request signatures.
    req.rawBody = buf;
    if (buf.length === 0) {
      done(new GatewayError('invalid_json', 'Request body is empty; expected a JSON object.'), undefined);
      return;
    }
    // Node would silently replace invalid sequences with U+FFFD and forward a corrupted prompt.
    if (!isUtf8(buf)) {
      done(new GatewayError('invalid_encoding', 'Request body is not valid UTF-8.'), undefined);
      return;
    }
    const deep = depthExceededAt(buf);
    if (deep >= 0) {
      done(
        new GatewayError(
          'invalid_json',
          `Request body nests deeper than ${MAX_JSON_DEPTH} levels (at byte ${deep}); flatten it.`,
        ),
        undefined,
      );
      return;
    }
    try {
      done(null, parseBody(buf.toString('utf8')));
    } catch (err) {
      done(
        new GatewayError('invalid_json', `Request body is not valid JSON: ${(err as Error).message}`),
        undefined,
      );
    }
  });

  app.setErrorHandler((err: FastifyError, request, reply) => {
    const gw = toGatewayError(err);
    // The client is gone: nothing to send and nothing wrong with the gateway.
    if (isClientAbort(gw)) return reply.code(499).send(errorBody(request, gw));
    if (gw.status >= 500 && gw.code === 'internal_error') request.log.error({ err }, 'unhandled error');
    const headers = request.responseHeaders ?? {};
    if (request.meta) resilienceHeaders(request.meta, headers);
    const advice = retryAdvice(gw.status, request.meta?.attempts);
    if (advice !== undefined) headers['x-should-retry'] = advice;
    reply.code(gw.status).headers(headers).headers(gw.headers).send(errorBody(request, gw));
  });

  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0];
    const gw = new GatewayError('route_not_found', `Unknown route: ${request.method} ${path}`);
    reply.code(404).send(gw.toBody());
  });
}

/** Fastify's own 4xx errors, by status; any other 4xx is reported as 400 `invalid_request`. */
const CLIENT_STATUS_CODES: Partial<Record<number, ErrorCode>> = {
  404: 'route_not_found',
  408: 'request_timeout',
  413: 'request_too_large',
  415: 'unsupported_media_type',
  431: 'headers_too_large',
};

export function toGatewayError(err: FastifyError): GatewayError {
  if (isGatewayError(err)) return err;
  if (err.validation) return validationError(err.validation as AjvError[], err.validationContext ?? 'body');
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new GatewayError('request_too_large', 'Request body is larger than the configured limit.');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new GatewayError('unsupported_media_type', 'Content-Type must be application/json.');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new GatewayError('invalid_json', 'Request body is empty; expected a JSON object.');
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new GatewayError('invalid_request', 'Content-Length does not match the body.');
  }
  const status = err.statusCode;
  if (status !== undefined && status >= 400 && status < 500) {
    return new GatewayError(CLIENT_STATUS_CODES[status] ?? 'invalid_request', err.message);
  }
  return new GatewayError('internal_error', 'Internal gateway error.', { cause: err });
}

/**
 * Fastify's `frameworkErrors`: a URL the router cannot decode (`/v1/%zz`) fails before any hook runs, so
 * the request id header is set here.
 */
export function frameworkErrors(err: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const gw = toGatewayError(err);
  reply.code(gw.status).header('x-request-id', request.id).headers(gw.headers).send(gw.toBody());
}

/** Node's parser errors with no request behind them: malformed HTTP, slow clients, oversized headers. */
const CLIENT_ERRORS: Readonly<Record<string, () => GatewayError>> = {
  ERR_HTTP_REQUEST_TIMEOUT: () =>
    new GatewayError('request_timeout', 'The request was not received in time.'),
  HPE_HEADER_OVERFLOW: () =>
    new GatewayError('headers_too_large', 'The request headers are larger than the server accepts.'),
};

/**
 * Fastify's `clientErrorHandler`: the HTTP parser failed before a request existed, so there is no reply
 * object and the response is written on the socket by hand, in our error shape, with a fresh request id
 * (the client's own `x-request-id` may be in the headers that failed to parse). The connection is closed,
 * as Node does, because the parser cannot find the next request's start.
 */
export function clientErrorHandler(
  this: FastifyInstance,
  err: NodeJS.ErrnoException & { code?: string },
  socket: Socket,
): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const gw =
    CLIENT_ERRORS[err.code ?? '']?.() ??
    new GatewayError('invalid_request', `Malformed HTTP request (${err.code ?? 'parse error'}).`);
  const id = randomUUID();
  this.log.debug({ err, reqId: id, status: gw.status }, 'client error before routing');
  // Node's own rule: never write into a response that has already started on this socket.
  const inFlight = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (socket.writable && !inFlight?.headersSent) {
    const body = JSON.stringify(gw.toBody());
    socket.write(
      `HTTP/1.1 ${gw.status} ${STATUS_CODES[gw.status]}\r\n` +
        'content-type: application/json; charset=utf-8\r\n' +
        `content-length: ${Buffer.byteLength(body)}\r\n` +
        `x-request-id: ${id}\r\n` +
        'connection: close\r\n\r\n' +
        body,
    );
  }
  socket.destroy();
}

/** `/messages/0/role` -> `messages[0].role` */
function paramPath(instancePath: string, extra?: string): string {
  const parts = instancePath.split('/').filter(Boolean);
  if (extra) parts.push(extra);
  let out = '';
  for (const p of parts) out += /^\d+$/.test(p) ? `[${p}]` : out === '' ? p : `.${p}`;
  return out;
}

const ANY_OF_HINTS: Record<string, string> = {
  content: 'must be a string, an array of content parts, or null',
  stop: 'must be a string or an array of strings',
  tool_choice: "must be 'none', 'auto', 'required' or {type: 'function', function: {name}}",
  input: 'must be a string, an array of strings, or an array of token arrays',
};

/**
 * Ajv reports every failed branch of an anyOf before the anyOf itself. The most useful single error is
 * the deepest one; at that depth an anyOf summary beats the first branch's "must be string".
 */
function mostSpecific(errors: AjvError[]): AjvError {
  let depth = -1;
  for (const e of errors) depth = Math.max(depth, e.instancePath.split('/').length);
  const deepest = errors.filter((e) => e.instancePath.split('/').length === depth && e.keyword !== 'if');
  return deepest.find((e) => e.keyword === 'anyOf' || e.keyword === 'oneOf') ?? deepest[0] ?? errors[0]!;
}

function validationError(errors: AjvError[], context: string): GatewayError {
  const e = mostSpecific(errors);
  let param: string;
  let message: string;
  if (e.keyword === 'required') {
    param = paramPath(e.instancePath, String(e.params.missingProperty));
    message = 'is required';
  } else if (e.keyword === 'additionalProperties') {
    param = paramPath(e.instancePath, String(e.params.additionalProperty));
    message = 'is not a recognized field';
  } else if (e.keyword === 'enum') {
    param = paramPath(e.instancePath);
    message = `must be one of: ${(e.params.allowedValues as unknown[]).join(', ')}`;
  } else if (e.keyword === 'anyOf' || e.keyword === 'oneOf') {
    param = paramPath(e.instancePath);
    const last =
      param
        .replace(/\[\d+\]$/, '')
        .split('.')
        .pop() ?? '';
    message = ANY_OF_HINTS[last] ?? 'has an invalid type or shape';
  } else {
    param = paramPath(e.instancePath);
    message = e.message ?? 'is invalid';
  }
  const where = param === '' ? `request ${context}` : `'${param}'`;
  return new GatewayError('invalid_request', `Invalid request ${context}: ${where} ${message}.`, {
    param: param === '' ? null : param,
  });
}

export default fp(requestErrorsPlugin, { name: 'gw-request-errors', fastify: '5.x' });
