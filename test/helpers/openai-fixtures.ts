import { APIError } from 'openai';

/** One `chat.completion.chunk` SSE payload with a single choice. */
export function chunkJson(delta: Record<string, unknown>, finish: string | null = null): string {
  return JSON.stringify({
    id: 'c',
    object: 'chat.completion.chunk',
    created: 1,
    model: 'm',
    choices: [{ index: 0, delta, finish_reason: finish }],
  });
}

/** The APIError a call must fail with; fails the test if it succeeds or fails otherwise. */
export async function apiError(call: Promise<unknown>): Promise<APIError> {
  try {
    await call;
  } catch (err) {
    if (err instanceof APIError) return err;
    throw err;
  }
  throw new Error('expected an APIError');
}
