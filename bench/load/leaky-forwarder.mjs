// The baseline forwarder with a deliberate leak, for soak.mjs to prove its pass/fail rule catches one
// (SOAK_TARGET=leaky-forwarder): every request keeps SOAK_LEAK_BYTES (1024) of JavaScript string in an
// array that is never emptied, the shape of a real leak (per-request data parked in a long-lived
// structure), promoted to old space like one. Bench only: nothing in src/ can be made to leak by a knob.
//
// Usage: node leaky-forwarder.mjs <upstream origin>   (same IPC protocol as baseline-forwarder.mjs)
import diagnostics from 'node:diagnostics_channel';

const LEAK_BYTES = Number(process.env.SOAK_LEAK_BYTES ?? 1024);
if (!Number.isFinite(LEAK_BYTES) || LEAK_BYTES < 0) throw new Error('SOAK_LEAK_BYTES must be a number >= 0');
const kept = [];
let n = 0;
// Node publishes every incoming HTTP request here, so the forwarder's own code stays untouched.
diagnostics.subscribe('http.server.request.start', () => {
  // A fresh flat one-byte string on the V8 heap per request (a template literal would be a rope sharing
  // one padding string, a few dozen bytes each).
  const b = Buffer.alloc(LEAK_BYTES, 'x');
  b.write(String(n++));
  kept.push(b.toString('latin1'));
});

await import('./baseline-forwarder.mjs');
