import { MikroORM, type Options } from '@mikro-orm/core';
import { Migrator } from '@mikro-orm/migrations';
import { BetterSqliteDriver } from '@mikro-orm/better-sqlite';
import type { AbstractSqlDriver, Knex } from '@mikro-orm/knex';
import { PgSqlClient, SqliteSqlClient, type PgConnectionPool, type Sqlite3Database, type SqlClient, type SqlDialect } from './sql-client';
import { migrationsList } from './migrations';
import { SqlStateStore } from './sql-state-store';
import { pinSqliteNativeObjects } from './sqlite-native-guard';

// Before any connection exists, also for other code in this process that opens the SQLite file
// (see sqlite-native-guard.ts: on Node 24 a collected better-sqlite3 statement aborts the process).
pinSqliteNativeObjects();

export interface OpenStoreOptions {
  /** a SQLite file path, `:memory:`, or a `postgresql://` URL */
  url: string;
  /** run pending migrations before returning (serve does; `migrate` does it explicitly) */
  migrate?: boolean;
  /** SQLite: how long a writer waits for another process's lock before failing */
  busyTimeoutMs?: number;
  /** PostgreSQL: pool size (default 1..10) and `statement_timeout` per connection (0 = none) */
  pool?: { min: number; max: number };
  statementTimeoutMs?: number;
  /**
   * Where the driver's own messages go (knex prints connection errors with console.log, i.e. on
   * stdout: that would corrupt `autokestra mcp`'s protocol stream and bypass the JSON logs).
   */
  log?: (level: 'warn' | 'error' | 'debug', message: string) => void;
}

/**
 * The forms a URL's password can take in a driver's message (raw, percent-encoded, decoded),
 * so an error about the database never carries the secret that was in `database.url`.
 */
export function redactDatabaseSecrets(text: string, url: string): string {
  let password = '';
  try {
    password = new URL(url).password;
  } catch {
    const match = /^[a-z]+:\/\/[^:/@]*:([^@]*)@/i.exec(url);
    password = match?.[1] ?? '';
  }
  if (!password) return text;
  const forms = new Set([password, encodeURIComponent(password)]);
  try {
    forms.add(decodeURIComponent(password));
  } catch {
    /* not valid percent-encoding: the raw form is covered */
  }
  let out = text;
  for (const form of [...forms].filter((f) => f.length > 0).sort((a, b) => b.length - a.length)) out = out.split(form).join('***');
  return out;
}

function redactError(error: unknown, url: string): Error {
  const original = error instanceof Error ? error : new Error(String(error));
  const message = redactDatabaseSecrets(original.message, url);
  const redacted = new Error(message);
  redacted.name = original.name;
  // keep the driver's code (ECONNREFUSED, 28P01...) for callers; drop stack/cause that may embed the URL
  const code = (original as { code?: unknown }).code;
  if (code !== undefined) (redacted as { code?: unknown }).code = code;
  return redacted;
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
  const sink = options.log ?? (() => undefined);
  const log = (level: 'warn' | 'error' | 'debug', message: string) => sink(level, redactDatabaseSecrets(message, options.url));
  const driverLog = {
    log: {
      warn: (message: unknown) => log('warn', String(message)),
      error: (message: unknown) => log('error', String(message)),
      debug: (message: unknown) => log('debug', String(message)),
      deprecate: (method: unknown, alternative: unknown) => log('debug', `${String(method)} is deprecated, use ${String(alternative)}`),
    },
  };
  if (dialectOf(options.url) === 'postgresql') {
    // Loaded lazily so SQLite-only installs never touch the pg driver.
    const { PostgreSqlDriver } = await import('@mikro-orm/postgresql');
    const pool = options.pool ?? { min: 1, max: 10 };
    if (pool.min > pool.max) throw new Error(`database.pool.min (${pool.min}) must not exceed database.pool.max (${pool.max})`);
    const statementTimeout = options.statementTimeoutMs ?? 0;
    return MikroORM.init({
      ...common,
      driver: PostgreSqlDriver,
      clientUrl: options.url,
      pool: { min: pool.min, max: pool.max },
      // pg sets it per connection at connect time: a runaway statement cannot hold a connection for ever
      driverOptions: { ...driverLog, ...(statementTimeout > 0 ? { connection: { statement_timeout: statementTimeout } } : {}) },
    } as Options);
  }
  const busyTimeout = options.busyTimeoutMs ?? 10_000;
  return MikroORM.init({
    ...common,
    driver: BetterSqliteDriver,
    dbName: options.url,
    driverOptions: driverLog,
    // One connection per process: SQLite has one writer anyway. WAL lets other processes read
    // while we write; busy_timeout makes a writer wait for another process instead of failing.
    pool: {
      min: 1,
      max: 1,
      afterCreate: (conn: Sqlite3Database & { pragma(sql: string): unknown }, done: (err: Error | null, conn: unknown) => void) => {
        try {
          conn.pragma(`busy_timeout = ${busyTimeout}`);
          conn.pragma('journal_mode = WAL');
          conn.pragma('foreign_keys = ON');
          conn.pragma('synchronous = NORMAL');
          done(null, conn);
        } catch (error) {
          done(error as Error, conn);
        }
      },
    },
  } as Options);
}

