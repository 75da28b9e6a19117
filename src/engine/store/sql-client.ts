export type SqlDialect = 'sqlite' | 'postgresql';
export type SqlParam = string | number | bigint | boolean | null | Buffer;
export interface SqlStatement {
  sql: string;
  params: readonly SqlParam[];
}

/**
 * Raw SQL over the ORM's own connection pool. Entities and migrations go through MikroORM; the
 * hot paths (reads by id, claiming, logs) come here because hydrating entities costs ~10-20x
 * the query itself (docs/architecture.md). Placeholders are `?` for every dialect (rewritten for PostgreSQL).
 */
export interface SqlClient {
  readonly dialect: SqlDialect;
  all<T = Record<string, unknown>>(sql: string, params?: readonly SqlParam[]): Promise<T[]>;
  get<T = Record<string, unknown>>(sql: string, params?: readonly SqlParam[]): Promise<T | undefined>;
  /** runs a statement and returns how many rows it changed */
  run(sql: string, params?: readonly SqlParam[]): Promise<number>;
  /** applies several writes atomically; returns the rows each changed */
  writeBatch(statements: readonly SqlStatement[]): Promise<number[]>;
  /**
   * Runs `fn` in one transaction. On SQLite, start write transactions with a write so the
   * write lock is taken up front (a deferred read-then-write upgrade can fail with SQLITE_BUSY).
   */
  transaction<T>(fn: (tx: SqlClient) => Promise<T>): Promise<T>;
}

/** The part of a node-postgres client this store uses (the ORM's pool hands them out). */
export interface PgConnection {
  query(config: { text: string; values?: unknown[]; name?: string }): Promise<{ rows: unknown[]; rowCount: number | null }>;
}

/** The ORM's (knex's) connection pool: the same connections, settings and outage handling. */
export interface PgConnectionPool {
  acquireConnection(): Promise<PgConnection>;
  releaseConnection(connection: PgConnection): Promise<unknown>;
}

/** How many distinct statements get a server-side prepared statement per connection. */
const MAX_PREPARED_STATEMENTS = 256;

/**
 * `?` placeholders rewritten to `$1..$n` once per SQL text, each text with a prepared-statement
 * name: PostgreSQL then parses and plans a hot statement once per connection instead of on
 * every call (the parse/plan is most of the server's CPU for a point query). Texts past the
 * cap (dynamic filters) run unnamed, so a connection never accumulates unbounded statements.
 */
class PgStatementCache {
  private readonly statements = new Map<string, { text: string; name?: string }>();

  get(sql: string): { text: string; name?: string } {
    let statement = this.statements.get(sql);
    if (!statement) {
      let n = 0;
      // knex's rule for raw SQL, kept so the text means what it meant: `\?` is a literal `?`
      const text = sql.replace(/\\\?|\?/g, (match) => (match === '?' ? `$${++n}` : '?'));
      if (this.statements.size >= MAX_PREPARED_STATEMENTS) return { text }; // unnamed, and not kept: the cache stays bounded
      statement = { text, name: `ak_${this.statements.size}` };
      this.statements.set(sql, statement);
    }
    return statement;
  }
}

/**
 * PostgreSQL through node-postgres on the ORM's pool, without knex's query builder on the hot
 * path (its per-query and per-transaction bookkeeping was ~10 % of a replica's CPU, and every
 * statement was parsed and planned again by the server).
 */
export class PgSqlClient implements SqlClient {
  readonly dialect: SqlDialect = 'postgresql';

  constructor(
    private readonly pool: PgConnectionPool,
    private readonly statements = new PgStatementCache(),
    /** set inside a transaction: every statement runs on this connection */
    private readonly connection?: PgConnection,
  ) {}

  private async query(sql: string, params: readonly SqlParam[]): Promise<{ rows: unknown[]; rowCount: number | null }> {
    const { text, name } = this.statements.get(sql);
    const config = { text, values: params as unknown[], name };
    if (this.connection) return this.connection.query(config);
    const connection = await this.pool.acquireConnection();
    try {
      return await connection.query(config);
    } finally {
      await this.pool.releaseConnection(connection);
    }
  }

  async all<T>(sql: string, params: readonly SqlParam[] = []): Promise<T[]> {
    return (await this.query(sql, params)).rows as T[];
  }

  async get<T>(sql: string, params: readonly SqlParam[] = []): Promise<T | undefined> {
    return (await this.query(sql, params)).rows[0] as T | undefined;
  }

  async run(sql: string, params: readonly SqlParam[] = []): Promise<number> {
    return Number((await this.query(sql, params)).rowCount ?? 0);
  }

