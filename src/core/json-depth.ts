/**
 * How deeply a JSON text nests, found with one pass over its bytes before it is parsed. JSON.parse
 * itself copes with deep nesting, but everything after it that walks the value recursively (schema
 * validation, JSON.stringify of the upstream request, schema translation for Gemini) overflows the
 * stack: 10,000 levels in an unknown field, in `tools[].function.parameters` or in
 * `response_format.json_schema` gave a 500. Real requests nest a few dozen levels at most.
 */

export const MAX_JSON_DEPTH = 128;

/** The first position where nesting exceeds `max`, or -1. Brackets inside strings do not count. */
export function depthExceededAt(buf: Uint8Array, max: number = MAX_JSON_DEPTH): number {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < buf.length; i++) {
    const c = buf[i]!;
    if (inString) {
      if (c === 0x5c /* \ */) i++;
      else if (c === 0x22 /* " */) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      if (++depth > max) return i;
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      depth--;
    }
  }
  return -1;
}
