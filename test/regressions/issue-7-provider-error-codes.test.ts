import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeUpstream, sendJson, startFakeUpstream } from '../helpers/fake-upstream.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

/**
 * Issue 7: the same client mistake got a different code from the Anthropic and the Gemini adapter in six
 * cases. Both now share src/providers/common/messages.ts; each mistake is sent to both over HTTP and must
 * give the same status, code and param, without reaching either upstream.
 */

let upstream: FakeUpstream;
let gw: TestGateway;

beforeAll(async () => {
  upstream = await startFakeUpstream((_req, res) => sendJson(res, 500, { error: 'must not be called' }));
  gw = await startGateway(`
server: { load_shedding: { enabled: false } }
providers:
  claude: { type: anthropic, base_url: ${upstream.url}, api_key: k-1234567890 }
  gem: { type: gemini, base_url: ${upstream.url}, api_key: k-1234567890 }
models:
  claude: { targets: [ { provider: claude, model: claude-x } ] }
  gem: { targets: [ { provider: gem, model: gemini-2.5-flash } ] }
`);
});

afterAll(async () => {
  await gw?.close();
  await upstream?.close();
});

const call = { id: 'call_1', type: 'function', function: { name: 'f', arguments: '{}' } };

const CASES: Array<[string, unknown[], string, string]> = [
  // The schema's role enum catches an unknown role first for every provider, which is the point.
  ['unknown role', [{ role: 'wizard', content: 'hi' }], 'invalid_request', 'messages[0].role'],
  [
    'non-text system part',
    [
      { role: 'system', content: [{ type: 'image_url', image_url: { url: 'https://x/a.png' } }] },
      { role: 'user', content: 'hi' },
    ],
    'unsupported_content',
    'messages[0].content[0]',
  ],
  [
    'unsupported part type',
    [{ role: 'user', content: [{ type: 'input_audio', input_audio: { data: 'AAAA', format: 'wav' } }] }],
    'unsupported_content',
    'messages[0].content[0].type',
  ],
  [
    'bad image URL',
    [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'ftp://x/a.png' } }] }],
    'invalid_image_url',
    'messages[0].content[0].image_url.url',
  ],
  [
    'bad tool-call arguments',
    [
      { role: 'user', content: 'hi' },
      {
        role: 'assistant',
        content: null,
        tool_calls: [{ ...call, function: { name: 'f', arguments: '[1]' } }],
      },
    ],
    'invalid_tool_call_arguments',
    'messages[1].tool_calls[0].function.arguments',
  ],
  [
    'unmatched tool_call_id',
    [
      { role: 'user', content: 'hi' },
      { role: 'assistant', content: null, tool_calls: [call] },
      { role: 'tool', tool_call_id: 'call_other', content: 'x' },
    ],
    'unknown_tool_call_id',
    'messages[2].tool_call_id',
  ],
];

describe('issue 7: the same client mistake gets the same code whatever the provider', () => {
  it.each(CASES)('%s', async (_name, messages, code, param) => {
    const seen = [];
    for (const model of ['claude', 'gem']) {
      const res = await fetch(`${gw.baseURL}/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model, messages }),
      });
      const body = (await res.json()) as { error: { code: string; param: string; type: string } };
      seen.push([model, res.status, body.error.code, body.error.param, body.error.type]);
    }
    expect(seen).toEqual([
      ['claude', 400, code, param, 'invalid_request_error'],
      ['gem', 400, code, param, 'invalid_request_error'],
    ]);
    expect(upstream.requests.length).toBe(0);
  });

  it('OpenAI SDK users see a BadRequestError for each', async () => {
    const client = new OpenAI({ baseURL: gw.baseURL, apiKey: 'unused', maxRetries: 0 });
    await expect(
      client.chat.completions.create({
        model: 'gem',
        messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'ftp://x' } }] }],
      }),
    ).rejects.toBeInstanceOf(OpenAI.BadRequestError);
  });
});