  async transaction<T>(fn: (tx: SqlClient) => Promise<T>): Promise<T> {
    if (this.connection) return this.nested(fn);
    const connection = await this.pool.acquireConnection();
    try {
      await connection.query({ text: 'BEGIN' });
      try {
        const result = await fn(new PgSqlClient(this.pool, this.statements, connection));
        await connection.query({ text: 'COMMIT' });
        return result;
      } catch (error) {
        await connection.query({ text: 'ROLLBACK' }).catch(() => undefined);
        throw error;
      }
    } finally {
      await this.pool.releaseConnection(connection);
    }
  }

  /** A transaction inside a transaction is a savepoint (as knex did it). */
  private async nested<T>(fn: (tx: SqlClient) => Promise<T>): Promise<T> {
    const connection = this.connection!;
    await connection.query({ text: 'SAVEPOINT ak_nested' });
    try {
      const result = await fn(this);
      await connection.query({ text: 'RELEASE SAVEPOINT ak_nested' });
      return result;
    } catch (error) {
      await connection.query({ text: 'ROLLBACK TO SAVEPOINT ak_nested' }).catch(() => undefined);
      throw error;
    }
  }

  async writeBatch(statements: readonly SqlStatement[]): Promise<number[]> {
    // one statement is atomic by itself: no BEGIN/COMMIT round trips
    if (statements.length === 1) return [await this.run(statements[0].sql, statements[0].params)];
    return this.transaction(async (tx) => {
      const changes: number[] = [];
      for (const s of statements) changes.push(await tx.run(s.sql, s.params));
      return changes;
    });
  }
}

/** The subset of better-sqlite3 that we use. */
interface Sqlite3Statement {
  readonly reader: boolean;
  /** true when the statement does not modify the database */
  readonly readonly: boolean;
  all(...params: unknown[]): unknown[];
  run(...params: unknown[]): { changes: number };
}
export interface Sqlite3Database {
  prepare(sql: string): Sqlite3Statement;
  exec(sql: string): void;
  readonly inTransaction: boolean;
}

/**
 * First-come-first-served ownership of the single connection. Statements run synchronously
 * when nobody holds it (the common case: no promise hop); while a transaction holds it (it may
 * await between statements) everyone queues in arrival order, so neither side starves.
 */
class ConnectionLock {
  private locked = false;
  private readonly waiters: (() => void)[] = [];

  get free(): boolean {
    return !this.locked && this.waiters.length === 0;
  }

  /** takes the connection if nobody holds or waits for it */
  tryAcquire(): boolean {
    if (!this.free) return false;
    this.locked = true;
    return true;
  }

