import type { Knex } from '@mikro-orm/knex';

export type SqlDialect = 'sqlite' | 'postgresql';
export type SqlParam = string | number | bigint | boolean | null | Buffer;

/**
 * Raw SQL over the ORM's own connection pool. Entities and migrations go through MikroORM; the
 * hot paths (reads by id, claiming, logs) come here because hydrating entities costs ~10-20x
 * the query itself (see STACK.md). Placeholders are `?` for every dialect (knex rewrites them).
 */
export interface SqlClient {
  readonly dialect: SqlDialect;
  all<T = Record<string, unknown>>(sql: string, params?: readonly SqlParam[]): Promise<T[]>;
  get<T = Record<string, unknown>>(sql: string, params?: readonly SqlParam[]): Promise<T | undefined>;
  /** runs a statement and returns how many rows it changed */
  run(sql: string, params?: readonly SqlParam[]): Promise<number>;
  /**
   * Runs `fn` in one transaction. On SQLite, start write transactions with a write so the
   * write lock is taken up front (a deferred read-then-write upgrade can fail with SQLITE_BUSY).
   */
  transaction<T>(fn: (tx: SqlClient) => Promise<T>): Promise<T>;
}

/** PostgreSQL (and any knex dialect whose raw() returns `{rows, rowCount}`). */
export class KnexSqlClient implements SqlClient {
  constructor(
    private readonly knex: Knex | Knex.Transaction,
    readonly dialect: SqlDialect,
  ) {}

  async all<T>(sql: string, params: readonly SqlParam[] = []): Promise<T[]> {
    const result = await this.knex.raw(sql, params as Knex.RawBinding[]);
    return result.rows as T[];
  }

  async get<T>(sql: string, params: readonly SqlParam[] = []): Promise<T | undefined> {
    const rows = await this.all<T>(sql, params);
    return rows[0];
  }

  async run(sql: string, params: readonly SqlParam[] = []): Promise<number> {
    const result = await this.knex.raw(sql, params as Knex.RawBinding[]);
    return Number(result.rowCount ?? 0);
  }

  transaction<T>(fn: (tx: SqlClient) => Promise<T>): Promise<T> {
    return this.knex.transaction((trx) => fn(new KnexSqlClient(trx, this.dialect)));
  }
}

/** The subset of node-sqlite3's Database that we use. */
interface Sqlite3Connection {
  all(sql: string, params: readonly SqlParam[], cb: (err: Error | null, rows: unknown[]) => void): void;
  run(sql: string, params: readonly SqlParam[], cb: (this: { changes: number }, err: Error | null) => void): void;
}

interface ConnectionPool {
  acquireConnection(): Promise<Sqlite3Connection>;
  releaseConnection(conn: Sqlite3Connection): Promise<void> | void;
}

/**
 * SQLite through the ORM's single pooled sqlite3 connection, without knex's query layer
 * (which rewrites `delete ... returning` results and costs time per call). Holding the pooled
 * connection for a transaction makes in-process transactions serial, which SQLite needs anyway.
 */
export class SqliteSqlClient implements SqlClient {
  readonly dialect = 'sqlite' as const;

  constructor(
    private readonly pool: ConnectionPool,
    /** set inside a transaction: statements reuse the held connection */
    private readonly held?: Sqlite3Connection,
  ) {}

  private async withConnection<T>(fn: (conn: Sqlite3Connection) => Promise<T>): Promise<T> {
    if (this.held) return fn(this.held);
    const conn = await this.pool.acquireConnection();
    try {
      return await fn(conn);
    } finally {
      await this.pool.releaseConnection(conn);
    }
  }

  all<T>(sql: string, params: readonly SqlParam[] = []): Promise<T[]> {
    return this.withConnection((conn) => allOn<T>(conn, sql, params));
  }

  async get<T>(sql: string, params: readonly SqlParam[] = []): Promise<T | undefined> {
    return (await this.all<T>(sql, params))[0];
  }

  run(sql: string, params: readonly SqlParam[] = []): Promise<number> {
    return this.withConnection((conn) => runOn(conn, sql, params));
  }

  transaction<T>(fn: (tx: SqlClient) => Promise<T>): Promise<T> {
    if (this.held) return fn(this); // nested: join the outer transaction
    return this.withConnection(async (conn) => {
      // IMMEDIATE takes the write lock up front (waiting on busy_timeout), so a transaction
      // never fails half-way with SQLITE_BUSY when it upgrades from reading to writing.
      await runOn(conn, 'begin immediate', []);
      try {
        const result = await fn(new SqliteSqlClient(this.pool, conn));
        await runOn(conn, 'commit', []);
        return result;
      } catch (error) {
        await runOn(conn, 'rollback', []).catch(() => undefined);
        throw error;
      }
    });
  }
}

function allOn<T>(conn: Sqlite3Connection, sql: string, params: readonly SqlParam[]): Promise<T[]> {
  return new Promise((resolve, reject) => conn.all(sql, params, (err, rows) => (err ? reject(err) : resolve(rows as T[]))));
}

function runOn(conn: Sqlite3Connection, sql: string, params: readonly SqlParam[]): Promise<number> {
  return new Promise((resolve, reject) =>
    conn.run(sql, params, function (err) {
      if (err) reject(err);
      else resolve(this.changes);
    }),
  );
}

/** JSON columns are TEXT on every dialect: portable, and the engine never queries inside them. */
export function toJson(value: unknown): string {
  return JSON.stringify(value ?? null);
}

export function fromJson<T>(text: unknown): T {
  return (typeof text === 'string' ? JSON.parse(text) : text) as T;
}

/** BIGINT columns come back as strings from pg; epoch milliseconds fit a double exactly. */
export function toMillis(value: unknown): number {
  return typeof value === 'number' ? value : Number(value);
}

export function toMillisOrNull(value: unknown): number | null {
  return value === null || value === undefined ? null : toMillis(value);
}
