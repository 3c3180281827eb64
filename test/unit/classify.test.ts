import { describe, expect, it } from 'vitest';
import { classifyStatus, retryAfterSeconds, upstreamErrorFromHttp } from '../../src/core/classify.js';
import { parseDuration, parseSize } from '../../src/core/units.js';

describe('classifyStatus', () => {
  it.each([
    [429, '', '', 'rate_limit'],
    [529, '', '', 'overloaded'],
    [503, '', '', 'overloaded'],
    [500, 'overloaded_error', '', 'overloaded'],
    [500, '', '', 'server_error'],
    [502, '', '', 'server_error'],
    [504, '', '', 'timeout'],
    [408, '', '', 'timeout'],
    [401, '', '', 'auth'],
    [403, '', '', 'auth'],
    [400, 'context_length_exceeded', '', 'context_length'],
    [400, 'invalid_request_error', 'prompt is too long: 210000 tokens > 200000 maximum', 'context_length'],
    [400, 'content_policy_violation', '', 'content_policy'],
    [400, 'invalid_request_error', 'bad', 'bad_request'],
    [422, '', '', 'bad_request'],
  ] as const)('%i %s %s -> %s', (status, type, msg, cls) => {
    expect(classifyStatus(status, type, msg)).toBe(cls);
  });
});

describe('retryAfterSeconds', () => {
  it('prefers retry-after-ms, accepts seconds and HTTP dates', () => {
    expect(retryAfterSeconds({ 'retry-after-ms': '1500', 'retry-after': '9' })).toBe(1.5);
    expect(retryAfterSeconds({ 'retry-after': '9' })).toBe(9);
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(retryAfterSeconds({ 'retry-after': 'Thu, 01 Jan 2026 00:00:30 GMT' }, now)).toBe(30);
    expect(retryAfterSeconds({ 'retry-after': 'soon' })).toBeUndefined();
    expect(retryAfterSeconds({})).toBeUndefined();
  });
});

describe('upstreamErrorFromHttp', () => {
  it('builds a retryable 429 carrying Retry-After and the upstream request id', () => {
    const e = upstreamErrorFromHttp({
      provider: 'p',
      status: 429,
      message: 'slow down',
      providerType: 'rate_limit_error',
      headers: { 'retry-after': '3', 'request-id': 'req_1' },
      requestIdHeader: 'request-id',
    });
    expect({
      status: e.status,
      code: e.code,
      retryable: e.retryable,
      retryAfter: e.retryAfter,
      upstreamRequestId: e.upstreamRequestId,
      headers: e.headers,
      body: e.toBody(),
    }).toEqual({
      status: 429,
      code: 'upstream_rate_limit',
      retryable: true,
      retryAfter: 3,
      upstreamRequestId: 'req_1',
      headers: { 'retry-after': '3' },
      body: {
        error: {
          message: "provider 'p' returned 429: slow down",
          type: 'rate_limit_error',
          code: 'upstream_rate_limit',
          param: null,
        },
      },
    });
  });

  it('never retries a bad request', () => {
    const e = upstreamErrorFromHttp({
      provider: 'p',
      status: 400,
      message: 'no',
      providerType: undefined,
      headers: {},
      requestIdHeader: '',
    });
    expect([e.status, e.retryable, e.errorClass]).toEqual([400, false, 'bad_request']);
  });
});

describe('units', () => {
  it('durations and sizes', () => {
    expect(['200ms', '5s', '1.5s', '2m', '1h', 250, '42'].map((v) => parseDuration(v))).toEqual([
      200, 5000, 1500, 120_000, 3_600_000, 250, 42,
    ]);
    expect(parseDuration('soon')).toBeUndefined();
    expect(parseDuration(-1)).toBeUndefined();
    expect(['10mb', '64kb', '1gb', 100, '7'].map((v) => parseSize(v))).toEqual([
      10485760, 65536, 1073741824, 100, 7,
    ]);
    expect(parseSize('huge')).toBeUndefined();
  });
});
