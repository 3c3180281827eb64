import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createKey } from '../helpers/admin.js';
import { fakeOpenAIChat } from '../helpers/fake-dialect-upstreams.js';
import { type FakeUpstream, startFakeUpstream } from '../helpers/fake-upstream.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { apiError } from '../helpers/openai-fixtures.js';
import { until } from '../helpers/poll.js';
import { dropSchema, freshSchemaName, PG_URL } from '../helpers/postgres.js';
import { services } from '../helpers/services.js';

/**
 * Stored Responses API conversations in the database, over real HTTP with the official `openai` SDK:
 * a chain survives a restart on SQLite, two instances sharing PostgreSQL continue each other's chains,
 * another team finds nothing, and a response past its retention is gone.
 */

const ADMIN = 'adm-test-key-0123456789';

let oai: FakeUpstream;
const dir = mkdtempSync(join(tmpdir(), 'sy-responses-'));

function yaml(extra = ''): string {
  return `
admin: { key: ${ADMIN} }
auth: { mode: keys }
server: { load_shedding: { enabled: false } }
providers:
  oai: { type: openai, base_url: ${oai.url}/v1, api_key: k1 }
models:
  gpt: { targets: [ { provider: oai, model: gpt-4o-mini } ] }
${extra}`;
}

function client(gw: TestGateway, apiKey: string): OpenAI {
  return new OpenAI({ baseURL: gw.baseURL, apiKey, maxRetries: 0 });
}

/** What the upstream was sent for the last turn: the whole conversation, oldest first. */
const THREE_TURNS = [
  { role: 'user', content: 'one' },
  { role: 'assistant', content: 'Echo: one' },
  { role: 'user', content: 'two' },
  { role: 'assistant', content: 'Echo: two' },
  { role: 'user', content: 'three' },
];

/** Everything another team tries on a stored response: not found, never continued. */
async function expectInvisible(other: OpenAI, id: string): Promise<void> {
  const calls = [
    () => other.responses.retrieve(id),
    () => other.responses.inputItems.list(id),
    () => other.responses.delete(id),
  ];
  for (const call of calls) {
    const err = await apiError(call());
    expect([err.status, err.error]).toEqual([
      404,
      {
        message: `Response with id '${id}' not found.`,
        type: 'not_found_error',
        code: 'response_not_found',
        param: 'id',
      },
    ]);
  }
  const cont = await apiError(other.responses.create({ model: 'gpt', input: 'x', previous_response_id: id }));
  expect([cont.status, cont.error]).toEqual([
    400,
    {
      message: `Previous response with id '${id}' not found.`,
      type: 'invalid_request_error',
      code: 'previous_response_not_found',
      param: 'previous_response_id',
    },
  ]);
}

beforeAll(async () => {
  oai = await startFakeUpstream(fakeOpenAIChat);
});

afterAll(async () => {
  await oai?.close();
  rmSync(dir, { recursive: true, force: true });
});

beforeEach(() => {
  oai.requests.length = 0;
});

