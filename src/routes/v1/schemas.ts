import { OPENAPI_CONTENT } from '../../types/openapi.js';

/**
 * JSON Schemas for the OpenAI-compatible request bodies. Strict on the fields we understand (types and
 * ranges produce a 400 naming the field) and open at the top level, so provider-specific extras such
 * as `seed`, `logit_bias` or OpenRouter's `transforms` pass through to OpenAI-compatible upstreams.
 */

const textPart = {
  type: 'object',
  required: ['type', 'text'],
  properties: { type: { const: 'text' }, text: { type: 'string' } },
};
const imagePart = {
  type: 'object',
  required: ['type', 'image_url'],
  properties: {
    type: { const: 'image_url' },
    image_url: {
      type: 'object',
      required: ['url'],
      properties: { url: { type: 'string', minLength: 1 }, detail: { enum: ['auto', 'low', 'high'] } },
    },
  },
};
const contentPart = {
  type: 'object',
  required: ['type'],
  properties: { type: { enum: ['text', 'image_url', 'input_audio', 'file', 'refusal'] } },
  if: { properties: { type: { const: 'text' } } },
  then: textPart,
  else: { if: { properties: { type: { const: 'image_url' } } }, then: imagePart },
};

const toolCall = {
  type: 'object',
  required: ['id', 'type', 'function'],
  properties: {
    id: { type: 'string' },
    type: { const: 'function' },
    function: {
      type: 'object',
      required: ['name', 'arguments'],
      properties: { name: { type: 'string' }, arguments: { type: 'string' } },
    },
  },
};

const message = {
  type: 'object',
  required: ['role'],
  properties: {
    role: { enum: ['system', 'developer', 'user', 'assistant', 'tool'] },
    content: { anyOf: [{ type: 'string' }, { type: 'null' }, { type: 'array', items: contentPart }] },
    name: { type: 'string' },
    tool_calls: { type: 'array', items: toolCall },
    tool_call_id: { type: 'string' },
  },
};

const tool = {
  type: 'object',
  required: ['type', 'function'],
  properties: {
    type: { const: 'function' },
    function: {
      type: 'object',
      required: ['name'],
      properties: {
        name: { type: 'string', minLength: 1, maxLength: 64 },
        description: { type: 'string' },
        parameters: { type: 'object' },
        strict: { type: ['boolean', 'null'] },
      },
    },
  },
};

export const chatCompletionBody = {
  type: 'object',
  required: ['model', 'messages'],
  properties: {
    model: { type: 'string', minLength: 1 },
    messages: { type: 'array', minItems: 1, items: message },
    stream: { type: ['boolean', 'null'] },
    stream_options: {
      type: ['object', 'null'],
      properties: { include_usage: { type: 'boolean' } },
    },
    max_tokens: { type: ['integer', 'null'], minimum: 1 },
    max_completion_tokens: { type: ['integer', 'null'], minimum: 1 },
    temperature: { type: ['number', 'null'], minimum: 0, maximum: 2 },
    top_p: { type: ['number', 'null'], minimum: 0, maximum: 1 },
    n: { type: ['integer', 'null'], minimum: 1, maximum: 128 },
    stop: {
      anyOf: [
        { type: 'string' },
        { type: 'array', items: { type: 'string' }, maxItems: 4 },
        { type: 'null' },
      ],
    },
    presence_penalty: { type: ['number', 'null'], minimum: -2, maximum: 2 },
    frequency_penalty: { type: ['number', 'null'], minimum: -2, maximum: 2 },
    seed: { type: ['integer', 'null'] },
    user: { type: 'string' },
    tools: { type: 'array', items: tool },
    tool_choice: {
      anyOf: [
        { enum: ['none', 'auto', 'required'] },
        {
          type: 'object',
          required: ['type', 'function'],
          properties: {
            type: { const: 'function' },
            function: { type: 'object', required: ['name'], properties: { name: { type: 'string' } } },
          },
        },
      ],
    },
    parallel_tool_calls: { type: 'boolean' },
    response_format: {
      type: 'object',
      required: ['type'],
      properties: {
        type: { enum: ['text', 'json_object', 'json_schema'] },
        json_schema: { type: 'object', required: ['name'], properties: { name: { type: 'string' } } },
      },
    },
  },
} as const;

