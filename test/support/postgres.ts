import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';

// `pg` comes with @mikro-orm/postgresql; it ships no types, so only what the tests use is typed.
interface PgClient {
  connect(): Promise<void>;
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<{ rows: T[] }>;
  end(): Promise<void>;
}
const { Client } = createRequire(__filename)('pg') as { Client: new (config: { connectionString: string }) => PgClient };

/** The PostgreSQL the tests run against (CI: 127.0.0.1:5432, trust auth). */
export const PG_ADMIN_URL = process.env.AUTOKESTRA_TEST_PG_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';

function urlFor(database: string): string {
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${database}`;
  return url.toString();
}

/** Runs statements on the admin database. */
export async function pgAdmin<T>(fn: (client: PgClient) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: PG_ADMIN_URL });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

export interface TestDatabase {
  name: string;
  url: string;
  /** a client on this database, for assertions */
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  drop(): Promise<void>;
}

/** A uniquely named, empty database; drop() removes it (terminating leftover connections). */
export async function createTestDatabase(prefix = 'ak_test'): Promise<TestDatabase> {
  const name = `${prefix}_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
  await pgAdmin((c) => c.query(`create database "${name}"`));
  const url = urlFor(name);
  return {
    name,
    url,
    async query<T>(sql: string, params?: unknown[]) {
      const client = new Client({ connectionString: url });
      await client.connect();
      try {
        return (await client.query<T>(sql, params)).rows;
      } finally {
        await client.end();
      }
    },
    drop: () => pgAdmin((c) => c.query(`drop database if exists "${name}" with (force)`)).then(() => undefined),
  };
}

/** The PostgreSQL leg of the suite (`vitest --project postgres`) sets this. */
export const PG_LEG = process.env.AUTOKESTRA_TEST_DATABASE === 'postgres';

/**
 * PG leg: one database per server directory, so servers that share a directory (a restart, two
 * processes on one store) share a database as they would share the SQLite file, and every other
 * server starts empty. The leg's setup file drops them after each test file.
 */
const legDatabases = new Map<string, Promise<TestDatabase>>();

export async function legDatabaseUrl(dir: string): Promise<string> {
  let db = legDatabases.get(dir);
  if (!db) {
    db = createTestDatabase('ak_leg');
    legDatabases.set(dir, db);
  }
  return (await db).url;
}

export async function dropLegDatabases(): Promise<void> {
  const all = [...legDatabases.values()];
  legDatabases.clear();
  await Promise.all(all.map(async (db) => (await db).drop()));
}
