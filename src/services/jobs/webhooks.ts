import { createHmac, timingSafeEqual } from 'node:crypto';
import { request } from 'undici';
import { NonRetryableJobError } from '../../backends/queue/types.js';
import { jobJson } from './job-json.js';
import type { JobService } from './job-service.js';

/**
 * Completion webhooks. A finished job with a `webhook` URL gets one delivery job (`webhook.deliver`,
 * idempotency key `webhook:<job id>`, so a result recorded once is announced once); the queue retries
 * it with backoff and keeps its record (attempts, last error) like any job.
 *
 * Signature: `X-Switchyard-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>` with
 * `X-Switchyard-Timestamp: <unix seconds>`. Each attempt is signed afresh, so receivers can refuse old
 * timestamps (replays) and still accept a retry.
 */

export const WEBHOOK_JOB_TYPE = 'webhook.deliver';
export const SIGNATURE_HEADER = 'x-switchyard-signature';
export const TIMESTAMP_HEADER = 'x-switchyard-timestamp';
export const EVENT_HEADER = 'x-switchyard-event';
/** The delivery job's id, the same on every retry of one delivery: receivers deduplicate on it. */
export const DELIVERY_HEADER = 'x-switchyard-delivery';

export interface WebhookDelivery {
  url: string;
  event: string;
  body: string;
}

export function signWebhook(secret: string, timestamp: number, body: string): string {
  return `v1=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/** For receivers (and our tests): checks the signature and that the timestamp is within `toleranceSec`. */
export function verifyWebhook(
  secret: string,
  headers: { signature: string | undefined; timestamp: string | undefined },
  body: string,
  toleranceSec = 300,
  nowSec = Math.floor(Date.now() / 1000),
): boolean {
  const ts = Number(headers.timestamp);
  if (!headers.signature || !Number.isInteger(ts) || Math.abs(nowSec - ts) > toleranceSec) return false;
  const want = Buffer.from(signWebhook(secret, ts, body));
  const got = Buffer.from(headers.signature);
  return want.length === got.length && timingSafeEqual(want, got);
}

/** Checks a client-given webhook URL: http(s), bounded, no credentials in it. */
export function checkWebhookUrl(url: string): string | undefined {
  if (url.length > 2048) return 'webhook must be at most 2048 characters';
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return 'webhook must be an absolute http(s) URL';
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return 'webhook must be an http(s) URL';
  if (u.username || u.password) return 'webhook must not contain credentials';
  return undefined;
}

export function registerWebhooks(jobs: JobService): void {
  const { secret, timeoutMs, maxAttempts } = jobs.spec.webhooks;
  jobs.registry.register<WebhookDelivery, { status: number; attempt: number }>({
    name: WEBHOOK_JOB_TYPE,
    public: false,
    maxAttempts,
    concurrency: 8,
    async handler(d, ctx) {
      if (!secret)
        throw new NonRetryableJobError('jobs.webhooks.secret is not set', 'webhooks_not_configured');
      const ts = Math.floor(Date.now() / 1000);
      const res = await request(d.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'switchyard-webhooks',
          [EVENT_HEADER]: d.event,
          [DELIVERY_HEADER]: ctx.job.id,
          [TIMESTAMP_HEADER]: String(ts),
          [SIGNATURE_HEADER]: signWebhook(secret, ts, d.body),
        },
        body: d.body,
        signal: ctx.signal,
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      });
      // The receiver's answer is not ours to keep; read and drop it so the connection is reused.
      await res.body.dump({ limit: 64 * 1024 });
      if (res.statusCode < 200 || res.statusCode >= 300) {
        throw new Error(`webhook receiver answered ${res.statusCode}`);
      }
      return { status: res.statusCode, attempt: ctx.attempt };
    },
  });
  jobs.onSettled((job) => {
    if (!job.webhook || job.type === WEBHOOK_JOB_TYPE) return;
    const event = `job.${job.status}`;
    const body = JSON.stringify({ event, created_at: Math.floor(Date.now() / 1000), data: jobJson(job) });
    void jobs
      .enqueueInternal({
        type: WEBHOOK_JOB_TYPE,
        team: job.team,
        input: { url: job.webhook, event, body } satisfies WebhookDelivery,
        priority: 'standard',
        idempotencyKey: `webhook:${job.id}:${event}`,
      })
      .catch(() => {
        // The queue is closing or down; a later delivery cannot be promised without it.
      });
  });
}
