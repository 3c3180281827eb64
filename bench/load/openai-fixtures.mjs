// Fixed OpenAI payloads shared by the fake upstream and the micro-benchmarks.

export const CREATED = 1_735_689_600;
export const REPLY =
  'Switchyard routes each request to the first healthy target for the model, retries transient ' +
  'failures on the next one, and streams tokens back as soon as the provider sends them.';
export const USAGE = { prompt_tokens: 42, completion_tokens: 31, total_tokens: 73 };
export const CONTENT_CHUNKS = 20;

/** A realistic non-streaming chat.completion. */
export function completion(model) {
  return {
    id: 'chatcmpl-bench0000000000000000000001',
    object: 'chat.completion',
    created: CREATED,
    model,
    system_fingerprint: 'fp_bench',
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content: REPLY, refusal: null },
        logprobs: null,
        finish_reason: 'stop',
      },
    ],
    usage: {
      ...USAGE,
      prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
      completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0 },
    },
  };
}

/** The chunk objects of a stream: a role chunk, 20 content deltas, a finish chunk and a usage chunk. */
export function streamChunks(model) {
  const base = {
    id: 'chatcmpl-bench0000000000000000000002',
    object: 'chat.completion.chunk',
    created: CREATED,
    model,
    system_fingerprint: 'fp_bench',
  };
  const words = REPLY.split(/(?<= )/);
  const pieces = [];
  for (let i = 0; i < CONTENT_CHUNKS; i++) {
    const from = Math.floor((i * words.length) / CONTENT_CHUNKS);
    const to = Math.floor(((i + 1) * words.length) / CONTENT_CHUNKS);
    pieces.push(words.slice(from, to).join(''));
  }
  return [
    {
      ...base,
      choices: [{ index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }],
    },
    ...pieces.map((content) => ({
      ...base,
      choices: [{ index: 0, delta: { content }, logprobs: null, finish_reason: null }],
    })),
    { ...base, choices: [{ index: 0, delta: {}, logprobs: null, finish_reason: 'stop' }] },
    { ...base, choices: [], usage: USAGE },
  ];
}

/** The SSE frames of a stream (one string per event), ending with `data: [DONE]`. */
export function streamFrames(model) {
  return [...streamChunks(model).map((c) => `data: ${JSON.stringify(c)}\n\n`), 'data: [DONE]\n\n'];
}
