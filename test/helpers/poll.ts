/**
 * Polls until `probe` returns something other than undefined/false, and returns it; throws after
 * `timeoutMs`. For conditions with no event to await (a log line written on response close, a span
 * ended after the body, a port closing). Never use a fixed sleep before an assertion instead.
 */
export async function until<T>(
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  what = 'condition',
  timeoutMs = 5_000,
): Promise<T> {
  const end = performance.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (performance.now() > end) throw new Error(`timed out after ${timeoutMs}ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
