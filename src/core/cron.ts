// cron-parser is BullMQ's own dependency (same copy); the embedded scheduler uses it so that both backends
// read cron expressions identically. It is not yet declared in package.json (see docs/jobs.md).
import { CronExpressionParser } from 'cron-parser';

/** The first run strictly after `afterMs`, in epoch ms. Throws on an invalid expression or time zone. */
export function nextCronRun(cron: string, afterMs: number, tz?: string): number {
  const expr = CronExpressionParser.parse(cron, { currentDate: afterMs, ...(tz ? { tz } : {}) });
  return expr.next().toDate().getTime();
}

/** A readable reason when `cron` does not parse, else undefined. */
export function checkCron(cron: string, tz?: string): string | undefined {
  try {
    nextCronRun(cron, Date.now(), tz);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}
