import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkServices } from '../setup/services.js';

/**
 * Issue 7: on a machine without Redis or PostgreSQL, `npm test` failed 40 tests instead of saying in
 * one line what it skipped and why; in CI a missing service must fail the run instead.
 */

let fakeRedis: Server;
let fakePostgres: Server;
let closedPort: number;
const portOf = (s: Server) => (s.address() as { port: number }).port;

beforeAll(async () => {
  // Just enough of each protocol for the probes: Redis answers PING, PostgreSQL refuses SSL with 'N'.
  fakeRedis = createServer((socket) => socket.once('data', () => socket.write('+PONG\r\n')));
  fakePostgres = createServer((socket) => socket.once('data', () => socket.write('N')));
  const spare = createServer();
  await Promise.all(
    [fakeRedis, fakePostgres, spare].map((s) => new Promise<void>((r) => s.listen(0, '127.0.0.1', r))),
  );
  closedPort = portOf(spare);
  await new Promise<void>((r) => spare.close(() => r()));
});
afterAll(() => {
  fakeRedis.close();
  fakePostgres.close();
});

describe('the service probe before the suite', () => {
  it('both reachable: nothing printed, both available', async () => {
    const lines: string[] = [];
    const found = await checkServices({
      redisPort: portOf(fakeRedis),
      postgresPort: portOf(fakePostgres),
      env: {},
      write: (l) => lines.push(l),
    });
    expect([found, lines]).toEqual([{ redis: true, postgres: true }, []]);
  });

  it('one missing, locally: one line naming it and why, and the rest still available', async () => {
    const lines: string[] = [];
    const found = await checkServices({
      redisPort: closedPort,
      postgresPort: portOf(fakePostgres),
      env: {},
      write: (l) => lines.push(l),
    });
    expect(found).toEqual({ redis: false, postgres: true });
    expect(lines).toEqual([
      `services: Redis at 127.0.0.1:${closedPort} (ECONNREFUSED) unreachable; skipping the tests that need it.\n`,
    ]);
  });

  it('something that is not the service does not count as it', async () => {
    const found = await checkServices({
      redisPort: portOf(fakePostgres),
      postgresPort: portOf(fakePostgres),
      env: {},
      write: () => {},
    });
    expect(found.redis).toBe(false);
  });

  it('in CI a missing service fails loudly instead', async () => {
    await expect(
      checkServices({ redisPort: portOf(fakeRedis), postgresPort: closedPort, env: { CI: 'true' } }),
    ).rejects.toThrow(
      `CI needs PostgreSQL at 127.0.0.1:${closedPort} (ECONNREFUSED): unreachable. Start the service; CI never skips these tests.`,
    );
  });
});
