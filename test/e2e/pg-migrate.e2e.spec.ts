import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore, migrateDatabase, type OpenedStore } from '../../src/engine/store/open-store';
import { migrationsList } from '../../src/engine/store/migrations';
import { createTestDatabase, type TestDatabase } from '../support/postgres';

// Replicas starting at the same moment on an empty database: one migrates, none fails.
describe('PostgreSQL migrations under an advisory lock', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase('ak_migrate');
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('four stores opening together on an empty database all succeed and each migration runs once', async () => {
    const results = await Promise.allSettled([1, 2, 3, 4].map(() => openStore({ url: db.url, migrate: true })));
    const opened = results.filter((r): r is PromiseFulfilledResult<OpenedStore> => r.status === 'fulfilled').map((r) => r.value);
    const failures = results.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason));
    try {
      expect(failures).toEqual([]);
      expect(opened).toHaveLength(4);
      const rows = await db.query<{ name: string; n: string }>('select name, count(*) as n from mikro_orm_migrations group by name order by name');
      expect(rows.map((r) => r.name)).toEqual(migrationsList.map((m) => m.name).sort());
      expect(rows.every((r) => Number(r.n) === 1)).toBe(true);
      // the stores work after the race
      const tables = await db.query<{ n: string }>("select count(*) as n from information_schema.tables where table_name = 'workflows'");
      expect(Number(tables[0].n)).toBe(1);
    } finally {
      await Promise.all(opened.map((o) => o.store.close()));
    }
  });

  it('a later migrate finds nothing pending', async () => {
    expect(await migrateDatabase(db.url)).toEqual([]);
  });
});
