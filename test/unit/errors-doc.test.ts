import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES, type ErrorCode, type ErrorSpec, statusAndType } from '../../src/errors/codes.js';
import { GatewayError, UpstreamError, type UpstreamErrorClass } from '../../src/errors/gateway-error.js';

/** docs/errors.md and src/errors/codes.ts describe the same codes, statuses and types, both ways. */

const DOC = fileURLToPath(new URL('../../docs/errors.md', import.meta.url));

interface DocRow {
  code: string;
  status: string;
  type: string;
}

/** Every table row whose first cell is a backticked code, read by its table's header names. */
function docRows(md: string): DocRow[] {
  const rows: DocRow[] = [];
  let header: string[] | undefined;
  for (const line of md.split('\n')) {
    if (!line.startsWith('|')) {
      header = undefined;
      continue;
    }
    const cells = line
      .slice(1, -1)
      .split('|')
      .map((c) => c.trim());
    if (header === undefined) {
      header = cells;
      continue;
    }
    const code = /^`([a-z_0-9]+)`$/.exec(cells[0] ?? '')?.[1];
    if (code === undefined) continue;
    const statusCol = header.findIndex((h) => h.startsWith('status'));
    const typeCol = header.indexOf('type');
    expect(statusCol, `table of ${code} has a status column`).toBeGreaterThan(0);
    expect(typeCol, `table of ${code} has a type column`).toBeGreaterThan(0);
    rows.push({ code, status: cells[statusCol]!, type: cells[typeCol]! });
  }
  return rows;
}

describe('docs/errors.md against the error table', () => {
  it('lists exactly the codes of the table, each with its status and type', async () => {
    const rows = docRows(await readFile(DOC, 'utf8'));
    const documented = rows.map((r) => r.code);
    const table = Object.keys(ERROR_CODES);
    expect(new Set(documented).size).toBe(documented.length);
    expect(documented.filter((c) => !table.includes(c)).sort()).toEqual([]);
    expect(table.filter((c) => !documented.includes(c)).sort()).toEqual([]);

    for (const row of rows) {
      const spec: ErrorSpec = ERROR_CODES[row.code as ErrorCode];
      if (spec.upstream4xx) {
        expect(row.status, row.code).toMatch(/^the provider's 4xx/);
      } else {
        expect(/\d{3}/.exec(row.status)?.[0], row.code).toBe(String(spec.status));
      }
      expect(/`([a-z_]+)`/.exec(row.type)?.[1], row.code).toBe(spec.type);
      for (const [status, type] of Object.entries(spec.variants ?? {})) {
        expect(row.status, row.code).toContain(status);
        expect(row.type, row.code).toContain(`\`${type}\``);
      }
    }
  });

  it('uses only OpenAI error types', () => {
    const openai = [
      'invalid_request_error',
      'authentication_error',
      'permission_error',
      'not_found_error',
      'rate_limit_error',
      'api_error',
      'server_error',
    ];
    for (const [code, spec] of Object.entries(ERROR_CODES)) {
      expect(openai, code).toContain(spec.type);
      for (const t of Object.values(spec.variants ?? {})) expect(openai, code).toContain(t);
    }
  });
});

describe('GatewayError takes status and type from the table', () => {
  it('uses the table status and type', () => {
    const e = new GatewayError('model_not_found', 'nope', { param: 'model' });
    expect(e.status).toBe(404);
    expect(e.toBody()).toEqual({
      error: { message: 'nope', type: 'not_found_error', code: 'model_not_found', param: 'model' },
    });
  });

  it('honours a status only where the table allows it', () => {
    expect(new GatewayError('all_targets_failed', 'x', { status: 429 })).toMatchObject({
      status: 429,
      type: 'rate_limit_error',
    });
    // Not a variant of the code: the table's status wins.
    expect(new GatewayError('all_targets_failed', 'x', { status: 418 })).toMatchObject({
      status: 502,
      type: 'api_error',
    });
    expect(statusAndType('internal_error', 400)).toEqual({ status: 500, type: 'server_error' });
  });

  it("passes the provider's 4xx through for the caller's own mistakes, and nothing else", () => {
    const up = (errorClass: UpstreamErrorClass, upstreamStatus?: number) =>
      new UpstreamError('x', { provider: 'p', errorClass, retryable: false, upstreamStatus });
    expect(up('bad_request', 404)).toMatchObject({ status: 404, type: 'invalid_request_error' });
    expect(up('context_length', 413)).toMatchObject({ status: 413, code: 'upstream_context_length' });
    expect(up('content_policy', 200)).toMatchObject({ status: 400, type: 'invalid_request_error' });
    expect(up('bad_request')).toMatchObject({ status: 400 });
    // An upstream 401 is the operator's problem: never the caller's 401.
    expect(up('auth', 401)).toMatchObject({ status: 502, type: 'api_error', code: 'upstream_auth' });
    expect(up('server_error', 500)).toMatchObject({ status: 502, type: 'api_error' });
    expect(up('overloaded', 529)).toMatchObject({ status: 503, type: 'api_error' });
    expect(up('timeout', 408)).toMatchObject({ status: 504, type: 'api_error' });
    expect(up('rate_limit', 429)).toMatchObject({ status: 429, type: 'rate_limit_error' });
  });
});
