import type { GeminiSchema } from '../../types/gemini.js';

/**
 * Gemini's Schema is a documented subset of OpenAPI 3.0 and answers any other key with 400 "Invalid JSON
 * payload received. Unknown name ...". So keep only the documented keys: type, format, title,
 * description, nullable, enum, items, minItems, maxItems, properties, required, minProperties,
 * maxProperties, minLength, maxLength, pattern, minimum, maximum, anyOf, propertyOrdering, default,
 * example. Dropped, among others: $schema, $id, $ref, $defs, additionalProperties (OpenAI strict mode
 * sets it everywhere), const (rewritten to a one-value enum), examples, oneOf, allOf, not.
 */
const SCHEMA_KEYS: ReadonlySet<string> = new Set([
  'type',
  'format',
  'title',
  'description',
  'nullable',
  'enum',
  'items',
  'minItems',
  'maxItems',
  'properties',
  'required',
  'minProperties',
  'maxProperties',
  'minLength',
  'maxLength',
  'pattern',
  'minimum',
  'maximum',
  'anyOf',
  'propertyOrdering',
  'default',
  'example',
]);

export function toGeminiSchema(schema: Record<string, unknown>): GeminiSchema {
  const out: GeminiSchema = {};
  for (const [key, value] of Object.entries(schema)) {
    if (key === 'const' && typeof value === 'string' && schema.enum === undefined) {
      out.enum = [value];
      continue;
    }
    if (!SCHEMA_KEYS.has(key)) continue;
    if (key === 'properties' && isPlainObject(value)) {
      const props: Record<string, unknown> = {};
      for (const [name, sub] of Object.entries(value))
        props[name] = isPlainObject(sub) ? toGeminiSchema(sub) : sub;
      out.properties = props;
    } else if (key === 'items' && isPlainObject(value)) {
      out.items = toGeminiSchema(value);
    } else if (key === 'anyOf' && Array.isArray(value)) {
      out.anyOf = value.map((s: unknown) => (isPlainObject(s) ? toGeminiSchema(s) : s));
    } else if (key === 'type' && Array.isArray(value)) {
      // JSON Schema's ["string", "null"]; Gemini's type is a single value plus `nullable`.
      const types = value.filter((t: unknown) => t !== 'null');
      if (types.length !== value.length) out.nullable = true;
      if (types.length > 0) out.type = types[0];
    } else {
      out[key] = value;
    }
  }
  return out;
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
