/**
 * JSON Schema for POST /v1/messages and /v1/messages/count_tokens, as Anthropic's API reference
 * defines the request. Strict on the fields the gateway reads or translates (a 400 names the field),
 * open elsewhere so new Anthropic fields reach Anthropic targets unchanged. Every client-controlled
 * count is bounded; depth is checked separately (core/json-depth.ts).
 */

export const MESSAGES_LIMITS = {
  messages: 10_000,
  blocksPerMessage: 2_000,
  tools: 512,
  stopSequences: 64,
  systemBlocks: 256,
  nameLength: 256,
} as const;

const cacheControl = {
  type: ['object', 'null'],
  required: ['type'],
  properties: { type: { const: 'ephemeral' }, ttl: { enum: ['5m', '1h'] } },
};

const textBlock = {
  type: 'object',
  required: ['type', 'text'],
  properties: { type: { const: 'text' }, text: { type: 'string' }, cache_control: cacheControl },
};

const imageSource = {
  type: 'object',
  required: ['type'],
  properties: { type: { enum: ['base64', 'url', 'file'] } },
  if: { properties: { type: { const: 'base64' } } },
  then: {
    required: ['media_type', 'data'],
    properties: { media_type: { type: 'string' }, data: { type: 'string' } },
  },
  else: {
    if: { properties: { type: { const: 'url' } } },
    then: { required: ['url'], properties: { url: { type: 'string', minLength: 1 } } },
  },
};

const block = {
  type: 'object',
  required: ['type'],
  properties: { type: { type: 'string', maxLength: 64 }, cache_control: cacheControl },
  allOf: [
    { if: { properties: { type: { const: 'text' } } }, then: textBlock },
    {
      if: { properties: { type: { const: 'image' } } },
      then: { required: ['source'], properties: { source: imageSource } },
    },
    {
      if: { properties: { type: { const: 'tool_use' } } },
      then: {
        required: ['id', 'name', 'input'],
        properties: {
          id: { type: 'string', maxLength: 256 },
          name: { type: 'string', maxLength: 256 },
          input: { type: 'object' },
        },
      },
    },
    {
      if: { properties: { type: { const: 'tool_result' } } },
      then: {
        required: ['tool_use_id'],
        properties: {
          tool_use_id: { type: 'string', maxLength: 256 },
          content: {
            anyOf: [
              { type: 'string' },
              { type: 'array', maxItems: 2_000, items: { type: 'object', required: ['type'] } },
            ],
          },
          is_error: { type: 'boolean' },
        },
      },
    },
    {
      if: { properties: { type: { const: 'thinking' } } },
      then: {
        required: ['thinking', 'signature'],
        properties: { thinking: { type: 'string' }, signature: { type: 'string' } },
      },
    },
    {
      if: { properties: { type: { const: 'redacted_thinking' } } },
      then: { required: ['data'], properties: { data: { type: 'string' } } },
    },
    {
      if: { properties: { type: { const: 'document' } } },
      then: { required: ['source'], properties: { source: { type: 'object' } } },
    },
  ],
};

const message = {
  type: 'object',
  required: ['role', 'content'],
  properties: {
    role: { enum: ['user', 'assistant'] },
    content: {
      anyOf: [
        { type: 'string' },
        { type: 'array', maxItems: MESSAGES_LIMITS.blocksPerMessage, items: block },
      ],
    },
  },
};

const tool = {
  type: 'object',
  required: ['name'],
  properties: {
    type: { type: 'string', maxLength: 64 },
    name: { type: 'string', minLength: 1, maxLength: MESSAGES_LIMITS.nameLength },
    description: { type: 'string' },
    input_schema: { type: 'object' },
    cache_control: cacheControl,
  },
};

const toolChoice = {
  type: 'object',
  required: ['type'],
  properties: {
    type: { enum: ['auto', 'any', 'tool', 'none'] },
    name: { type: 'string', maxLength: MESSAGES_LIMITS.nameLength },
    disable_parallel_tool_use: { type: 'boolean' },
  },
  if: { properties: { type: { const: 'tool' } } },
  then: { required: ['name'] },
};

const thinking = {
  type: 'object',
  required: ['type'],
  properties: {
    type: { enum: ['enabled', 'disabled', 'adaptive'] },
    budget_tokens: { type: 'integer', minimum: 1024 },
  },
  if: { properties: { type: { const: 'enabled' } } },
  then: { required: ['budget_tokens'] },
};

const common = {
  model: { type: 'string', minLength: 1, maxLength: 256 },
  messages: { type: 'array', minItems: 1, maxItems: MESSAGES_LIMITS.messages, items: message },
  system: {
    anyOf: [{ type: 'string' }, { type: 'array', maxItems: MESSAGES_LIMITS.systemBlocks, items: textBlock }],
  },
  tools: { type: 'array', maxItems: MESSAGES_LIMITS.tools, items: tool },
  tool_choice: toolChoice,
  thinking,
};

export const messagesBody = {
  type: 'object',
  required: ['model', 'max_tokens', 'messages'],
  properties: {
    ...common,
    max_tokens: { type: 'integer', minimum: 1 },
    stop_sequences: {
      type: 'array',
      maxItems: MESSAGES_LIMITS.stopSequences,
      items: { type: 'string', maxLength: 1_000 },
    },
    temperature: { type: 'number', minimum: 0, maximum: 1 },
    top_p: { type: 'number', minimum: 0, maximum: 1 },
    top_k: { type: 'integer', minimum: 0 },
    metadata: { type: 'object', properties: { user_id: { type: ['string', 'null'], maxLength: 512 } } },
    stream: { type: 'boolean' },
  },
} as const;

export const countTokensBody = {
  type: 'object',
  required: ['model', 'messages'],
  properties: common,
} as const;
