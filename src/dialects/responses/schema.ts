/**
 * JSON Schema for POST /v1/responses (and the WebSocket `response.create` event), following the
 * `openai` SDK's ResponseCreateParams for the fields the gateway translates. Counts are bounded; depth
 * is checked separately (core/json-depth.ts).
 */

export const RESPONSES_LIMITS = {
  inputItems: 10_000,
  contentParts: 2_000,
  tools: 512,
  metadataKeys: 16,
  nameLength: 256,
  idLength: 256,
} as const;

const contentPart = {
  type: 'object',
  required: ['type'],
  properties: { type: { type: 'string', maxLength: 64 } },
  allOf: [
    {
      if: { properties: { type: { enum: ['input_text', 'output_text'] } } },
      then: { required: ['text'], properties: { text: { type: 'string' } } },
    },
  ],
};

const content = {
  anyOf: [{ type: 'string' }, { type: 'array', maxItems: RESPONSES_LIMITS.contentParts, items: contentPart }],
};

const id = { type: 'string', minLength: 1, maxLength: RESPONSES_LIMITS.idLength };

const item = {
  type: 'object',
  properties: { type: { type: 'string', maxLength: 64 } },
  allOf: [
    {
      if: { not: { required: ['type'] } },
      then: { required: ['role', 'content'] },
    },
    {
      if: { required: ['type'], properties: { type: { const: 'message' } } },
      then: {
        required: ['role', 'content'],
        properties: { role: { enum: ['user', 'assistant', 'system', 'developer'] }, content },
      },
    },
    {
      if: { not: { required: ['type'] } },
      then: { properties: { role: { enum: ['user', 'assistant', 'system', 'developer'] }, content } },
    },
    {
      if: { required: ['type'], properties: { type: { const: 'function_call' } } },
      then: {
        required: ['call_id', 'name', 'arguments'],
        properties: {
          call_id: id,
          name: { type: 'string', maxLength: RESPONSES_LIMITS.nameLength },
          arguments: { type: 'string' },
        },
      },
    },
    {
      if: { required: ['type'], properties: { type: { const: 'function_call_output' } } },
      then: { required: ['call_id', 'output'], properties: { call_id: id, output: content } },
    },
    {
      if: { required: ['type'], properties: { type: { const: 'reasoning' } } },
      then: {
        required: ['id', 'summary'],
        properties: {
          id,
          summary: { type: 'array', maxItems: RESPONSES_LIMITS.contentParts },
          encrypted_content: { type: ['string', 'null'] },
        },
      },
    },
    {
      if: { required: ['type'], properties: { type: { const: 'item_reference' } } },
      then: { required: ['id'], properties: { id } },
    },
    {
      if: { required: ['type'] },
      then: {
        properties: {
          type: { enum: ['message', 'function_call', 'function_call_output', 'reasoning', 'item_reference'] },
        },
      },
    },
  ],
};

const tool = {
  type: 'object',
  required: ['type'],
  properties: { type: { const: 'function' } },
  if: { properties: { type: { const: 'function' } } },
  then: {
    required: ['name'],
    properties: {
      name: { type: 'string', minLength: 1, maxLength: RESPONSES_LIMITS.nameLength },
      description: { type: ['string', 'null'] },
      parameters: { type: ['object', 'null'] },
      strict: { type: ['boolean', 'null'] },
    },
  },
};

const toolChoice = {
  anyOf: [
    { enum: ['none', 'auto', 'required'] },
    {
      type: 'object',
      required: ['type', 'name'],
      properties: {
        type: { const: 'function' },
        name: { type: 'string', maxLength: RESPONSES_LIMITS.nameLength },
      },
    },
    {
      type: 'object',
      required: ['type', 'mode', 'tools'],
      properties: {
        type: { const: 'allowed_tools' },
        mode: { enum: ['auto', 'required'] },
        tools: { type: 'array' },
      },
    },
  ],
};

const format = {
  type: 'object',
  required: ['type'],
  properties: { type: { enum: ['text', 'json_object', 'json_schema'] } },
  if: { properties: { type: { const: 'json_schema' } } },
  then: {
    required: ['name', 'schema'],
    properties: { name: { type: 'string', minLength: 1, maxLength: 64 }, schema: { type: 'object' } },
  },
};

export const responsesProperties = {
  model: { type: 'string', minLength: 1, maxLength: 256 },
  input: {
    anyOf: [{ type: 'string' }, { type: 'array', maxItems: RESPONSES_LIMITS.inputItems, items: item }],
  },
  instructions: { type: ['string', 'null'] },
  tools: { type: 'array', maxItems: RESPONSES_LIMITS.tools, items: tool },
  tool_choice: toolChoice,
  parallel_tool_calls: { type: ['boolean', 'null'] },
  text: { type: ['object', 'null'], properties: { format } },
  reasoning: {
    type: ['object', 'null'],
    properties: {
      effort: { enum: ['none', 'minimal', 'low', 'medium', 'high', 'xhigh', null] },
      summary: { type: ['string', 'null'] },
    },
  },
  max_output_tokens: { type: ['integer', 'null'], minimum: 1 },
  temperature: { type: ['number', 'null'], minimum: 0, maximum: 2 },
  top_p: { type: ['number', 'null'], minimum: 0, maximum: 1 },
  metadata: {
    type: ['object', 'null'],
    maxProperties: RESPONSES_LIMITS.metadataKeys,
    propertyNames: { maxLength: 64 },
    additionalProperties: { type: 'string', maxLength: 512 },
  },
  store: { type: ['boolean', 'null'] },
  previous_response_id: { anyOf: [id, { type: 'null' }] },
  stream: { type: ['boolean', 'null'] },
  user: { type: 'string', maxLength: 512 },
  safety_identifier: { type: 'string', maxLength: 512 },
} as const;

export const responsesBody = {
  type: 'object',
  required: ['model'],
  properties: responsesProperties,
} as const;
