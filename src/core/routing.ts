import type { RoutingStrategy } from '../types/config.js';

/**
 * Target selection for one request. Pure: live load comes in through a callback and randomness through
 * `rng`, so the strategies are testable with a seeded RNG. Runs on every request, so it works on small
 * index arrays with hand-written loops (no sort comparators, no per-target objects).
 */

export interface TargetLoad {
  inFlight: number;
  /** EWMA of total latency in ms, undefined until measured */
  latencyMs: number | undefined;
  /** EWMA of time to first token in ms */
  ttftMs: number | undefined;
}

/**
 * Share of `latency` requests that ignore the ranking and use a weight-random order. Without it a target
 * that was slow once would keep its stale EWMA forever (only successful attempts update it, and a target
 * that is never picked first rarely gets one), even after it recovered.
 */
export const LATENCY_EXPLORE_PROBABILITY = 0.05;

/** Non-positive and non-finite weights count as 0: such a target is only ever a last resort. */
function weightOf(w: number): number {
  return w > 0 && w < Number.POSITIVE_INFINITY ? w : 0;
}

/**
 * Weighted random order without replacement, in place over `order` (indices into `targets`): each
 * position is drawn among the not-yet-placed targets with probability proportional to weight, so the
 * first pick's share is exactly weight / total. Zero-weight targets are never drawn; they keep their
 * config order at the end because picked elements are shifted in (not swapped), which keeps the rest stable.
 */
function weightedShuffle<T extends { weight: number }>(
  targets: readonly T[],
  order: number[],
  rng: () => number,
): void {
  const n = order.length;
  for (let pos = 0; pos < n - 1; pos++) {
    // Re-summed each round instead of decremented: subtracting floats can leave a tiny positive
    // remainder when only zero-weight targets are left. n is 1–3 in practice, so this is cheap.
    let total = 0;
    for (let j = pos; j < n; j++) total += weightOf(targets[order[j]!]!.weight);
    if (total === 0) return;
    const r = rng() * total;
    let acc = 0;
    let pick = -1;
    for (let j = pos; j < n; j++) {
      const w = weightOf(targets[order[j]!]!.weight);
      if (w === 0) continue;
      pick = j;
      acc += w;
      if (r < acc) break;
    }
    // Falling out of the loop (r >= acc by float rounding, or an RNG returning 1 or NaN) leaves `pick`
    // at the last positive-weight target, which is the right answer for r at the top of the range.
    const chosen = order[pick]!;
    for (let j = pick; j > pos; j--) order[j] = order[j - 1]!;
    order[pos] = chosen;
  }
}

/** Stable insertion sort of `order` ascending by `keys[index]`; stability keeps the weight-random tie order. */
function sortByKey(order: number[], keys: readonly number[]): void {
  for (let i = 1; i < order.length; i++) {
    const idx = order[i]!;
    const k = keys[idx]!;
    let j = i - 1;
    while (j >= 0 && keys[order[j]!]! > k) {
      order[j + 1] = order[j]!;
      j--;
    }
    order[j + 1] = idx;
  }
}

function latencyScore(l: TargetLoad): number {
  const lat = l.latencyMs !== undefined && Number.isFinite(l.latencyMs) ? l.latencyMs : undefined;
  const ttft = l.ttftMs !== undefined && Number.isFinite(l.ttftMs) ? l.ttftMs : undefined;
  // Unmeasured targets sort first so they get measured: otherwise a new target (or one added by a
  // config reload) would never be tried while a measured one exists, and would never get a number.
  if (lat === undefined && ttft === undefined) return Number.NEGATIVE_INFINITY;
  if (lat === undefined) return ttft!;
  if (ttft === undefined) return lat;
  // Blend both: total latency is dominated by output length, TTFT by queueing at the provider; either
  // alone would prefer a target that starts fast but streams slowly, or vice versa.
  return (lat + ttft) / 2;
}

/**
 * The order in which to try a model's targets for one request. The first element is the strategy's pick;
 * the rest are the remaining targets in the order to fail over to.
 * weighted: pick by weight (weighted random without replacement for the whole order);
 * least-busy: ascending in-flight count, ties broken by weight-random;
 * latency: ascending by a score from EWMA latency/TTFT, unmeasured targets first, ties by weight-random,
 *   and with LATENCY_EXPLORE_PROBABILITY a plain weighted order instead;
 * ordered: config order.
 */
export function orderTargets<T extends { weight: number }>(
  targets: readonly T[],
  strategy: RoutingStrategy,
  load: (index: number) => TargetLoad,
  rng: () => number,
): T[] {
  const n = targets.length;
  if (n <= 1) return n === 1 ? [targets[0]!] : [];
  if (strategy === 'ordered') return targets.slice();

  const explore = strategy === 'latency' && rng() < LATENCY_EXPLORE_PROBABILITY;
  const order = new Array<number>(n);
  for (let i = 0; i < n; i++) order[i] = i;
  // Every non-ordered strategy starts from a weighted order: for least-busy and latency it is the
  // tie-break, which spreads equal-load traffic by weight instead of always favouring the first target.
  weightedShuffle(targets, order, rng);

  if (strategy === 'least-busy' || (strategy === 'latency' && !explore)) {
    const keys = new Array<number>(n);
    for (let i = 0; i < n; i++) {
      const l = load(i);
      if (strategy === 'least-busy') {
        // biome-ignore lint/complexity/useMathMinMax: Math.max(NaN, 0) is NaN, which would break the sort.
        keys[i] = l.inFlight > 0 ? l.inFlight : 0;
      } else {
        keys[i] = latencyScore(l);
      }
    }
    sortByKey(order, keys);
  }

  const out = new Array<T>(n);
  for (let i = 0; i < n; i++) out[i] = targets[order[i]!]!;
  return out;
}

/** Deterministic PRNG for tests and seeded runs (mulberry32). */
export function seededRng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
