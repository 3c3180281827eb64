import OpenAI from 'openai';
import { ResponsesWS } from 'openai/resources/responses/ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { fakeOpenAIChat } from '../helpers/fake-dialect-upstreams.js';
import { type FakeUpstream, startFakeUpstream } from '../helpers/fake-upstream.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

/**
 * Responses API WebSocket mode, with the `openai` SDK's own ResponsesWS client (the transport OpenAI
 * documents: `response.create` events up, the streaming events down as JSON messages on ws://…/v1/responses).
 */

let oai: FakeUpstream;
let gw: TestGateway;

beforeAll(async () => {
  oai = await startFakeUpstream(fakeOpenAIChat);
  gw = await startGateway(`
server: { load_shedding: { enabled: false } }
providers:
  oai: { type: openai, base_url: ${oai.url}/v1, api_key: k1 }
models:
  gpt: { targets: [ { provider: oai, model: gpt-4o-mini } ] }
`);
});

afterAll(async () => {
  await gw?.close();
  await oai?.close();
});

/** Collects events until `response.completed` (or an error), with a deadline. */
function nextCompleted(ws: ResponsesWS, types: string[]): Promise<OpenAI.Responses.Response> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no response.completed within 10s')), 10_000);
    const onEvent = (ev: OpenAI.Responses.ResponsesServerEvent) => {
      types.push(ev.type);
      if (ev.type === 'response.completed') {
        clearTimeout(timer);
        ws.off('event', onEvent);
        resolve(ev.response);
      }
    };
    ws.on('event', onEvent);
    ws.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

describe('WebSocket mode', () => {
  it('serves two turns on one connection, the second continuing the first', async () => {
    const client = new OpenAI({ baseURL: gw.baseURL, apiKey: 'client', maxRetries: 0 });
    const ws = new ResponsesWS(client);
    try {
      const types1: string[] = [];
      const done1 = nextCompleted(ws, types1);
      ws.send({ type: 'response.create', model: 'gpt', input: 'first' });
      const r1 = await done1;
      expect(types1).toEqual([
        'response.created',
        'response.in_progress',
        'response.output_item.added',
        'response.content_part.added',
        'response.output_text.delta',
        'response.output_text.delta',
        'response.output_text.done',
        'response.content_part.done',
        'response.output_item.done',
        'response.completed',
      ]);
      expect(r1.output[0]).toMatchObject({
        type: 'message',
        content: [{ type: 'output_text', text: 'Echo: first' }],
      });

      const types2: string[] = [];
      const done2 = nextCompleted(ws, types2);
      ws.send({ type: 'response.create', model: 'gpt', input: 'second', previous_response_id: r1.id });
      const r2 = await done2;
      expect(r2.previous_response_id).toBe(r1.id);
      expect(oai.requests.at(-1)!.json).toMatchObject({
        messages: [
          { role: 'user', content: 'first' },
          { role: 'assistant', content: 'Echo: first' },
          { role: 'user', content: 'second' },
        ],
      });
    } finally {
      ws.close();
    }
  });

  it('answers a bad event with an error message and keeps the connection', async () => {
    const url = `${gw.url.replace('http', 'ws')}/v1/responses`;
    const sock = new WebSocket(url);
    await new Promise((resolve, reject) => {
      sock.once('open', resolve);
      sock.once('error', reject);
    });
    const messages: unknown[] = [];
    const got = (n: number) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`only ${messages.length} messages`)), 10_000);
        const check = () => {
          if (messages.length >= n) {
            clearTimeout(timer);
            resolve();
          }
        };
        sock.on('message', (d) => {
          messages.push(JSON.parse(String(d)));
          check();
        });
      });
    const first = got(1);
    sock.send(JSON.stringify({ type: 'session.update' }));
    await first;
    expect(messages[0]).toEqual({
      type: 'error',
      sequence_number: 0,
      status: 400,
      error: {
        type: 'invalid_request_error',
        code: 'invalid_event',
        message: "expected an event of type 'response.create'",
        param: 'type',
      },
    });
    const more = got(2);
    sock.send(JSON.stringify({ type: 'response.create', model: 'nope', input: 'x' }));
    await more;
    expect(messages[1]).toMatchObject({ type: 'error', status: 404, error: { code: 'model_not_found' } });
    sock.close();
  });
});
