import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  JOB_PRIORITIES,
  type JobPriority,
  type JobRecord,
  type JobStatus,
} from '../../backends/queue/types.js';
import { JOB_TYPE_PATTERN } from '../../config/jobs.js';
import { GatewayError } from '../../errors/gateway-error.js';
import type { GatewayState } from '../../services/gateway-state.js';
import { jobJson } from '../../services/jobs/job-json.js';
import { type JobService, MAX_DELAY_MS } from '../../services/jobs/job-service.js';
import { checkWebhookUrl } from '../../services/jobs/webhooks.js';
import { callerOf, teamOf } from './caller.js';

const TERMINAL: ReadonlySet<JobStatus> = new Set(['completed', 'failed', 'cancelled']);
const HEARTBEAT_MS = 15_000;
/** Watchers also read the job at this interval, in case an event was missed (a reconnecting subscriber). */
const SSE_RECHECK_MS = 2_000;

const createJobSchema = {
  body: {
    type: 'object',
    required: ['type'],
    additionalProperties: false,
    properties: {
      type: { type: 'string', pattern: JOB_TYPE_PATTERN },
      input: {},
      priority: { enum: [...JOB_PRIORITIES] },
      delay: { type: 'integer', minimum: 0, maximum: MAX_DELAY_MS, description: 'milliseconds' },
      idempotency_key: { type: 'string', minLength: 1, maxLength: 255 },
      webhook: { type: 'string', minLength: 1, maxLength: 2048 },
    },
  },
};
const idParams = {
  params: {
    type: 'object',
    required: ['id'],
    properties: { id: { type: 'string', minLength: 1, maxLength: 100 } },
  },
};
const listSchema = {
  querystring: {
    type: 'object',
    additionalProperties: false,
    properties: {
      limit: { type: 'string', pattern: '^[0-9]{1,3}$' },
      after: { type: 'string', minLength: 1, maxLength: 100 },
    },
  },
};

interface CreateJobBody {
  type: string;
  input?: unknown;
  priority?: JobPriority;
  delay?: number;
  idempotency_key?: string;
  webhook?: string;
}

/** The Jobs API: thin handlers over JobService. */
export default async function jobRoutes(
  app: FastifyInstance,
  opts: { jobs: JobService; state: GatewayState },
): Promise<void> {
  const { jobs, state } = opts;
  const team = (request: FastifyRequest, reply: FastifyReply, body?: unknown) =>
    teamOf(request, reply, state, body);

  app.post('/jobs', { schema: createJobSchema }, async (request, reply) => {
    const body = request.body as CreateJobBody;
    const headerKey = request.headers['idempotency-key'];
    const idempotencyKey =
      body.idempotency_key ?? (typeof headerKey === 'string' && headerKey ? headerKey : undefined);
    if (idempotencyKey !== undefined && idempotencyKey.length > 255) {
      throw new GatewayError('invalid_value', 'Idempotency-Key must be at most 255 characters', {
        param: 'idempotency_key',
      });
    }
    if (body.webhook !== undefined) {
      const bad = checkWebhookUrl(body.webhook);
      if (bad) throw new GatewayError('invalid_value', bad, { param: 'webhook' });
    }
    const caller = await callerOf(
      request,
      reply,
      state,
      body.type === 'chat.completion' ? body.input : undefined,
    );
    const { job, created } = await jobs.submit({
      type: body.type,
      team: caller.team,
      caller,
      input: body.input,
      priority: body.priority,
      delayMs: body.delay,
      idempotencyKey,
      webhook: body.webhook,
    });
    const statusUrl = `/v1/jobs/${job.id}`;
    reply.header('location', statusUrl);
    if (!created) reply.header('idempotent-replayed', 'true');
    reply.code(created ? 202 : 200);
    return { ...jobJson(job), status_url: statusUrl };
  });

  app.get('/jobs', { schema: listSchema }, async (request, reply) => {
    const q = request.query as { limit?: string; after?: string };
    const limit = q.limit === undefined ? 20 : Number(q.limit);
    if (limit < 1 || limit > 100) {
      throw new GatewayError('invalid_value', 'limit must be from 1 to 100', { param: 'limit' });
    }
    const caller = await team(request, reply);
    if (q.after !== undefined) await jobs.get(q.after, caller);
    const page = await jobs.list(caller, limit + 1, q.after);
    const data = page.slice(0, limit).map(jobJson);
    return {
      object: 'list',
      data,
      first_id: data[0]?.id ?? null,
      last_id: data.at(-1)?.id ?? null,
      has_more: page.length > limit,
    };
  });

  app.get('/jobs/:id', { schema: idParams }, async (request, reply) => {
    const { id } = request.params as { id: string };
    return jobJson(await jobs.get(id, await team(request, reply)));
  });

  app.delete('/jobs/:id', { schema: idParams }, async (request, reply) => {
    const { id } = request.params as { id: string };
    return jobJson(await jobs.cancel(id, await team(request, reply)));
  });

  app.get('/jobs/:id/events', { schema: idParams }, async (request, reply) => {
    const { id } = request.params as { id: string };
    const caller = await team(request, reply);
    const first = await jobs.get(id, caller);
    const controller = new AbortController();
    reply.raw.once('close', () => controller.abort());
    reply
      .header('content-type', 'text/event-stream; charset=utf-8')
      .header('cache-control', 'no-cache')
      .header('x-accel-buffering', 'no');
    return reply.send(
      Readable.from(jobEvents(jobs, first, caller, controller.signal), { objectMode: false }),
    );
  });
}

