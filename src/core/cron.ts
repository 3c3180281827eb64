// cron-parser is BullMQ's own dependency (same copy); the embedded scheduler uses it so that both backends
// read cron expressions identically. It is not yet declared in package.json (see docs/jobs.md).
import { createRequire } from 'node:module';
import type { CronExpressionParser as Parser } from 'cron-parser';

// Loaded on the first cron expression (a config with job schedules): cron-parser brings luxon, about
// 1.3 MiB of heap that a gateway without schedules never uses. It is CommonJS, so a synchronous require
// keeps these functions synchronous.
let parser: typeof Parser | undefined;
function cronParser(): typeof Parser {
  parser ??= (createRequire(import.meta.url)('cron-parser') as typeof import('cron-parser'))
    .CronExpressionParser;
  return parser;
}

/** The first run strictly after `afterMs`, in epoch ms. Throws on an invalid expression or time zone. */
export function nextCronRun(cron: string, afterMs: number, tz?: string): number {
  const expr = cronParser().parse(cron, { currentDate: afterMs, ...(tz ? { tz } : {}) });
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
