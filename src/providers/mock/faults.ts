import type { MockFaults } from '../../types/config.js';

/**
 * Fault planning for the mock provider: pure and deterministic given the random source, so a seeded
 * provider replays the same sequence of faults and the planner can be tested statistically.
 */

/** Uniform in [0, 1). */
export type Rng = () => number;

/**
 * mulberry32: tiny, fast and good enough for fault dice. A seeded provider must not share
 * Math.random's state with the rest of the process, or its sequence would depend on unrelated code.
 */
export function createRng(seed: number | undefined): Rng {
  if (seed === undefined) return Math.random;
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export type FaultOutcome =
  | { kind: 'ok' }
  | { kind: 'error'; status: number; message: string; retryAfterMs: number | undefined }
  /** The connection drops before any response. */
  | { kind: 'reset' }
  /** No response until the caller gives up. */
  | { kind: 'hang' }
  /**
   * Non-streaming: the body is not JSON. Streaming: the event at `atFraction` of the stream (0 = the
   * first) is not JSON; the events before it arrive intact.
   */
  | { kind: 'malformed'; atFraction: number }
  /** Streams only: the connection is lost after `after` chunks. */
  | { kind: 'cut'; after: number };

export interface FaultPlan {
  /** Added before the response (or the stream) starts, whatever the outcome. */
  latencyMs: number;
  outcome: FaultOutcome;
}

export const NO_FAULTS: FaultPlan = { latencyMs: 0, outcome: { kind: 'ok' } };

/**
 * Every plan consumes exactly this many draws, whatever the config and whether or not the request
 * streams: request k of a seeded provider then gets the same dice no matter what came before it.
 */
export const DRAWS_PER_PLAN = 5;

/**
 * Decides the fate of one request. The request-level faults are mutually exclusive and share one
 * draw, walked in a fixed order (reset, hang, each `errors` entry in order, malformed), so each
 * configured probability is exactly that fault's rate; when they add up to more than 1 the later
 * ones get what is left. A stream cut is an independent draw that applies only to a stream that
 * would otherwise succeed.
 */
export function planFaults(faults: MockFaults | undefined, rng: Rng, stream: boolean): FaultPlan {
  if (faults === undefined) return NO_FAULTS;
  const uOutcome = rng();
  const uPosition = rng();
  const uCut = rng();
  const uLat1 = rng();
  const uLat2 = rng();
  return {
    latencyMs: sampleLatency(faults.latency, uLat1, uLat2),
    outcome: pickOutcome(faults, stream, uOutcome, uPosition, uCut),
  };
}

function pickOutcome(
  faults: MockFaults,
  stream: boolean,
  uOutcome: number,
  uPosition: number,
  uCut: number,
): FaultOutcome {
  let cum = faults.resetProbability;
  if (uOutcome < cum) return { kind: 'reset' };
  cum += faults.hangProbability;
  if (uOutcome < cum) return { kind: 'hang' };
  for (const e of faults.errors) {
    cum += e.probability;
    if (uOutcome < cum) {
      return {
        kind: 'error',
        status: e.status,
        message: e.message ?? `mock provider fault: HTTP ${e.status}`,
        retryAfterMs: e.retryAfterMs,
      };
    }
  }
  cum += faults.malformedProbability;
  if (uOutcome < cum) return { kind: 'malformed', atFraction: uPosition };
  if (stream && faults.streamCutAfter !== undefined && uCut < faults.streamCutProbability) {
    return { kind: 'cut', after: faults.streamCutAfter };
  }
  return { kind: 'ok' };
}

/**
 * One latency sample, rounded to whole milliseconds. `min` is a floor for every distribution and
 * `max` (when > 0) a ceiling, so a tail can be bounded.
 */
export function sampleLatency(latency: MockFaults['latency'], u1: number, u2: number): number {
  if (latency === undefined) return 0;
  const { distribution, minMs, maxMs, meanMs, stddevMs } = latency;
  let ms: number;
  switch (distribution) {
    case 'fixed':
      ms = meanMs > 0 ? meanMs : minMs;
      break;
    case 'uniform':
      ms = minMs + u1 * Math.max(0, maxMs - minMs);
      break;
    case 'normal':
      ms = meanMs + stddevMs * standardNormal(u1, u2);
      break;
    case 'exponential':
      // Shifted by `min` so that `mean` stays the overall mean: a floor plus a long right tail, the
      // usual shape of network latency.
      ms = minMs + Math.max(0, meanMs - minMs) * -Math.log(1 - u1);
      break;
  }
  ms = Math.max(ms, minMs, 0);
  if (maxMs > 0) ms = Math.min(ms, Math.max(maxMs, minMs));
  return Math.round(ms);
}

/** Box–Muller; `1 - u1` keeps the logarithm finite since u1 can be 0. */
function standardNormal(u1: number, u2: number): number {
  return Math.sqrt(-2 * Math.log(1 - u1)) * Math.cos(2 * Math.PI * u2);
}

/**
 * Where a malformed event lands in a stream of `total` chunks: the index of the first chunk that
 * does not arrive (0 = nothing arrives).
 */
export function malformedIndex(atFraction: number, total: number): number {
  return Math.min(total - 1, Math.floor(atFraction * total));
}
