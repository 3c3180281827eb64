import websocket from '@fastify/websocket';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { WebSocket } from 'ws';
import { depthExceededAt, MAX_JSON_DEPTH } from '../../core/json-depth.js';
import { responsesBody } from '../../dialects/responses/schema.js';
import { GatewayError, isClientAbort, isGatewayError } from '../../errors/gateway-error.js';
import { createContext } from '../../pipeline/context.js';
import { runPipeline } from '../../pipeline/pipeline.js';
import type { GatewayState } from '../../services/gateway-state.js';
import { deletedResponse, inputItemsList } from '../../services/responses-service.js';
import type { ResponsesRequest } from '../../types/responses.js';
import { deliverJson } from '../deliver.js';
import { deliverResponsesSse, responsesFrames } from '../deliver-dialects.js';
import { httpContext } from '../http-context.js';

/**
 * OpenAI's Responses API: POST /v1/responses (JSON or SSE), GET/DELETE /v1/responses/{id},
 * GET /v1/responses/{id}/input_items, and WebSocket mode on GET /v1/responses (upgrade), where the
 * client sends `{type:'response.create', ...params}` and receives the same events as the SSE stream,
 * one JSON message each, as the `openai` SDK's ResponsesWS (resources/responses/ws) expects.
 */

const idParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', minLength: 1, maxLength: 256 } },
} as const;

export default async function responsesRoutes(
  app: FastifyInstance,
  opts: { state: GatewayState },
): Promise<void> {
  const { state } = opts;
  // Largest WebSocket message accepted: the same bound as an HTTP body.
  await app.register(websocket, { options: { maxPayload: state.runtime.config.server.bodyLimitBytes } });

  app.post('/responses', { schema: { body: responsesBody } }, async (request, reply) => {
    const body = request.body as ResponsesRequest;
    if (body.stream === true) {
      const ctx = httpContext(request, reply, state, 'responses.stream', body);
      return deliverResponsesSse(ctx, reply, await runPipeline(ctx));
    }
    const ctx = httpContext(request, reply, state, 'responses', body);
    return deliverJson(ctx, reply, await runPipeline(ctx));
  });

  app.get('/responses/:id', { schema: { params: idParams } }, async (request, reply) => {
    const { id } = request.params as { id: string };
    const rec = await state.responses.get(await callerTeam(request, reply, state), id);
    if (!rec) throw notFound(id);
    return rec.response;
  });

  app.delete('/responses/:id', { schema: { params: idParams } }, async (request, reply) => {
    const { id } = request.params as { id: string };
    if (!(await state.responses.delete(await callerTeam(request, reply, state), id))) throw notFound(id);
    return deletedResponse(id);
  });

  app.get(
    '/responses/:id/input_items',
    {
      schema: {
        params: idParams,
        querystring: {
          type: 'object',
          properties: {
            order: { enum: ['asc', 'desc'] },
            limit: { type: 'integer', minimum: 1, maximum: 100 },
          },
        },
      },
    },
    async (request, reply) => {
      const { id } = request.params as { id: string };
      const q = request.query as { order?: 'asc' | 'desc'; limit?: number };
      const rec = await state.responses.get(await callerTeam(request, reply, state), id);
      if (!rec) throw notFound(id);
      return inputItemsList(rec.input, q.order ?? 'desc', q.limit ?? 20);
    },
  );

  app.get('/responses', { websocket: true }, (socket, request) => {
    webSocketSession(socket, request, state);
  });
}

/**
 * The caller's team for reads of stored responses, from the same identify stage that the pipeline
 * runs (so a rejected key is rejected here too). These reads involve no model, so they are not a
 * pipeline operation; the context exists only for identify.
 */
async function callerTeam(
  request: FastifyRequest,
  reply: FastifyReply,
  state: GatewayState,
): Promise<string> {
  const ctx = httpContext(request, reply, state, 'responses', { model: '' });
  await state.pipelineDeps.stages.identify(ctx);
  return ctx.caller.team;
}

function notFound(id: string): GatewayError {
  return new GatewayError('response_not_found', `Response with id '${id}' not found.`, { param: 'id' });
}