/** Above any embedding model's size; bounds what one request can make the mock (or a proxy) produce. */
export const MAX_EMBEDDING_DIMENSIONS = 8192;

export const embeddingsBody = {
  type: 'object',
  required: ['model', 'input'],
  properties: {
    model: { type: 'string', minLength: 1 },
    // OpenAI's own limits: 2,048 inputs per request, 8,192 tokens per input.
    input: {
      anyOf: [
        { type: 'string' },
        { type: 'array', minItems: 1, maxItems: 2048, items: { type: 'string' } },
        { type: 'array', minItems: 1, maxItems: 8192, items: { type: 'integer' } },
        {
          type: 'array',
          minItems: 1,
          maxItems: 2048,
          items: { type: 'array', maxItems: 8192, items: { type: 'integer' } },
        },
      ],
    },
    encoding_format: { enum: ['float', 'base64'] },
    // The largest embedding models have 3,072 dimensions; 10,000,000 made the mock answer 94 MB.
    dimensions: { type: 'integer', minimum: 1, maximum: MAX_EMBEDDING_DIMENSIONS },
    user: { type: 'string' },
  },
} as const;

/*
 * Response schemas. Fastify compiles a route's response schemas into fast-json-stringify serialisers,
 * which drop every property a schema does not list and coerce mismatched types. Provider responses vary
 * (OpenRouter's `provider`, Gemini-specific usage details, fields OpenAI adds next month), and clients
 * are promised the provider's body untouched. So route responses carry only a description plus the
 * documentation under `x-openapi-content`: with no `type`, fast-json-stringify falls back to
 * JSON.stringify and ignores `x-` keywords, and the openapi plugin swaps the content in for the document.
 */

type MediaSchemas = Record<string, { schema: Record<string, unknown> }>;

export interface DocumentedResponse {
  description: string;
  [OPENAPI_CONTENT]: MediaSchemas;
  /** Response headers, for the document only. */
  headers?: Record<string, { type: string; description: string }>;
}

/** A route response that is documented in OpenAPI but serialised with plain JSON.stringify. */
export function documented(description: string, content: MediaSchemas): DocumentedResponse {
  return { description, [OPENAPI_CONTENT]: content };
}

const json = (schema: Record<string, unknown>): MediaSchemas => ({ 'application/json': { schema } });

/** OpenAI's error envelope: every error Switchyard returns has this shape. */
export const errorResponse = {
  title: 'Error',
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['message', 'type', 'code', 'param'],
      properties: {
        message: { type: 'string', description: 'What is wrong, naming the field where there is one.' },
        type: {
          type: 'string',
          description: 'The broad class: invalid_request_error, upstream_error, overloaded_error, …',
        },
        code: { type: ['string', 'null'], description: 'Stable and machine-readable; see docs/errors.md.' },
        param: { type: ['string', 'null'], description: 'JSON path of the offending field, or null.' },
      },
    },
  },
} as const;

const retryAfterHeader = {
  'retry-after': { type: 'string', description: 'Seconds to wait before retrying, when known.' },
};

const ERROR_DESCRIPTIONS: Record<number, string> = {
  400: 'Invalid request: bad JSON, a schema violation (`param` names the field), or a value the provider cannot take.',
  404: 'Unknown model or route.',
  413: 'The body is larger than `server.body_limit`.',
  415: 'Content-Type is not application/json.',
  429: 'The provider rate-limited the request.',
  500: 'A bug in Switchyard; details are in the log under the request id.',
  502: "The provider failed, could not be reached, or rejected the gateway's key.",
  503: 'The provider is overloaded, or the gateway is shedding load (`server_overloaded`).',
  504: 'The provider timed out.',
};

/** Error responses for the given statuses, all in OpenAI's error shape. */
export function errorResponses(...statuses: number[]): Record<number, DocumentedResponse> {
  const out: Record<number, DocumentedResponse> = {};
  for (const status of statuses) {
    const res = documented(ERROR_DESCRIPTIONS[status] ?? 'Error.', json(errorResponse));
    out[status] = status === 429 || status === 503 ? { ...res, headers: retryAfterHeader } : res;
  }
  return out;
}

