import { describe, expect, it } from 'vitest';
import { isGatewayError } from '../../src/errors/gateway-error.js';
import { MemoryResponseStore, type StoredResponse } from '../../src/services/response-store.js';
import { MAX_CHAIN, prepareResponse } from '../../src/services/responses-service.js';
import type { ResponseObject } from '../../src/types/responses.js';

/** How prepareResponse follows previous_response_id: the whole history, bounded, or a named error. */

function turn(i: number): StoredResponse {
  const id = `resp_${i}`;
  return {
    id,
    team: 't',
    createdAt: Date.now(),
    input: [{ type: 'message', id: `msg_in_${i}`, role: 'user', content: `q${i}` }],
    response: {
      id,
      previous_response_id: i > 0 ? `resp_${i - 1}` : null,
      output: [
        {
          type: 'message',
          id: `msg_out_${i}`,
          status: 'completed',
          role: 'assistant',
          content: [{ type: 'output_text', text: `a${i}`, annotations: [] }],
        },
      ],
    } as unknown as ResponseObject,
  };
}

async function storeOf(n: number): Promise<MemoryResponseStore> {
  const store = new MemoryResponseStore({ maxEntries: 2 * n, retentionMs: 60_000, maxBytes: 1 << 20 });
  for (let i = 0; i < n; i++) await store.put(turn(i));
  return store;
}

async function errorOf(p: Promise<unknown>) {
  try {
    await p;
  } catch (err) {
    if (isGatewayError(err)) return { code: err.code, message: err.message, param: err.param };
    throw err;
  }
  throw new Error('expected a GatewayError');
}

describe('previous_response_id chains', () => {
  it(`follows ${MAX_CHAIN} turns, oldest first; one more is conversation_too_long`, async () => {
    const store = await storeOf(MAX_CHAIN + 1);
    const ok = await prepareResponse(
      { model: 'm', input: 'next', previous_response_id: `resp_${MAX_CHAIN - 1}` },
      store,
      't',
    );
    expect(ok.canonical.messages.slice(0, 2)).toEqual([
      { role: 'user', content: 'q0' },
      { role: 'assistant', content: 'a0' },
    ]);
    expect(ok.canonical.messages).toHaveLength(2 * MAX_CHAIN + 1);
    expect(
      await errorOf(
        prepareResponse({ model: 'm', input: 'next', previous_response_id: `resp_${MAX_CHAIN}` }, store, 't'),
      ),
    ).toEqual({
      code: 'conversation_too_long',
      message: `previous_response_id chain is longer than ${MAX_CHAIN}`,
      param: 'previous_response_id',
    });
  });

  it('a missing link is previous_response_not_found naming that link; another team finds none', async () => {
    const store = await storeOf(4);
    await store.delete('t', 'resp_1');
    expect(
      await errorOf(prepareResponse({ model: 'm', input: 'x', previous_response_id: 'resp_3' }, store, 't')),
    ).toEqual({
      code: 'previous_response_not_found',
      message: "Previous response with id 'resp_1' not found.",
      param: 'previous_response_id',
    });
    expect(
      await errorOf(prepareResponse({ model: 'm', input: 'x', previous_response_id: 'resp_3' }, store, 'u')),
    ).toEqual({
      code: 'previous_response_not_found',
      message: "Previous response with id 'resp_3' not found.",
      param: 'previous_response_id',
    });
  });
});
