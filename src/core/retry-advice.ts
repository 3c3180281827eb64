/**
 * `x-should-retry` for an error response. The official openai SDKs (and Stainless-generated SDKs such as
 * @anthropic-ai/sdk) honour it before their own rules: `false` stops their retries, which would otherwise
 * multiply the gateway's own (one failing call cost 6 upstream hits with the openai SDK's defaults).
 *
 * `false` once the executor has run its policy for the request (`attempts` is set, zero when every target
 * was skipped by an open circuit): the gateway already retried, failed over and backed off as configured,
 * so an immediate client retry only repeats that. Errors the gateway produced before trying anything
 * (load shedding, shutdown, a timed-out request body) carry no advice, so clients keep their own rules,
 * which is right there: another attempt may well succeed.
 */
export function retryAdvice(status: number, attempts: number | undefined): 'false' | undefined {
  if (attempts === undefined) return undefined;
  return status === 429 || status >= 500 ? 'false' : undefined;
}
