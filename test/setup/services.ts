import { connect } from 'node:net';
import type { TestProject } from 'vitest/node';

/**
 * Vitest globalSetup: finds out once, before any test file loads, whether the real Redis and PostgreSQL
 * this project tests against are reachable, and hands the answer to the tests (`inject('services')`, see
 * test/helpers/services.ts), which skip what needs a missing service (`describe.skipIf`).
 *
 * On a developer's machine without them, `npm test` prints one line saying what was skipped and why.
 * In CI (`CI=true`) a missing service is an error: a green run must mean every test ran.
 */

export interface Services {
  redis: boolean;
  postgres: boolean;
}

declare module 'vitest' {
  export interface ProvidedContext {
    services: Services;
  }
}

const PROBE_TIMEOUT_MS = 2_000;

/** Sends `hello` and resolves with the reason it failed, or undefined when the reply passes `ok`. */
function probe(port: number, hello: Buffer, ok: (reply: Buffer) => boolean): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let got = Buffer.alloc(0);
    const finish = (why: string | undefined) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(why);
    };
    const timer = setTimeout(() => finish(`no answer within ${PROBE_TIMEOUT_MS}ms`), PROBE_TIMEOUT_MS);
    socket.on('connect', () => socket.write(hello));
    socket.on('data', (d: Buffer) => {
      got = Buffer.concat([got, d]);
      finish(ok(got) ? undefined : `unexpected reply ${JSON.stringify(got.toString('latin1').slice(0, 40))}`);
    });
    socket.on('error', (err: NodeJS.ErrnoException) => finish(err.code ?? err.message));
    socket.on('close', () => finish('connection closed'));
  });
}

// PostgreSQL answers an SSLRequest (length 8, code 80877103) with a single 'S' or 'N'.
const PG_SSL_REQUEST = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);

export interface CheckOptions {
  redisPort?: number;
  postgresPort?: number;
  env?: Readonly<Record<string, string | undefined>>;
  /** Where the one line goes; stderr by default. */
  write?: (line: string) => void;
}

/** Probes both services; says what is missing in one line, or throws under CI. */
export async function checkServices(opts: CheckOptions = {}): Promise<Services> {
  const redisPort = opts.redisPort ?? 6379;
  const postgresPort = opts.postgresPort ?? 5432;
  const env = opts.env ?? process.env;
  const [redis, postgres] = await Promise.all([
    probe(redisPort, Buffer.from('PING\r\n'), (r) => r.toString('latin1').startsWith('+PONG')),
    probe(postgresPort, PG_SSL_REQUEST, (r) => r.length === 1 && (r[0] === 0x53 || r[0] === 0x4e)),
  ]);
  const missing = [
    ...(redis ? [`Redis at 127.0.0.1:${redisPort} (${redis})`] : []),
    ...(postgres ? [`PostgreSQL at 127.0.0.1:${postgresPort} (${postgres})`] : []),
  ];
  if (missing.length > 0) {
    const what = missing.join(' and ');
    if (env.CI === 'true' || env.CI === '1') {
      throw new Error(`CI needs ${what}: unreachable. Start the service; CI never skips these tests.`);
    }
    (opts.write ?? ((l) => process.stderr.write(l)))(
      `services: ${what} unreachable; skipping the tests that need it.\n`,
    );
  }
  return { redis: redis === undefined, postgres: postgres === undefined };
}

export default async function setup(project: TestProject): Promise<void> {
  project.provide('services', await checkServices());
}