function sse(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

/**
 * `progress` events while the job runs, `status` on each change, then one final event named after the
 * outcome (`completed`, `failed`, `cancelled`) carrying the whole job, and the stream ends.
 */
async function* jobEvents(
  jobs: JobService,
  first: JobRecord,
  team: string,
  signal: AbortSignal,
): AsyncGenerator<string> {
  yield sse('status', jobJson(first));
  if (TERMINAL.has(first.status)) {
    yield sse(first.status, jobJson(first));
    return;
  }
  const pending: string[] = [];
  let wake: (() => void) | undefined;
  let lastProgress = `${first.progress}|${first.progressMessage}`;
  let lastStatus: JobStatus = first.status;
  let final: JobRecord | undefined;
  const notify = () => {
    wake?.();
    wake = undefined;
  };
  const check = async () => {
    try {
      const j = await jobs.get(first.id, team);
      const p = `${j.progress}|${j.progressMessage}`;
      if (p !== lastProgress && !TERMINAL.has(j.status)) {
        lastProgress = p;
        pending.push(sse('progress', { id: j.id, progress: j.progress, message: j.progressMessage }));
      }
      if (j.status !== lastStatus) {
        lastStatus = j.status;
        if (TERMINAL.has(j.status)) final = j;
        else pending.push(sse('status', jobJson(j)));
      }
      notify();
    } catch {
      // Removed meanwhile (retention): the next check ends the stream via the heartbeat path.
    }
  };
  const unsubscribe = jobs.subscribe(first.id, (e) => {
    if (e.kind === 'progress') {
      const p = `${e.progress}|${e.message}`;
      if (p === lastProgress) return;
      lastProgress = p;
      pending.push(sse('progress', { id: e.id, progress: e.progress, message: e.message }));
      notify();
    } else void check();
  });
  const recheck = setInterval(() => void check(), SSE_RECHECK_MS);
  const onAbort = () => notify();
  signal.addEventListener('abort', onAbort);
  try {
    // The state may have moved between the first read and the subscription.
    await check();
    let lastSent = Date.now();
    while (!signal.aborted) {
      while (pending.length > 0) yield pending.shift() as string;
      if (final) {
        yield sse(final.status, jobJson(final));
        return;
      }
      if (Date.now() - lastSent >= HEARTBEAT_MS) yield ': keep-alive\n\n';
      lastSent = Date.now();
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, HEARTBEAT_MS).unref();
      });
    }
  } finally {
    clearInterval(recheck);
    signal.removeEventListener('abort', onAbort);
    unsubscribe();
  }
}
