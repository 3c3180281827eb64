/**
 * The JSON text an object was parsed from, when the object is passed on untouched: an OpenAI-compatible
 * upstream's chat completion goes to the client (and into the cache) as the provider sent it, so the
 * text it arrived as is written again instead of serializing the parsed object once per use. Weak, so
 * the text lives exactly as long as the object.
 *
 * Whoever records the text promises that nobody changes the object afterwards; the answer path treats
 * upstream answers as read-only (deliver copies a chunk or answer rather than editing it).
 */
const texts = new WeakMap<object, string>();

export function withRawJson<T extends object>(value: T, text: string): T {
  texts.set(value, text);
  return value;
}

export function rawJsonOf(value: object): string | undefined {
  return texts.get(value);
}