/** Lock contention, or the migrator's own check-then-create of its table racing another process. */
function isStartupRace(error: unknown): boolean {
  const message = String((error as Error)?.message ?? error);
  return /database is locked|SQLITE_BUSY/i.test(message) || /mikro_orm_migrations.*already exists/i.test(message);
}

/**
 * Several processes may start at once on one new SQLite file (replicas, tests). SQLite answers
 * a transaction that must upgrade to writing while another process writes with an immediate
 * "database is locked" (waiting could deadlock), so opening and migrating are retried: one
 * process migrates, the others then find nothing pending.
 */
async function withLockRetry<T>(what: () => Promise<T>, attempts = 40): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await what();
    } catch (error) {
      if (!isStartupRace(error) || attempt >= attempts) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50 + Math.random() * 200));
    }
  }
}

export interface OpenedStore {
  store: SqlStateStore;
  orm: MikroORM;
}

/** Arbitrary but fixed: every Autokestra process on one database contends for this one key. */
const MIGRATION_LOCK_KEY = 7_412_053_019;

/**
 * Runs the migrator. On PostgreSQL the whole step holds a session advisory lock on a dedicated
 * pooled connection: replicas starting together on an empty database queue behind each other,
 * and each re-reads the pending list after acquiring (the migrator does that inside `up()`), so
 * exactly one applies the migrations and the others find nothing pending instead of racing on
 * `create table`. SQLite keeps its retry on "database is locked".
 */
async function runMigrations(orm: MikroORM, url: string): Promise<{ name: string }[]> {
  if (dialectOf(url) !== 'postgresql') return withLockRetry(() => orm.getMigrator().up());
  const knex = (orm.em.getDriver() as unknown as AbstractSqlDriver).getConnection().getKnex() as Knex;
  const pool = knex.client as unknown as {
    acquireConnection(): Promise<{ query(sql: string, params?: unknown[]): Promise<unknown> }>;
    releaseConnection(c: unknown): Promise<void>;
  };
  const connection = await pool.acquireConnection();
  try {
    await connection.query('select pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    try {
      return await orm.getMigrator().up();
    } finally {
      await connection.query('select pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]);
    }
  } finally {
    await pool.releaseConnection(connection);
  }
}

/** Opens the database through MikroORM, optionally migrates it, and returns the StateStore. */
export async function openStore(options: OpenStoreOptions): Promise<OpenedStore> {
  try {
    return await openStoreUnredacted(options);
  } catch (error) {
    throw redactError(error, options.url);
  }
}

async function openStoreUnredacted(options: OpenStoreOptions): Promise<OpenedStore> {
  const orm = await withLockRetry(() => initOrm(options));
  try {
    if (options.migrate !== false) await runMigrations(orm, options.url);
    const driver = orm.em.getDriver() as unknown as AbstractSqlDriver;
    const knex = driver.getConnection().getKnex() as Knex;
    let client: SqlClient;
    let release = async () => {};
    if (dialectOf(options.url) === 'postgresql') {
      client = new PgSqlClient(knex.client as unknown as PgConnectionPool);
    } else {
      // The engine keeps the ORM's single SQLite connection for itself after migrating: the hot
      // paths run prepared statements on it directly (hydrating entities costs 10-20x the query: docs/architecture.md).
      const pool = knex.client as unknown as { acquireConnection(): Promise<Sqlite3Database>; releaseConnection(c: Sqlite3Database): Promise<void> };
      const connection = await pool.acquireConnection();
      client = new SqliteSqlClient(connection);
      release = () => pool.releaseConnection(connection);
    }
    const store = new SqlStateStore(client, async () => {
      await release();
      await orm.close(true);
    });
    return { store, orm };
  } catch (error) {
    await orm.close(true);
    throw error;
  }
}

/** `autokestra migrate`: applies pending migrations and reports which ran. */
export async function migrateDatabase(url: string, options: Pick<OpenStoreOptions, 'pool' | 'statementTimeoutMs'> = {}): Promise<string[]> {
  try {
    const orm = await withLockRetry(() => initOrm({ url, ...options }));
    try {
      const applied = await runMigrations(orm, url);
      return applied.map((m) => m.name);
    } finally {
      await orm.close(true);
    }
  } catch (error) {
    throw redactError(error, url);
  }
}
