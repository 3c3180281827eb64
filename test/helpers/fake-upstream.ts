import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A real HTTP server on 127.0.0.1:0 standing in for a provider. Tests script its answers in the
 * provider's documented wire format; it records what the gateway sent so tests can assert translation.
 */

export interface RecordedRequest {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
  /** The body's bytes, for binary uploads. */
  raw: Buffer;
  /** Parsed JSON body, or undefined when the body was not JSON. */
  json: unknown;
  /** Resolves when the gateway closed this connection before the response finished. */
  aborted: Promise<void>;
}

export type FakeHandler = (req: RecordedRequest, res: ServerResponse) => void | Promise<void>;

export interface FakeUpstream {
  url: string;
  requests: RecordedRequest[];
  /** Replace the handler mid-test. */
  setHandler(h: FakeHandler): void;
  close(): Promise<void>;
}

export async function startFakeUpstream(handler: FakeHandler): Promise<FakeUpstream> {
  let current = handler;
  const requests: RecordedRequest[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const body = raw.toString('utf8');
      let json: unknown;
      try {
        json = JSON.parse(body);
      } catch {
        json = undefined;
      }
      const aborted = new Promise<void>((resolve) => {
        res.on('close', () => {
          if (!res.writableFinished) resolve();
        });
      });
      const rec: RecordedRequest = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body,
        raw,
        json,
        aborted,
      };
      requests.push(rec);
      Promise.resolve(current(rec, res)).catch((err: unknown) => {
        res.destroy(err as Error);
      });
    });
  });
  server.keepAliveTimeout = 1000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    setHandler(h) {
      current = h;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

export interface SseScript {
  /** Each item is written as one SSE event: `event:` line when given, then `data:`. */
  events: Array<{ event?: string; data: string } | string>;
  /** Delay between events in ms. */
  delayMs?: number;
  /** Destroy the socket after writing this many events (simulates a cut-off stream). */
  cutAfter?: number;
  headers?: Record<string, string>;
}

export async function sendSse(res: ServerResponse, script: SseScript): Promise<void> {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', ...script.headers });
  let n = 0;
  for (const e of script.events) {
    if (res.destroyed) return;
    if (script.cutAfter !== undefined && n >= script.cutAfter) {
      res.socket?.destroy();
      return;
    }
    const ev = typeof e === 'string' ? { data: e } : e;
    res.write(`${ev.event ? `event: ${ev.event}\n` : ''}data: ${ev.data}\n\n`);
    n++;
    if (script.delayMs) await new Promise((r) => setTimeout(r, script.delayMs));
  }
  if (script.cutAfter !== undefined && n >= script.cutAfter) {
    res.socket?.destroy();
    return;
  }
  res.end();
}
