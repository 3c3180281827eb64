import { isUtf8 } from 'node:buffer';
import type { FastifyError, FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import sjson from 'secure-json-parse';
import { GatewayError, isClientAbort, isGatewayError } from '../errors/gateway-error.js';
import { setResilienceHeaders } from './response-headers.js';

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

async function requestErrorsPlugin(app: FastifyInstance): Promise<void> {
  app.removeContentTypeParser(['application/json']);
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_req, body, done) => {
    const buf = body as Buffer;
    if (buf.length === 0) {
      done(
        new GatewayError(400, 'invalid_json', 'Request body is empty; expected a JSON object.'),
        undefined,
      );
      return;
    }
    // Node would silently replace invalid sequences with U+FFFD and forward a corrupted prompt.
    if (!isUtf8(buf)) {
      done(new GatewayError(400, 'invalid_encoding', 'Request body is not valid UTF-8.'), undefined);
      return;
    }
    try {
      done(null, sjson.parse(buf.toString('utf8'), { protoAction: 'remove', constructorAction: 'remove' }));
    } catch (err) {
      done(
        new GatewayError(400, 'invalid_json', `Request body is not valid JSON: ${(err as Error).message}`),
        undefined,
      );
    }
  });

  app.setErrorHandler((err: FastifyError, request, reply) => {
    const gw = toGatewayError(err);
    // The client is gone: nothing to send and nothing wrong with the gateway.
    if (isClientAbort(gw)) return reply.code(499).send(gw.toBody());
    if (gw.status >= 500 && gw.code === 'internal_error') request.log.error({ err }, 'unhandled error');
    if (request.meta) setResilienceHeaders(request.meta, reply);
    reply.code(gw.status).headers(gw.headers).send(gw.toBody());
  });

  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0];
    const gw = new GatewayError(404, 'route_not_found', `Unknown route: ${request.method} ${path}`);
    reply.code(404).send(gw.toBody());
  });
}

export function toGatewayError(err: FastifyError): GatewayError {
  if (isGatewayError(err)) return err;
  if (err.validation) return validationError(err.validation as AjvError[], err.validationContext ?? 'body');
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new GatewayError(413, 'request_too_large', 'Request body is larger than the configured limit.');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new GatewayError(415, 'unsupported_media_type', 'Content-Type must be application/json.');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new GatewayError(400, 'invalid_json', 'Request body is empty; expected a JSON object.');
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new GatewayError(400, 'invalid_request', 'Content-Length does not match the body.');
  }
  const status = err.statusCode;
  if (status !== undefined && status >= 400 && status < 500) {
    return new GatewayError(status, 'invalid_request', err.message);
  }
  return new GatewayError(500, 'internal_error', 'Internal gateway error.', { cause: err });
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
  return new GatewayError(400, 'invalid_request', `Invalid request ${context}: ${where} ${message}.`, {
    param: param === '' ? null : param,
  });
}

export default fp(requestErrorsPlugin, { name: 'gw-request-errors', fastify: '5.x' });
