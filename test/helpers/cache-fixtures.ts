import type { CacheEntry } from '../../src/backends/cache/types.js';

/** A completion entry with a tool call, fresh for a minute and stale-servable for two. */
export function entry(
  key: string,
  over: { namespace?: string; team?: string; model?: string; content?: string } = {},
): CacheEntry {
  const now = Date.now();
  return {
    key,
    namespace: over.namespace ?? 'ns',
    team: over.team ?? 'team',
    model: over.model ?? 'm',
    createdAt: now,
    expiresAt: now + 60_000,
    staleUntil: now + 120_000,
    body: {
      kind: 'completion',
      completion: {
        id: 'chatcmpl-1',
        object: 'chat.completion',
        created: 1,
        model: 'm',
        choices: [
          {
            index: 0,
            message: {
              role: 'assistant',
              content: over.content ?? 'hi',
              tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'f', arguments: '{"a":1}' } }],
            },
            finish_reason: 'tool_calls',
          },
        ],
        usage: { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 },
      },
    },
  };
}