/** response.create events that may wait behind the turn in flight on one connection. */
const MAX_PENDING_TURNS = 8;

/**
 * One WebSocket connection: `response.create` messages are served one at a time, in order (as OpenAI's
 * WebSocket mode does); each turn's events go out as JSON text messages. A closed socket cancels the
 * turn in flight.
 */
function webSocketSession(socket: WebSocket, request: FastifyRequest, state: GatewayState): void {
  const validate = request.compileValidationSchema(responsesBody);
  const controller = new AbortController();
  let queue = Promise.resolve();
  let turn = 0;
  socket.on('close', () => controller.abort());
  const sendError = (err: GatewayError) => {
    if (socket.readyState !== socket.OPEN) return;
    socket.send(
      JSON.stringify({
        type: 'error',
        sequence_number: 0,
        status: err.status,
        error: { type: err.type, code: err.code, message: err.message, param: err.param },
      }),
    );
  };
  let pending = 0;
  socket.on('message', (data) => {
    // Turns run one at a time; a client that sends faster than they finish waits, up to a bound.
    if (pending >= MAX_PENDING_TURNS) {
      sendError(
        new GatewayError(
          'invalid_event',
          `more than ${MAX_PENDING_TURNS} response.create events are waiting on this connection`,
        ),
      );
      return;
    }
    pending++;
    queue = queue.then(async () => {
      try {
        await turnOf(data);
      } finally {
        pending--;
      }
    });
  });
  const turnOf = async (data: Buffer | ArrayBuffer | Buffer[]): Promise<void> => {
    {
      if (controller.signal.aborted) return;
      const buf = Buffer.isBuffer(data)
        ? data
        : Array.isArray(data)
          ? Buffer.concat(data)
          : Buffer.from(data);
      // The same bound as HTTP bodies, checked on the bytes before parsing.
      if (depthExceededAt(buf) !== -1) {
        sendError(new GatewayError('invalid_json', `the message nests deeper than ${MAX_JSON_DEPTH} levels`));
        return;
      }
      let msg: unknown;
      try {
        msg = JSON.parse(buf.toString('utf8'));
      } catch {
        sendError(new GatewayError('invalid_json', 'message is not valid JSON'));
        return;
      }
      if (typeof msg !== 'object' || msg === null || (msg as { type?: unknown }).type !== 'response.create') {
        sendError(
          new GatewayError('invalid_event', "expected an event of type 'response.create'", {
            param: 'type',
          }),
        );
        return;
      }
      const { type: _type, ...params } = msg as Record<string, unknown>;
      if (!validate(params)) {
        sendError(
          new GatewayError(
            'invalid_request',
            `invalid response.create: ${validationMessage(validate.errors)}`,
          ),
        );
        return;
      }
      const body = { ...(params as ResponsesRequest), stream: true };
      // Each turn is a request of its own through the pipeline: identify, limits and settle apply per turn.
      const ctx = createContext({
        id: `${request.id}:${++turn}`,
        signal: controller.signal,
        span: request.span,
        log: request.log,
        runtime: state.runtime,
        operation: 'responses.stream',
        body,
        ingress: { headers: request.headers, ip: request.ip, path: '/v1/responses (websocket)' },
        deps: state.pipelineDeps,
      });
      try {
        const stream = await runPipeline(ctx);
        for await (const frame of responsesFrames(ctx, stream, (ev) => JSON.stringify(ev))) {
          if (socket.readyState !== socket.OPEN) break;
          socket.send(frame);
        }
      } catch (err) {
        if (isClientAbort(err)) return;
        if (!isGatewayError(err)) request.log.error({ err }, 'websocket turn failed');
        sendError(isGatewayError(err) ? err : new GatewayError('internal_error', 'Internal gateway error.'));
      }
    }
  };
}

function validationMessage(errors: unknown): string {
  const first = Array.isArray(errors)
    ? (errors[0] as { instancePath?: string; message?: string } | undefined)
    : undefined;
  if (!first) return 'request does not match the schema';
  return `'${first.instancePath || '/'}' ${first.message ?? 'is invalid'}`;
}
