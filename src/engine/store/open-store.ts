import { MikroORM, type Options } from '@mikro-orm/core';
import { Migrator } from '@mikro-orm/migrations';
import { SqliteDriver } from '@mikro-orm/sqlite';
import type { AbstractSqlDriver, Knex } from '@mikro-orm/knex';
import { KnexSqlClient, SqliteSqlClient, type SqlClient, type SqlDialect } from './sql-client';
import { migrationsList } from './migrations';
import { SqlStateStore } from './sql-state-store';

export interface OpenStoreOptions {
  /** a SQLite file path, `:memory:`, or a `postgresql://` URL */
  url: string;
  /** run pending migrations before returning (serve does; `migrate` does it explicitly) */
  migrate?: boolean;
  /** SQLite: how long a writer waits for another process's lock before failing */
  busyTimeoutMs?: number;
}

export function dialectOf(url: string): SqlDialect {
  return /^postgres(ql)?:\/\//i.test(url) ? 'postgresql' : 'sqlite';
}

async function initOrm(options: OpenStoreOptions): Promise<MikroORM> {
  const common: Partial<Options> = {
    entities: [],
    discovery: { warnWhenNoEntities: false },
    extensions: [Migrator],
    migrations: { migrationsList, transactional: true, allOrNothing: true, snapshot: false, silent: true },
    debug: false,
    allowGlobalContext: false,
  };
  if (dialectOf(options.url) === 'postgresql') {
    // Loaded lazily so SQLite-only installs never touch the pg driver.
    const { PostgreSqlDriver } = await import('@mikro-orm/postgresql');
    return MikroORM.init({ ...common, driver: PostgreSqlDriver, clientUrl: options.url, pool: { min: 1, max: 10 } } as Options);
  }
  const busyTimeout = options.busyTimeoutMs ?? 10_000;
  return MikroORM.init({
    ...common,
    driver: SqliteDriver,
    dbName: options.url,
    // One connection per process: SQLite has one writer anyway, and a single connection makes
    // in-process transactions naturally serial. WAL lets other processes read while we write.
    pool: {
      min: 1,
      max: 1,
      afterCreate: (conn: { exec(sql: string, cb: (err: Error | null) => void): void }, done: (err: Error | null, conn: unknown) => void) => {
        conn.exec(
          `PRAGMA journal_mode = WAL; PRAGMA busy_timeout = ${busyTimeout}; PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;`,
          (err) => done(err, conn),
        );
      },
    },
  } as Options);
}

export interface OpenedStore {
  store: SqlStateStore;
  orm: MikroORM;
}

/** Opens the database through MikroORM, optionally migrates it, and returns the StateStore. */
export async function openStore(options: OpenStoreOptions): Promise<OpenedStore> {
  const orm = await initOrm(options);
  try {
    if (options.migrate !== false) await orm.getMigrator().up();
    const driver = orm.em.getDriver() as unknown as AbstractSqlDriver;
    const knex = driver.getConnection().getKnex() as Knex;
    const client: SqlClient =
      dialectOf(options.url) === 'postgresql'
        ? new KnexSqlClient(knex, 'postgresql')
        : new SqliteSqlClient(knex.client as unknown as ConstructorParameters<typeof SqliteSqlClient>[0]);
    const store = new SqlStateStore(client, () => orm.close(true));
    return { store, orm };
  } catch (error) {
    await orm.close(true);
    throw error;
  }
}

/** `autokestra migrate`: applies pending migrations and reports which ran. */
export async function migrateDatabase(url: string): Promise<string[]> {
  const orm = await initOrm({ url });
  try {
    const applied = await orm.getMigrator().up();
    return applied.map((m) => m.name);
  } finally {
    await orm.close(true);
  }
}