  acquire(): Promise<void> {
    if (this.free) {
      this.locked = true;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** hands the connection to the next waiter, or frees it */
  release(): void {
    const next = this.waiters.shift();
    if (next) next();
    else this.locked = false;
  }
}

// Only bounds this map: better-sqlite3's statements themselves are interned for the life of the
// process (sqlite-native-guard.ts), so clearing it frees nothing and re-preparing is a map lookup.
const MAX_CACHED_STATEMENTS = 500;

function bindable(params: readonly SqlParam[]): unknown[] {
  return params.map((p) => (p === true ? 1 : p === false ? 0 : p === undefined ? null : p));
}

/**
 * SQLite through the ORM's own better-sqlite3 connection with cached prepared statements.
 * A point query costs a few microseconds synchronously, where an async driver pays a thread-pool
 * round trip per statement and serializes them anyway (SQLite has one writer).
 * While a transaction is open (it may await between statements) every other statement of the
 * process waits, so nothing joins someone else's transaction by accident.
 */
interface PendingWrite {
  statements: readonly SqlStatement[];
  /** `all` returns rows (writes with RETURNING); `run` returns changed-row counts */
  mode: 'all' | 'run';
  resolve(result: unknown): void;
  reject(error: unknown): void;
}

/** Writes queued for the next group commit, shared by every client on one connection. */
class WriteQueue {
  pending: PendingWrite[] = [];
  scheduled = false;
}

export class SqliteSqlClient implements SqlClient {
  readonly dialect = 'sqlite' as const;

  constructor(
    private readonly db: Sqlite3Database,
    private readonly lock = new ConnectionLock(),
    private readonly statements = new Map<string, Sqlite3Statement>(),
    private readonly insideTransaction = false,
    private readonly writes = new WriteQueue(),
  ) {}

  /**
   * Group commit: writes issued outside an explicit transaction are queued and applied together
   * in one transaction on the next turn of the event loop. A commit (WAL append) costs far more
   * than the statement; with many executions in flight this turns thousands of commits per
   * second into a few hundred. Each queued write resolves only after its commit.
   */
  private enqueueWrite<T>(statements: readonly SqlStatement[], mode: 'all' | 'run'): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.writes.pending.push({ statements, mode, resolve: resolve as (r: unknown) => void, reject });
      if (!this.writes.scheduled) {
        this.writes.scheduled = true;
        setImmediate(() => void this.flushWrites());
      }
    });
  }

  private async flushWrites(): Promise<void> {
    this.writes.scheduled = false;
    const batch = this.writes.pending;
    this.writes.pending = [];
    if (batch.length === 0) return;
    if (!this.lock.tryAcquire()) await this.lock.acquire();
    const outcomes: { ok: boolean; value: unknown }[] = [];
    try {
      this.db.exec('BEGIN IMMEDIATE');
      for (const write of batch) {
        // several statements of one write stay atomic through a savepoint; a single statement
        // is atomic by itself (a failing statement is undone, the transaction goes on)
        const savepoint = write.statements.length > 1;
        if (savepoint) this.db.exec('SAVEPOINT w');
        try {
          const value =
            write.mode === 'all'
              ? this.execAll(write.statements[0].sql, write.statements[0].params)
              : write.statements.map((st) => this.execRun(st.sql, st.params));
          if (savepoint) this.db.exec('RELEASE w');
          outcomes.push({ ok: true, value });
        } catch (error) {
          if (savepoint) this.db.exec('ROLLBACK TO w; RELEASE w');
          outcomes.push({ ok: false, value: error });
        }
      }
      this.db.exec('COMMIT');
    } catch (error) {
      if (this.db.inTransaction) this.db.exec('ROLLBACK');
      this.lock.release();
      for (const write of batch) write.reject(error);
      return;
    }
    this.lock.release();
    batch.forEach((write, i) => (outcomes[i].ok ? write.resolve(outcomes[i].value) : write.reject(outcomes[i].value)));
  }

  writeBatch(statements: readonly SqlStatement[]): Promise<number[]> {
    if (this.insideTransaction) return Promise.resolve(statements.map((st) => this.execRun(st.sql, st.params)));
    return this.enqueueWrite<number[]>(statements, 'run');
  }

  private statement(sql: string): Sqlite3Statement {
    let statement = this.statements.get(sql);
    if (!statement) {
      if (this.statements.size >= MAX_CACHED_STATEMENTS) this.statements.clear();
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }

  private execAll<T>(sql: string, params: readonly SqlParam[]): T[] {
    const statement = this.statement(sql);
    if (statement.reader) return statement.all(...bindable(params)) as T[];
    statement.run(...bindable(params));
    return [];
  }

  private execRun(sql: string, params: readonly SqlParam[]): number {
    const statement = this.statement(sql);
    if (statement.reader) return statement.all(...bindable(params)).length;
    return statement.run(...bindable(params)).changes;
  }

  async all<T>(sql: string, params: readonly SqlParam[] = []): Promise<T[]> {
    if (this.insideTransaction) return this.execAll<T>(sql, params);
    if (!this.statement(sql).readonly) return this.enqueueWrite<T[]>([{ sql, params }], 'all');
    if (this.lock.free) return this.execAll<T>(sql, params);
    await this.lock.acquire();
    try {
      return this.execAll<T>(sql, params);
    } finally {
      this.lock.release();
    }
  }

  async get<T>(sql: string, params: readonly SqlParam[] = []): Promise<T | undefined> {
    return (await this.all<T>(sql, params))[0];
  }

  async run(sql: string, params: readonly SqlParam[] = []): Promise<number> {
    if (this.insideTransaction) return this.execRun(sql, params);
    if (!this.statement(sql).readonly) return (await this.enqueueWrite<number[]>([{ sql, params }], 'run'))[0];
    if (this.lock.free) return this.execRun(sql, params);
    await this.lock.acquire();
    try {
      return this.execRun(sql, params);
    } finally {
      this.lock.release();
    }
  }

  async transaction<T>(fn: (tx: SqlClient) => Promise<T>): Promise<T> {
    if (this.insideTransaction) return fn(this); // nested: join the outer transaction
    await this.lock.acquire();
    try {
      // IMMEDIATE takes the write lock up front (waiting up to busy_timeout for other
      // processes), so a transaction never fails half-way when it upgrades to writing.
      this.db.exec('BEGIN IMMEDIATE');
      try {
        const result = await fn(new SqliteSqlClient(this.db, this.lock, this.statements, true, this.writes));
        this.db.exec('COMMIT');
        return result;
      } catch (error) {
        if (this.db.inTransaction) this.db.exec('ROLLBACK');
        throw error;
      }
    } finally {
      this.lock.release();
    }
  }
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
