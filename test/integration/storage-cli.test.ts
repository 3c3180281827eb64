import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/connect.js';
import { Store } from '../../src/db/store.js';
import { CredentialService } from '../../src/services/credentials.js';
import { SecretBox } from '../../src/services/secret-box.js';
import { killCliProcesses, spawnCli } from '../helpers/cli.js';
import { dropSchema, freshSchemaName, PG_URL, pgQuery, sqliteSpec } from '../helpers/postgres.js';
import { services } from '../helpers/services.js';

/** `switchyard migrate|teams|keys|usage|secrets` as a shell runs them (dist/), and migrations raced by processes. */

const dir = mkdtempSync(join(tmpdir(), 'sy-cli-'));
const schemas: string[] = [];
afterEach(killCliProcesses);
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  for (const s of schemas) await dropSchema(s);
});

async function run(args: string[], env: Record<string, string> = {}) {
  const p = spawnCli(args, env);
  const code = await p.exited;
  return { code, out: p.out(), err: p.err() };
}

describe('migrations raced by several processes', () => {
  it.skipIf(!services.postgres)(
    'PostgreSQL: four processes migrate one fresh schema at once; exactly one applies, all succeed',
    {
      timeout: 60_000,
    },
    async () => {
      const schema = freshSchemaName();
      schemas.push(schema);
      const cfg = join(dir, 'pg.yaml');
      writeFileSync(cfg, `database: { url: "${PG_URL}", schema: ${schema} }\n`);
      const results = await Promise.all([1, 2, 3, 4].map(() => run(['migrate', '--config', cfg])));
      expect(results.map((r) => r.code)).toEqual([0, 0, 0, 0]);
      const applied = results.filter((r) => r.err.includes('database migrated'));
      expect(applied).toHaveLength(1);
      const rows = await pgQuery<{ name: string }>(
        `select name from "${schema}".kysely_migration order by name`,
      );
      expect(rows.map((r) => r.name)).toEqual([
        '0001_core',
        '0002_responses',
        '0003_key_cache_namespaces',
        '0004_files_uploads_batches',
      ]);
    },
  );

  it('SQLite: four processes migrate one fresh file at once; exactly one applies, all succeed', {
    timeout: 60_000,
  }, async () => {
    const db = join(dir, 'race', 'switchyard.db');
    const results = await Promise.all([1, 2, 3, 4].map(() => run(['migrate'], { SWITCHYARD_DB_PATH: db })));
    expect(results.map((r) => r.code)).toEqual([0, 0, 0, 0]);
    expect(results.filter((r) => r.err.includes('database migrated'))).toHaveLength(1);
    const handle = await openDatabase(sqliteSpec(db));
    try {
      expect(await handle.migrate()).toEqual([]);
    } finally {
      await handle.close();
    }
  });
});

describe('administration commands', () => {
  const db = join(dir, 'admin', 'switchyard.db');
  const env = { SWITCHYARD_DB_PATH: db };

  it('teams, keys and usage', { timeout: 60_000 }, async () => {
    expect((await run(['teams', 'create', 'acme', '--name', 'Acme'], env)).code).toBe(0);
    const created = await run(
      [
        'keys',
        'create',
        '--team',
        'acme',
        '--tier',
        'pro',
        '--models',
        'mock,gpt-4o',
        '--cache-namespaces',
        'shared,org:faq',
      ],
      env,
    );
    expect(created.code).toBe(0);
    const key = JSON.parse(created.out) as Record<string, unknown>;
    expect(key).toMatchObject({
      team: 'acme',
      tier: 'pro',
      allowed_models: ['mock', 'gpt-4o'],
      cache_namespaces: ['shared', 'org:faq'],
      role: 'user',
    });
    expect(key.secret).toMatch(/^sk-sy-/);
    const listed = JSON.parse((await run(['keys', 'list', '--team', 'acme'], env)).out) as unknown[];
    expect(listed).toHaveLength(1);
    expect(JSON.stringify(listed)).not.toContain(key.secret as string);
    const revoked = JSON.parse((await run(['keys', 'revoke', key.id as string], env)).out) as Record<
      string,
      unknown
    >;
    expect(revoked.revoked_at).toEqual(expect.any(String));
    const usage = JSON.parse((await run(['usage', '--group-by', 'team,model'], env)).out) as Record<
      string,
      unknown
    >;
    expect(usage).toMatchObject({ group_by: ['team', 'model'], data: [] });
    const bad = await run(['keys', 'create'], env);
    expect([bad.code, bad.err.split('\n')[0]]).toEqual([2, 'switchyard keys: missing --team']);
    const badTier = await run(['keys', 'create', '--team', 'acme', '--tier', 'gold'], env);
    expect([badTier.code, badTier.err.trim()]).toEqual([
      1,
      "switchyard keys: Unknown tier 'gold'; tiers: free, pro, enterprise, unlimited. (invalid_tier)",
    ]);
    const badNs = await run(['keys', 'create', '--team', 'acme', '--cache-namespaces', 'a b'], env);
    expect([badNs.code, badNs.err.trim()]).toEqual([
      1,
      'switchyard keys: cache_namespaces entries must be "*" or 1 to 128 characters of letters, digits and . _ : @ / - (got "a b"). (invalid_cache_namespaces)',
    ]);
  });

  it('secrets rotate re-encrypts every stored key under the new SWITCHYARD_SECRET_KEY', {
    timeout: 60_000,
  }, async () => {
    const oldKey = 'old-secret-key-0123456789abcdef';
    const newKey = 'new-secret-key-0123456789abcdef';
    const noKey = await run(['secrets', 'add', '--provider', 'openai', '--value', 'sk-one-1111'], env);
    expect([noKey.code, noKey.err.trim()]).toEqual([
      1,
      'switchyard secrets: Stored credentials need SWITCHYARD_SECRET_KEY to be set on the gateway. (secret_key_missing)',
    ]);
    for (const v of ['sk-one-1111', 'sk-two-2222']) {
      const r = await run(['secrets', 'add', '--provider', 'openai', '--value', v], {
        ...env,
        SWITCHYARD_SECRET_KEY: oldKey,
      });
      expect(r.code).toBe(0);
      expect(r.out).not.toContain(v);
    }
    const rotated = await run(['secrets', 'rotate'], {
      ...env,
      SWITCHYARD_SECRET_KEY: newKey,
      SWITCHYARD_SECRET_KEY_PREVIOUS: oldKey,
    });
    expect(JSON.parse(rotated.out)).toEqual({ rotated: 2, current: 0, failed: [] });
    const again = await run(['secrets', 'rotate'], { ...env, SWITCHYARD_SECRET_KEY: newKey });
    expect(JSON.parse(again.out)).toEqual({ rotated: 0, current: 2, failed: [] });
    // Only the new key is needed now; the old one opens nothing.
    const handle = await openDatabase(sqliteSpec(db));
    try {
      const store = new Store(handle);
      const withNew = await new CredentialService(store, new SecretBox([newKey])).decryptAll();
      expect(withNew).toEqual(new Map([['openai', ['sk-one-1111', 'sk-two-2222']]]));
      const failed: string[] = [];
      await new CredentialService(store, new SecretBox([oldKey])).decryptAll((id) => failed.push(id));
      expect(failed).toHaveLength(2);
    } finally {
      await handle.close();
    }
  });
});
