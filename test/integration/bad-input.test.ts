import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

/** Every bad input gets an exact 4xx in OpenAI's error shape: never a 500, a hang or a crash. */

let gw: TestGateway;
beforeAll(async () => {
  gw = await startGateway(`
server: { body_limit: 64kb }
providers: { mock: { type: mock } }
models: { mock: { targets: [ { provider: mock, model: mock } ] } }
`);
});
afterAll(() => gw.close());

async function post(path: string, body: string | Buffer, headers: Record<string, string> = {}) {
  const res = await request(`${gw.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body,
  });
  return { status: res.statusCode, headers: res.headers, json: (await res.body.json()) as unknown };
}

const err = (message: string, code: string, param: string | null = null, type = 'invalid_request_error') => ({
  error: { message, type, code, param },
});

describe('bad input', () => {
  it('malformed JSON', async () => {
    const r = await post('/v1/chat/completions', '{"model": mock}');
    expect(r.status).toBe(400);
    expect(r.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(r.json).toEqual(
      err(
        `Request body is not valid JSON: Unexpected token 'm', "{"model": mock}" is not valid JSON`,
        'invalid_json',
      ),
    );
  });

  it('an empty body', async () => {
    const r = await post('/v1/chat/completions', '');
    expect([r.status, r.json]).toEqual([
      400,
      err('Request body is empty; expected a JSON object.', 'invalid_json'),
    ]);
  });

  it('a JSON body that is not an object', async () => {
    const r = await post('/v1/chat/completions', '[1,2]');
    expect([r.status, r.json]).toEqual([
      400,
      err('Invalid request body: request body must be object.', 'invalid_request'),
    ]);
  });

  it('a missing messages field', async () => {
    const r = await post('/v1/chat/completions', JSON.stringify({ model: 'mock' }));
    expect([r.status, r.json]).toEqual([
      400,
      err("Invalid request body: 'messages' is required.", 'invalid_request', 'messages'),
    ]);
  });

  it('empty messages', async () => {
    const r = await post('/v1/chat/completions', JSON.stringify({ model: 'mock', messages: [] }));
    expect([r.status, r.json]).toEqual([
      400,
      err(
        "Invalid request body: 'messages' must NOT have fewer than 1 items.",
        'invalid_request',
        'messages',
      ),
    ]);
  });

  it('wrong types are not coerced', async () => {
    const base = { model: 'mock', messages: [{ role: 'user', content: 'hi' }] };
    const cases: Array<[Record<string, unknown>, string, string]> = [
      [{ ...base, model: 42 }, 'model', "'model' must be string"],
      [{ ...base, temperature: '0.5' }, 'temperature', "'temperature' must be number,null"],
      [{ ...base, temperature: 3 }, 'temperature', "'temperature' must be <= 2"],
      [{ ...base, max_tokens: 1.5 }, 'max_tokens', "'max_tokens' must be integer,null"],
      [{ ...base, stream: 'yes' }, 'stream', "'stream' must be boolean,null"],
      [{ ...base, messages: 'hi' }, 'messages', "'messages' must be array"],
      [
        { ...base, messages: [{ role: 'robot', content: 'x' }] },
        'messages[0].role',
        "'messages[0].role' must be one of: system, developer, user, assistant, tool",
      ],
      [
        { ...base, messages: [{ role: 'user', content: 5 }] },
        'messages[0].content',
        "'messages[0].content' must be a string, an array of content parts, or null",
      ],
      [
        { ...base, messages: [{ role: 'user', content: [{ type: 'text' }] }] },
        'messages[0].content[0].text',
        "'messages[0].content[0].text' is required",
      ],
      [{ ...base, stop: 7 }, 'stop', "'stop' must be a string or an array of strings"],
      [
        { ...base, tool_choice: 'always' },
        'tool_choice',
        "'tool_choice' must be 'none', 'auto', 'required' or {type: 'function', function: {name}}",
      ],
      [
        { ...base, tools: [{ type: 'function', function: {} }] },
        'tools[0].function.name',
        "'tools[0].function.name' is required",
      ],
    ];
    for (const [body, param, what] of cases) {
      const r = await post('/v1/chat/completions', JSON.stringify(body));
      expect([r.status, r.json], param).toEqual([
        400,
        err(`Invalid request body: ${what}.`, 'invalid_request', param),
      ]);
    }
  });

  it('an unknown model', async () => {
    const r = await post(
      '/v1/chat/completions',
      JSON.stringify({ model: 'gpt-9', messages: [{ role: 'user', content: 'hi' }] }),
    );
    expect([r.status, r.json]).toEqual([
      404,
      err(
        "The model 'gpt-9' does not exist. Use a model from GET /v1/models, or 'provider/model' with a configured provider.",
        'model_not_found',
        'model',
        'not_found_error',
      ),
    ]);
    const direct = await post(
      '/v1/chat/completions',
      JSON.stringify({ model: 'nope/x', messages: [{ role: 'user', content: 'hi' }] }),
    );
    expect(direct.status).toBe(404);
  });

  it('a body over the limit gets 413', async () => {
    const huge = JSON.stringify({
      model: 'mock',
      messages: [{ role: 'user', content: 'x'.repeat(70 * 1024) }],
    });
    const r = await post('/v1/chat/completions', huge);
    expect([r.status, r.json]).toEqual([
      413,
      err('Request body is larger than the configured limit.', 'request_too_large'),
    ]);
  });

  it('invalid UTF-8', async () => {
    const bytes = Buffer.concat([
      Buffer.from('{"model":"mock","messages":[{"role":"user","content":"'),
      Buffer.from([0xc3, 0x28]),
      Buffer.from('"}]}'),
    ]);
    const r = await post('/v1/chat/completions', bytes);
    expect([r.status, r.json]).toEqual([400, err('Request body is not valid UTF-8.', 'invalid_encoding')]);
  });

  it('a content type other than JSON', async () => {
    const r = await post('/v1/chat/completions', 'model=mock', {
      'content-type': 'application/x-www-form-urlencoded',
    });
    expect([r.status, r.json]).toEqual([
      415,
      err('Content-Type must be application/json.', 'unsupported_media_type'),
    ]);
  });

  it('an unknown route', async () => {
    const res = await request(`${gw.url}/v1/nope?x=1`);
    expect(res.statusCode).toBe(404);
    expect(await res.body.json()).toEqual(
      err('Unknown route: GET /v1/nope', 'route_not_found', null, 'not_found_error'),
    );
  });

  it('embeddings with a bad input type', async () => {
    const r = await post('/v1/embeddings', JSON.stringify({ model: 'mock', input: { text: 'x' } }));
    expect([r.status, r.json]).toEqual([
      400,
      err(
        "Invalid request body: 'input' must be a string, an array of strings, or an array of token arrays.",
        'invalid_request',
        'input',
      ),
    ]);
  });

  it('still serves a good request after all of that', async () => {
    const r = await post(
      '/v1/chat/completions',
      JSON.stringify({ model: 'mock', messages: [{ role: 'user', content: 'hi' }] }),
    );
    expect(r.status).toBe(200);
  });

  // Bodies that could poison a prototype, or need secure-json-parse's handling, still take its path:
  // the plain JSON.parse shortcut is only for bodies with none of __proto__, constructor or \u.
  it('bodies with __proto__ or constructor keys, \\u escapes or a byte-order mark are still accepted', async () => {
    const msg = (content: string) => `"messages":[{"role":"user","content":"${content}"}]`;
    const proto = await post('/v1/chat/completions', `{"model":"mock",${msg('hi')},"__proto__":{"x":1}}`);
    expect(proto.status).toBe(200);
    const ctor = await post(
      '/v1/chat/completions',
      `{"model":"mock",${msg('hi')},"constructor":{"prototype":{"polluted":true}}}`,
    );
    expect(ctor.status).toBe(200);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    const escaped = await post('/v1/chat/completions', `{"model":"mock",${msg('\\u0041BC')}}`);
    expect(escaped.status).toBe(200);
    const bom = await post('/v1/chat/completions', `\ufeff{"model":"mock",${msg('hi')}}`);
    expect(bom.status).toBe(200);
  });
});
