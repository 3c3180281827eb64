import { randomHex } from '../core/ids.js';
import type { ResponseContext } from '../dialects/responses/from-canonical.js';
import { fromResponsesRequest, inputItems } from '../dialects/responses/to-canonical.js';
import { GatewayError } from '../errors/gateway-error.js';
import type { ChatCompletionRequest } from '../types/openai.js';
import type { ResponseObject, ResponsesInputItem, ResponsesRequest } from '../types/responses.js';
import type { ResponseStore } from './response-store.js';

/**
 * The stored-conversation side of the Responses API: earlier turns come from the store through
 * `previous_response_id` and `item_reference`, and a finished response is stored when `store` is not
 * false (OpenAI's default is to store). Everything is scoped by the caller's team.
 */

/** Longest previous_response_id chain followed; deeper histories are a client bug or a loop. */
export const MAX_CHAIN = 1_000;
/** Stored JSON loaded for one request's history at most: every turn is bounded, so is their sum. */
export const MAX_CONVERSATION_BYTES = 64 * 1024 * 1024;

export interface PreparedResponse {
  ctx: ResponseContext;
  /** This request's own input items, with ids, as stored and listed by input_items. */
  input: ResponsesInputItem[];
  canonical: ChatCompletionRequest;
}

export async function prepareResponse(
  body: ResponsesRequest,
  store: ResponseStore,
  team: string,
): Promise<PreparedResponse> {
  const history = await conversation(body.previous_response_id ?? undefined, store, team);
  const input = withIds(inputItems(body.input));
  const refs = new Map<string, ResponsesInputItem>();
  for (const it of input) {
    if (it.type === 'item_reference' && !refs.has(it.id)) {
      const found = await store.item(team, it.id);
      if (found) refs.set(it.id, found);
    }
  }
  const canonical = fromResponsesRequest(body, history, (id) => refs.get(id));
  const ctx: ResponseContext = {
    id: `resp_${randomHex(32)}`,
    createdAt: Math.floor(Date.now() / 1000),
    model: body.model,
    req: body,
    store: body.store !== false,
  };
  return { ctx, input, canonical };
}

/** The items of every earlier turn: each stored response's input, then its output, oldest first. */
async function conversation(
  id: string | undefined,
  store: ResponseStore,
  team: string,
): Promise<ResponsesInputItem[]> {
  if (id === undefined) return [];
  const recs = await store.chain(team, id, { maxDepth: MAX_CHAIN, maxBytes: MAX_CONVERSATION_BYTES });
  let bytes = 0;
  for (const rec of recs) bytes += rec.bytes ?? 0;
  if (bytes > MAX_CONVERSATION_BYTES) {
    throw new GatewayError(
      'conversation_too_long',
      `previous_response_id chain holds more than ${MAX_CONVERSATION_BYTES} bytes of stored responses`,
      { param: 'previous_response_id' },
    );
  }
  const missing = recs.length === 0 ? id : recs.at(-1)!.response.previous_response_id;
  if (missing) {
    if (recs.length >= MAX_CHAIN) {
      throw new GatewayError(
        'conversation_too_long',
        `previous_response_id chain is longer than ${MAX_CHAIN}`,
        {
          param: 'previous_response_id',
        },
      );
    }
    throw new GatewayError(
      'previous_response_not_found',
      `Previous response with id '${missing}' not found.`,
      {
        param: 'previous_response_id',
      },
    );
  }
  return recs.reverse().flatMap((rec) => [...rec.input, ...(rec.response.output as ResponsesInputItem[])]);
}

/** OpenAI gives every stored input item an id; items that came without one get one here. */
function withIds(items: ResponsesInputItem[]): ResponsesInputItem[] {
  return items.map((it) => {
    if (it.type === 'item_reference' || ('id' in it && it.id)) return it;
    const prefix = it.type === 'function_call_output' ? 'fco' : it.type === 'function_call' ? 'fc' : 'msg';
    return { ...it, id: `${prefix}_${randomHex(32)}` } as ResponsesInputItem;
  });
}

/**
 * Stores a finished response when the request asked for it, resolving when the store says the next
 * turn can find it (see ResponseStore.put); a failed or refused write is reported, never thrown.
 */
export async function saveResponse(
  store: ResponseStore,
  team: string,
  p: PreparedResponse,
  response: ResponseObject,
  onError: (err: unknown) => void,
): Promise<void> {
  if (!p.ctx.store) return;
  try {
    await store.put({ id: response.id, team, createdAt: Date.now(), response, input: p.input });
  } catch (err) {
    onError(err);
  }
}

export function deletedResponse(id: string) {
  return { id, object: 'response', deleted: true };
}

export function inputItemsList(items: ResponsesInputItem[], order: 'asc' | 'desc', limit: number) {
  const sorted = order === 'desc' ? [...items].reverse() : items;
  const data = sorted.slice(0, limit);
  const id = (it: ResponsesInputItem | undefined) => (it && 'id' in it ? (it.id ?? null) : null);
  return {
    object: 'list',
    data,
    first_id: id(data[0]),
    last_id: id(data.at(-1)),
    has_more: sorted.length > data.length,
  };
}
