// Tiny OTLP/HTTP trace sink for the `switchyard-traced` variant. Runs in its own process (forked by
// run.mjs) so that export bursts never stall the fake upstream's event loop.
//
//   POST /v1/traces  -> reads the whole body, counts the spans in it, discards it, answers 200.
//
// @opentelemetry/exporter-trace-otlp-http 0.223 sends JSON (`content-type: application/json`,
// uncompressed unless OTEL_EXPORTER_OTLP_[TRACES_]COMPRESSION=gzip) and accepts any 2xx; a JSON body is
// handed to its response deserializer, so the answer is `{}` (an ExportTraceServiceResponse with no
// partial_success). A protobuf request (`application/x-protobuf`, e.g. exporter-trace-otlp-proto) gets
// an empty 200 `application/x-protobuf` body, which is the empty ExportTraceServiceResponse. gzip bodies
// are inflated first. Spans are counted in both encodings.
//
// Reports its port over IPC ({ type: 'listening', port }); answers { type: 'stats' } with its counters.
import http from 'node:http';
import { gunzipSync } from 'node:zlib';

const stats = { exports: 0, spans: 0, bytes: 0, json: 0, protobuf: 0, bad: 0 };

/** Spans in an OTLP JSON ExportTraceServiceRequest. */
function countJsonSpans(buf) {
  const req = JSON.parse(buf.toString('utf8'));
  let n = 0;
  for (const rs of req.resourceSpans ?? []) {
    for (const ss of rs.scopeSpans ?? []) n += ss.spans?.length ?? 0;
  }
  return n;
}

/** Calls fn(fieldNumber, start, end) for each length-delimited field of a protobuf message. */
function eachLenField(buf, start, end, fn) {
  let i = start;
  const varint = () => {
    let v = 0;
    let shift = 0;
    for (;;) {
      const b = buf[i++];
      v += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return v;
      shift += 7;
    }
  };
  while (i < end) {
    const key = varint();
    const wire = key & 7;
    const field = Math.floor(key / 8);
    if (wire === 0) varint();
    else if (wire === 1) i += 8;
    else if (wire === 5) i += 4;
    else if (wire === 2) {
      const len = varint();
      fn(field, i, i + len);
      i += len;
    } else throw new Error(`unsupported protobuf wire type ${wire}`);
  }
}

/** Spans in an OTLP protobuf ExportTraceServiceRequest: resource_spans(1) > scope_spans(2) > spans(2). */
function countProtoSpans(buf) {
  let n = 0;
  eachLenField(buf, 0, buf.length, (f, s, e) => {
    if (f !== 1) return;
    eachLenField(buf, s, e, (f2, s2, e2) => {
      if (f2 !== 2) return;
      eachLenField(buf, s2, e2, (f3) => {
        if (f3 === 2) n++;
      });
    });
  });
  return n;
}

const server = http.createServer((req, res) => {
  if (req.method !== 'POST' || req.url !== '/v1/traces') {
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end('{}');
    return;
  }
  const parts = [];
  req.on('data', (c) => parts.push(c));
  req.on('end', () => {
    let body = Buffer.concat(parts);
    stats.exports++;
    stats.bytes += body.length;
    const proto = String(req.headers['content-type'] ?? '').includes('protobuf');
    try {
      if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
      if (proto) {
        stats.protobuf++;
        stats.spans += countProtoSpans(body);
      } else {
        stats.json++;
        stats.spans += countJsonSpans(body);
      }
    } catch {
      stats.bad++; // still answer 200: the sink must never make the exporter retry
    }
    if (proto) {
      res.writeHead(200, { 'content-type': 'application/x-protobuf', 'content-length': 0 });
      res.end();
    } else {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': 2 });
      res.end('{}');
    }
  });
});

server.keepAliveTimeout = 65_000;
server.headersTimeout = 66_000;
server.requestTimeout = 0;

server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  if (process.send) process.send({ type: 'listening', port });
  else process.stdout.write(`OTLP sink on http://127.0.0.1:${port}/v1/traces\n`);
});

process.on('message', (m) => {
  if (m?.type === 'stats') process.send?.({ type: 'stats', ...stats });
});
process.on('disconnect', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