const usage = {
  type: 'object',
  properties: {
    prompt_tokens: { type: 'integer' },
    completion_tokens: { type: 'integer' },
    total_tokens: { type: 'integer' },
  },
};

const chatCompletion = {
  title: 'ChatCompletion',
  type: 'object',
  required: ['id', 'object', 'created', 'model', 'choices'],
  properties: {
    id: { type: 'string' },
    object: { const: 'chat.completion' },
    created: { type: 'integer', description: 'Unix seconds.' },
    model: { type: 'string' },
    choices: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          index: { type: 'integer' },
          message: {
            type: 'object',
            properties: {
              role: { const: 'assistant' },
              content: { type: ['string', 'null'] },
              tool_calls: { type: 'array', items: toolCall },
              refusal: { type: ['string', 'null'] },
            },
          },
          finish_reason: {
            anyOf: [
              { enum: ['stop', 'length', 'tool_calls', 'content_filter', 'function_call'] },
              { type: 'null' },
            ],
          },
        },
      },
    },
    usage,
    system_fingerprint: { type: ['string', 'null'] },
  },
  description: 'Fields the provider adds beyond these are passed through unchanged.',
};

export const chatCompletionResponses = {
  200: documented('A chat completion, or with `stream: true` a stream of chunks.', {
    'application/json': { schema: chatCompletion },
    'text/event-stream': {
      schema: {
        type: 'string',
        description:
          'Server-sent events: `data: {chat.completion.chunk}` per chunk, then `data: [DONE]`. A failure after ' +
          'the first chunk ends the stream with `data: {error}` and no [DONE].',
      },
    },
  }),
  ...errorResponses(400, 404, 413, 415, 429, 500, 502, 503, 504),
};

export const embeddingsResponses = {
  200: documented(
    'The embeddings, one per input.',
    json({
      title: 'EmbeddingsResponse',
      type: 'object',
      required: ['object', 'data', 'model'],
      properties: {
        object: { const: 'list' },
        data: {
          type: 'array',
          items: {
            type: 'object',
            properties: {
              object: { const: 'embedding' },
              index: { type: 'integer' },
              embedding: {
                anyOf: [
                  { type: 'array', items: { type: 'number' } },
                  { type: 'string', description: 'base64 of little-endian float32s' },
                ],
              },
            },
          },
        },
        model: { type: 'string' },
        usage: {
          type: 'object',
          properties: { prompt_tokens: { type: 'integer' }, total_tokens: { type: 'integer' } },
        },
      },
    }),
  ),
  ...errorResponses(400, 404, 413, 415, 429, 500, 502, 503, 504),
};

export const modelsResponses = {
  200: documented(
    'The configured public models.',
    json({
      title: 'ModelList',
      type: 'object',
      properties: {
        object: { const: 'list' },
        data: {
          type: 'array',
          items: {
            type: 'object',
            properties: {
              id: { type: 'string' },
              object: { const: 'model' },
              created: { type: 'integer' },
              owned_by: { type: 'string', description: "The first target's provider id." },
            },
          },
        },
      },
    }),
  ),
  ...errorResponses(500, 503),
};

/** Route schemas: request validation plus the OpenAPI summary, tags and responses. */
export const chatCompletionRoute = {
  summary: 'Create a chat completion',
  description:
    "OpenAI's chat completions. With `stream: true` the response is `text/event-stream`. Requests to " +
    "Anthropic and Gemini are translated; the response always has OpenAI's shape.",
  tags: ['chat'],
  body: chatCompletionBody,
  response: chatCompletionResponses,
};

export const embeddingsRoute = {
  summary: 'Create embeddings',
  tags: ['embeddings'],
  body: embeddingsBody,
  response: embeddingsResponses,
};

export const modelsRoute = { summary: 'List models', tags: ['models'], response: modelsResponses };

const modelObject = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    object: { const: 'model' },
    created: { type: 'integer' },
    owned_by: { type: 'string', description: "The first target's provider id." },
  },
};

/** `GET /v1/models/{model}`: one configured public model (the openai SDK's `models.retrieve`). */
export const modelRoute = {
  summary: 'Retrieve a model',
  tags: ['models'],
  response: {
    200: documented('The model.', json(modelObject)),
    ...errorResponses(400, 404, 500, 503),
  },
};
