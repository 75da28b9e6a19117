import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore, migrateDatabase } from '../../src/engine/store/open-store';
import { loadConfig } from '../../src/common/config/load-config';
import { TEST_CONFIG } from '../support/server';
import { createTestDatabase, type TestDatabase } from '../support/postgres';

describe('PostgreSQL settings: pool, statement timeout, secrets in the URL', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase('ak_cfg');
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('database.pool and database.statementTimeoutMs load from env and are validated', () => {
    const config = loadConfig({
      file: TEST_CONFIG,
      env: { AUTOKESTRA_DATABASE_POOL_MIN: '2', AUTOKESTRA_DATABASE_POOL_MAX: '7', AUTOKESTRA_DATABASE_STATEMENT_TIMEOUT_MS: '1500' },
    });
    expect(config.database.pool).toEqual({ min: 2, max: 7 });
    expect(config.database.statementTimeoutMs).toBe(1500);
    expect(() => loadConfig({ file: TEST_CONFIG, env: { AUTOKESTRA_DATABASE_POOL_MAX: '1' } })).toThrow(/database\.pool\.max/);
    expect(() => loadConfig({ file: TEST_CONFIG, env: { AUTOKESTRA_DATABASE_STATEMENT_TIMEOUT_MS: 'soon' } })).toThrow(
      /AUTOKESTRA_DATABASE_STATEMENT_TIMEOUT_MS must be an integer/,
    );
  });

  it('statement_timeout is set on the pool connections: a longer statement is cancelled', async () => {
    const opened = await openStore({ url: db.url, statementTimeoutMs: 300, pool: { min: 1, max: 3 } });
    try {
      const connection = opened.orm.em.getConnection();
      const setting = await connection.execute<{ statement_timeout: string }[]>('show statement_timeout');
      expect(setting[0].statement_timeout).toBe('300ms');
      await expect(connection.execute('select pg_sleep(2)')).rejects.toThrow(/statement timeout/);
    } finally {
      await opened.store.close();
    }
  });

  it('a URL with a password that cannot connect fails without the password in the error, in any encoding', async () => {
    const password = 'Sup3r s3cret/p@ss';
    const encoded = encodeURIComponent(password);
    for (const url of [`postgresql://postgres:${encoded}@127.0.0.1:1/${db.name}`, `postgresql://postgres:${encoded}@no-such-host.invalid:5432/x`]) {
      for (const attempt of [() => openStore({ url }), () => migrateDatabase(url)]) {
        const error = await attempt().then(
          () => null,
          (e: unknown) => e as Error,
        );
        expect(error, url).not.toBeNull();
        const text = `${error!.message}\n${error!.stack ?? ''}\n${JSON.stringify(error)}`;
        for (const form of [password, encoded, 'Sup3r', 's3cret']) expect(text).not.toContain(form);
      }
    }
  });
});

describe('serve on PostgreSQL with a password in the URL', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase('ak_cfgserve');
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('serve runs on it and its output never carries the password (trust auth ignores it)', async () => {
    const { spawnTestServe, stopProcess } = await import('../support/cli');
    const url = `postgresql://postgres:${encodeURIComponent('banner-s3cret')}@127.0.0.1:5432/${db.name}`;
    const served = await spawnTestServe({ AUTOKESTRA_DATABASE_URL: url });
    try {
      const ready = await fetch(`${served.url}/health/ready`);
      expect(ready.status).toBe(200);
      expect(served.output()).not.toContain('banner-s3cret');
    } finally {
      await stopProcess(served.child);
    }
  });
});
