import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance, FastifySchema } from 'fastify';
import fp from 'fastify-plugin';
import { OPENAPI_CONTENT } from '../types/openapi.js';
import { VERSION } from '../version.js';

/**
 * The OpenAPI 3.1 document, generated from the route schemas, at /docs/json, and Swagger UI at /docs.
 * Registered before the routes: @fastify/swagger collects routes in an onRoute hook, so it sees every
 * route registered after it. 3.1 rather than 3.0 because the request schemas use JSON Schema's
 * `type: [..., 'null']` and `const`, which 3.0 cannot express.
 */

/** Routes registered by plugins that own no docs of their own; only fills what a route leaves unset. */
const OPERATIONS: Record<string, { summary: string; description: string }> = {
  '/health/live': {
    summary: 'Liveness',
    description: '200 `{"status":"ok"}` while the process runs. Never shed under load.',
  },
  '/health/ready': {
    summary: 'Readiness',
    description: '200 once listening; 503 while starting or shutting down.',
  },
  '/health': {
    summary: 'Health details',
    description:
      'Status, version and uptime; memory and providers with the admin key (or `health.expose_details`).',
  },
  '/metrics': { summary: 'Prometheus metrics', description: 'Prometheus text exposition format.' },
};

function toDocSchema(schema: FastifySchema | undefined, url: string): FastifySchema {
  const out: FastifySchema & Record<string, unknown> = { ...schema };
  const ops = OPERATIONS[url];
  if (ops) {
    out.summary ??= ops.summary;
    out.description ??= ops.description;
    out.tags ??= ['operations'];
  }
  const response = schema?.response;
  if (response && typeof response === 'object') {
    const docs: Record<string, unknown> = {};
    for (const [status, res] of Object.entries(response as Record<string, unknown>)) {
      docs[status] = isDocumented(res) ? withContent(res) : res;
    }
    out.response = docs;
  }
  return out;
}

function isDocumented(res: unknown): res is Record<string, unknown> {
  return typeof res === 'object' && res !== null && OPENAPI_CONTENT in res;
}

/** `{description, x-openapi-content, ...}` -> `{description, content, ...}`, the form @fastify/swagger documents. */
function withContent(res: Record<string, unknown>): Record<string, unknown> {
  const { [OPENAPI_CONTENT]: content, ...rest } = res;
  return { ...rest, content };
}

async function openapiPlugin(app: FastifyInstance): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Switchyard',
        version: VERSION,
        description:
          "OpenAI-compatible AI gateway. Every error uses OpenAI's shape " +
          '`{error: {message, type, code, param}}`; every response carries `x-request-id`.',
      },
      tags: [
        { name: 'chat', description: 'Chat completions, streamed or not.' },
        { name: 'embeddings', description: 'Embeddings.' },
        { name: 'models', description: 'The configured public models.' },
        { name: 'operations', description: 'Health and metrics.' },
      ],
    },
    transform: ({ schema, url }) => ({ schema: toDocSchema(schema, url), url }),
  });
  await app.register(swaggerUi, {
    routePrefix: '/docs',
    // Assets come from the package's own static folder: the page works offline. The global helmet CSP
    // applies (swagger-ui 6 needs no inline scripts), so no separate static CSP.
    staticCSP: false,
    uiConfig: { deepLinking: true, displayRequestDuration: true },
  });
}

export default fp(openapiPlugin, { name: 'gw-openapi', fastify: '5.x' });
