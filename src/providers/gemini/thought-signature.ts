import type { ToolCall } from '../../types/openai.js';

/**
 * Gemini 3 attaches a `thoughtSignature` to the parts of its function calls and requires it back, on
 * the same part, when the conversation continues; without it the second turn of a tool loop fails. The
 * OpenAI shape has no field for it, so it travels two ways, and either one brings it back:
 *
 * - inside the tool call id: `call_<request id>_<n>_sig_<signature as base64url>`. Every client echoes
 *   tool call ids verbatim (the openai SDK, the AI SDK, LangChain), and base64url keeps the id within
 *   `[A-Za-z0-9_-]`, the alphabet Anthropic allows, so a conversation can still fail over there;
 * - in `tool_calls[].extra_content.google.thought_signature`, the field Google's own OpenAI-compatible
 *   endpoint uses, for clients that pass the assistant message back as they received it.
 */

const MARKER = '_sig_';

export function idWithSignature(base: string, signature: string | undefined): string {
  if (signature === undefined || signature === '') return base;
  const b64url = signature.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  return `${base}${MARKER}${b64url}`;
}

export function extraContent(signature: string | undefined): ToolCall['extra_content'] | undefined {
  return signature ? { google: { thought_signature: signature } } : undefined;
}

/** The signature a client sent back with a tool call, from either carrier. */
export function thoughtSignatureOf(tc: ToolCall): string | undefined {
  const explicit = tc.extra_content?.google?.thought_signature;
  if (typeof explicit === 'string' && explicit !== '') return explicit;
  const at = tc.id.indexOf(MARKER);
  if (at < 0) return undefined;
  const b64url = tc.id.slice(at + MARKER.length);
  if (!/^[A-Za-z0-9_-]+$/.test(b64url)) return undefined;
  const b64 = b64url.replace(/-/g, '+').replace(/_/g, '/');
  return b64 + '='.repeat((4 - (b64.length % 4)) % 4);
}
