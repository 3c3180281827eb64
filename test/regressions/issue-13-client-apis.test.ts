import { createOpenAI } from '@ai-sdk/openai';
import Anthropic from '@anthropic-ai/sdk';
import { generateText, streamText } from 'ai';
import OpenAI, { toFile } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startZeroConfigGateway, type TestGateway } from '../helpers/gateway.js';

/**
 * Issue 13: the AI SDK's default `openai()` provider (POST /v1/responses) and `@anthropic-ai/sdk`
 * (POST /v1/messages) got 404 from the gateway. On a fresh machine (zero config, the mock provider),
 * each client now gets an answer, as does an audio upload, so demos run offline.
 */

let gw: TestGateway;
beforeAll(async () => {
  gw = await startZeroConfigGateway();
});
afterAll(() => gw.close());

const REPLY = `Mock reply to "hi". This answer comes from Switchyard's built-in mock provider.`;

describe('issue 13: every client API answers', () => {
  it('the AI SDK default provider (Responses API), JSON and streamed', async () => {
    const openai = createOpenAI({ baseURL: gw.baseURL, apiKey: 'none' });
    expect((await generateText({ model: openai('mock'), prompt: 'hi' })).text).toBe(REPLY);
    const stream = streamText({ model: openai('mock'), prompt: 'hi' });
    expect(await stream.text).toBe(REPLY);
  });

  it('@anthropic-ai/sdk (Messages API), JSON and streamed', async () => {
    const client = new Anthropic({ baseURL: gw.url, apiKey: 'none', maxRetries: 0 });
    const msg = await client.messages.create({
      model: 'mock',
      max_tokens: 50,
      messages: [{ role: 'user', content: 'hi' }],
    });
    expect(msg.content).toEqual([{ type: 'text', text: REPLY }]);
    const streamed = await client.messages
      .stream({ model: 'mock', max_tokens: 50, messages: [{ role: 'user', content: 'hi' }] })
      .finalMessage();
    expect(streamed.content).toEqual([{ type: 'text', text: REPLY }]);
    expect(streamed.stop_reason).toBe('end_turn');
  });

  it('openai SDK audio transcription', async () => {
    const client = new OpenAI({ baseURL: gw.baseURL, apiKey: 'none', maxRetries: 0 });
    const res = await client.audio.transcriptions.create({
      file: await toFile(Buffer.from('not really audio'), 'clip.mp3', { type: 'audio/mpeg' }),
      model: 'mock',
    });
    expect(res.text).toBe('Transcribed 16 bytes of audio with the mock provider.');
  });
});