describe('SQLite (the default): stored responses survive a restart', () => {
  const env = { SWITCHYARD_DB_PATH: join(dir, 'restart', 'switchyard.db') };
  const gateways: TestGateway[] = [];
  afterAll(async () => {
    for (const g of gateways) await g.close();
  });

  it('a three-turn previous_response_id chain continues after the gateway restarts', async () => {
    const first = await startGateway(yaml(), env);
    gateways.push(first);
    const a = await createKey(first.url, ADMIN, 'team-a');
    const b = await createKey(first.url, ADMIN, 'team-b');

    const r1 = await client(first, a.secret).responses.create({ model: 'gpt', input: 'one' });
    // The second turn streams: a streamed response is stored too, before response.completed.
    const stream = await client(first, a.secret).responses.create({
      model: 'gpt',
      input: 'two',
      previous_response_id: r1.id,
      stream: true,
    });
    let r2id: string | undefined;
    for await (const ev of stream) if (ev.type === 'response.completed') r2id = ev.response.id;
    expect(r2id).toMatch(/^resp_/);
    await first.close();
    gateways.pop();

    const second = await startGateway(yaml(), env);
    gateways.push(second);
    const ca = client(second, a.secret);
    const r3 = await ca.responses.create({ model: 'gpt', input: 'three', previous_response_id: r2id! });
    expect(r3.output_text).toBe('Echo: three');
    expect(r3.previous_response_id).toBe(r2id);
    expect(oai.requests.at(-1)!.json).toMatchObject({ messages: THREE_TURNS });

    const got = await ca.responses.retrieve(r1.id);
    expect([got.id, got.output_text, got.status]).toEqual([r1.id, 'Echo: one', 'completed']);
    const items = await ca.responses.inputItems.list(r2id!);
    expect(items.data).toEqual([
      expect.objectContaining({
        role: 'user',
        content: 'two',
        id: expect.stringMatching(/^msg_/),
      }),
    ]);
    // An output item of the first instance's response, referenced after the restart.
    const ref = await ca.responses.create({
      model: 'gpt',
      input: [
        { type: 'item_reference', id: r1.output[0]!.id! },
        { role: 'user', content: 'again' },
      ],
    });
    expect(ref.output_text).toBe('Echo: again');
    expect(oai.requests.at(-1)!.json).toMatchObject({
      messages: [
        { role: 'assistant', content: 'Echo: one' },
        { role: 'user', content: 'again' },
      ],
    });

    await expectInvisible(client(second, b.secret), r2id!);
    // Still there for its own team, and its own team may delete it.
    expect((await ca.responses.retrieve(r2id!)).id).toBe(r2id);
    await ca.responses.delete(r1.id);
    expect((await apiError(ca.responses.retrieve(r1.id))).status).toBe(404);
  });

  it('a response over responses.max_size is answered but not stored', async () => {
    const gw = await startGateway(yaml('responses: { max_size: 2kb }'), {
      SWITCHYARD_DB_PATH: join(dir, 'max-size', 'switchyard.db'),
    });
    gateways.push(gw);
    const a = client(gw, (await createKey(gw.url, ADMIN, 'team-a')).secret);
    const big = await a.responses.create({ model: 'gpt', input: 'x'.repeat(2_048) });
    expect(big.output_text).toBe(`Echo: ${'x'.repeat(2_048)}`);
    expect((await apiError(a.responses.retrieve(big.id))).status).toBe(404);
    const small = await a.responses.create({ model: 'gpt', input: 'small' });
    expect((await a.responses.retrieve(small.id)).output_text).toBe('Echo: small');
    const line = await until(
      () => gw.logs.find((l) => l.msg === 'storing a response failed'),
      'the log line',
    );
    expect((line.err as { message: string }).message).toMatch(/more than responses\.max_size \(2048\)/);
    const metrics = await (await fetch(`${gw.url}/metrics`)).text();
    expect(metrics).toContain('switchyard_stored_responses_total{result="refused"} 1\n');
    expect(metrics).toContain('switchyard_stored_responses_total{result="written"} 1\n');
  });

  it('a response past responses.retention is gone: 404, and not continued', async () => {
    const gw = await startGateway(yaml('responses: { retention: 3s }'), {
      SWITCHYARD_DB_PATH: join(dir, 'retention', 'switchyard.db'),
    });
    gateways.push(gw);
    const a = client(gw, (await createKey(gw.url, ADMIN, 'team-a')).secret);
    const r = await a.responses.create({ model: 'gpt', input: 'short-lived' });
    expect((await a.responses.retrieve(r.id)).id).toBe(r.id);
    await until(
      () =>
        a.responses.retrieve(r.id).then(
          () => false,
          (err: { status?: number }) => err.status === 404,
        ),
      'the response to expire',
      15_000,
    );
    const cont = await apiError(a.responses.create({ model: 'gpt', input: 'x', previous_response_id: r.id }));
    expect([cont.status, cont.code]).toEqual([400, 'previous_response_not_found']);
  });
});

describe.skipIf(!services.postgres)('PostgreSQL: two instances share stored responses', () => {
  const schema = freshSchemaName();
  const gateways: TestGateway[] = [];
  afterAll(async () => {
    for (const g of gateways) await g.close();
    await dropSchema(schema);
  });

  it('instances continue each other’s chains at once, and another team gets 404 on both', async () => {
    const db = `database: { url: "${PG_URL}", schema: ${schema} }`;
    const one = await startGateway(yaml(db));
    gateways.push(one);
    const two = await startGateway(yaml(db));
    gateways.push(two);
    const a = await createKey(one.url, ADMIN, 'team-a');
    const b = await createKey(one.url, ADMIN, 'team-b');

    // Each turn goes to the other instance the moment the previous one was answered.
    const r1 = await client(one, a.secret).responses.create({ model: 'gpt', input: 'one' });
    const r2 = await client(two, a.secret).responses.create({
      model: 'gpt',
      input: 'two',
      previous_response_id: r1.id,
    });
    const r3 = await client(one, a.secret).responses.create({
      model: 'gpt',
      input: 'three',
      previous_response_id: r2.id,
    });
    expect(r3.output_text).toBe('Echo: three');
    expect(oai.requests.at(-1)!.json).toMatchObject({ messages: THREE_TURNS });
    expect((await client(two, a.secret).responses.retrieve(r3.id)).output_text).toBe('Echo: three');

    await expectInvisible(client(one, b.secret), r2.id);
    await expectInvisible(client(two, b.secret), r1.id);

    // A delete on one instance is seen by the other.
    await client(two, a.secret).responses.delete(r3.id);
    expect((await apiError(client(one, a.secret).responses.retrieve(r3.id))).status).toBe(404);
  });
});
