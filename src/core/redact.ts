/**
 * Removes credentials from text relayed to clients. Providers echo keys back in error messages (OpenAI:
 * "Incorrect API key provided: sk-proj-…"), and a relayed message must never hand the gateway's key to
 * a caller. Two passes: the configured keys themselves, then anything shaped like a provider key.
 */

const REDACTED = '[redacted]';

/**
 * OpenAI/Anthropic/OpenRouter/DeepSeek (`sk-…`, `sk-ant-…`, `sk-proj-…`, `sk-or-v1-…`, masked forms with
 * `*`), Google (`AIza…`), xAI (`xai-…`), Groq (`gsk_…`), and bearer tokens.
 */
const KEY_SHAPES =
  /\b(?:sk-[A-Za-z0-9_*-]{6,}|AIza[0-9A-Za-z_*-]{10,}|xai-[A-Za-z0-9_*-]{10,}|gsk_[A-Za-z0-9_*]{10,})|\bBearer\s+[A-Za-z0-9._~+/*=-]{8,}/g;

export function redactSecrets(text: string, keys: readonly string[] = []): string {
  let out = text;
  for (const k of keys) {
    // Short values would redact ordinary words; real keys are long.
    if (k.length >= 8 && out.includes(k)) out = out.split(k).join(REDACTED);
  }
  return out.replace(KEY_SHAPES, REDACTED);
}
