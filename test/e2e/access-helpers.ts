/**
 * Helpers shared by the issue-4 specs (managed API keys, scopes, audit, hardening): creating keys
 * through the admin API, reading the audit trail, and reading the store directly (SQLite or PostgreSQL).
 */
import { createRequire } from 'node:module';
import { expect } from 'vitest';
import { generateApiKey } from '../../src/engine/access/key-format';
import { SCOPES } from '../../src/engine/access/scopes';
import type { TestResponse, TestServer } from '../support/server';

/** Every scope the server knows: the matrix covers new scopes automatically. */
export const ALL_SCOPES = SCOPES;

/** Exactly the fields of a key in responses (the plaintext `key` only at creation/rotation). */
export const KEY_FIELDS = ['createdAt', 'enabled', 'expiresAt', 'id', 'label', 'lastUsedAt', 'namespaces', 'prefix', 'rateLimit', 'revokedAt', 'scopes'];
/** create's 201: the key, `created: true` and the plaintext; rotate's 201 has no `created` */
export const CREATED_KEY_FIELDS = [...KEY_FIELDS, 'created', 'key'].sort();
export const ROTATED_KEY_FIELDS = [...KEY_FIELDS, 'key'].sort();
/** an idempotent create's 200: the existing key with `created: false` */
export const EXISTING_KEY_FIELDS = [...KEY_FIELDS, 'created'].sort();

export const AUDIT_FIELDS = ['action', 'actor', 'at', 'details', 'id', 'ip', 'namespace', 'outcome', 'resourceId', 'resourceType'];

export const KEY_SHAPE = /^ak_[0-9A-Za-z]{38}$/;
/** any managed key anywhere in a text */
export const KEY_IN_TEXT = /ak_[0-9A-Za-z]{38}/g;

export interface CreatedKey {
  id: string;
  key: string;
  prefix: string;
  label: string | null;
  scopes: string[];
  namespaces: string[] | null;
  expiresAt: string | null;
  enabled: boolean;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
  rateLimit: { requests: number; window: string } | null;
}

let labels = 0;
export function uniqueLabel(prefix = 'key'): string {
  labels += 1;
  return `${prefix}-${Date.now().toString(36)}-${labels}-${Math.random().toString(36).slice(2, 6)}`;
}

/** POST /api/v1/api-keys as `as` (the static admin key by default); asserts the 201. */
export async function createKey(server: Pick<TestServer, 'request'>, body: Record<string, unknown>, as?: string): Promise<CreatedKey> {
  const res = await server.request('POST', '/api/v1/api-keys', { body: { label: uniqueLabel(), ...body }, auth: as });
  expect(res.status, res.text).toBe(201);
  expect(res.body.key, res.text).toMatch(KEY_SHAPE);
  return res.body as CreatedKey;
}

/** A key of the right shape and checksum that no server knows. */
export function unknownWellFormedKey(): string {
  return generateApiKey().key;
}

/** A managed-looking key whose last checksum character is wrong. */
export function badChecksumKey(): string {
  const key = generateApiKey().key;
  return key.slice(0, -1) + (key.at(-1) === 'A' ? 'B' : 'A');
}

export async function audit(server: Pick<TestServer, 'request'>, query = ''): Promise<any[]> {
  const res = await server.request('GET', `/api/v1/audit?limit=500${query ? `&${query}` : ''}`);
  expect(res.status, res.text).toBe(200);
  return res.body.items;
}

/** Every audit event (pages through the whole trail), newest first. */
export async function allAudit(server: Pick<TestServer, 'request'>, query = ''): Promise<any[]> {
  const items: any[] = [];
  for (let offset = 0; ; offset += 500) {
    const res = await server.request('GET', `/api/v1/audit?limit=500&offset=${offset}${query ? `&${query}` : ''}`);
    expect(res.status, res.text).toBe(200);
    items.push(...res.body.items);
    if (!res.body.hasMore) return items;
  }
}

/** Polls the audit trail (written in batches) until `predicate` finds what it needs. */
export async function waitForAudit(server: Pick<TestServer, 'request'>, query: string, predicate: (items: any[]) => boolean, timeoutMs = 5000): Promise<any[]> {
  const deadline = Date.now() + timeoutMs;
  let items: any[] = [];
  while (Date.now() < deadline) {
    items = await audit(server, query);
    if (predicate(items)) return items;
    await new Promise((r) => setTimeout(r, 50));
  }
  return items;
}

export function expectForbidden(res: TestResponse, requiredScopes?: string[]): void {
  const context = `${res.status} ${res.text}`;
  expect(res.status, context).toBe(403);
  expect(res.body?.error?.code, context).toBe('FORBIDDEN');
  if (requiredScopes) expect(res.body.error.details?.requiredScopes, context).toEqual(requiredScopes);
}

// ---- direct access to the server's store (SQLite file or PostgreSQL database) -------------------

type Row = Record<string, unknown>;

interface SqliteDb {
  prepare(sql: string): { all(...params: unknown[]): Row[]; run(...params: unknown[]): unknown };
  close(): void;
}

// `pg` ships no types: only what these helpers use.
interface PgField {
  name: string;
  dataTypeID: number;
}
interface PgClient {
  connect(): Promise<void>;
  query(sql: string, params?: unknown[]): Promise<{ rows: Row[]; fields: PgField[] }>;
  end(): Promise<void>;
}

const requireCjs = createRequire(__filename);

/** The server's database: a SQLite path (sqlite leg) or a `postgresql://` URL (PG leg) — `server.databaseUrl`. */
export function isPostgresUrl(database: string): boolean {
  return /^postgres(ql)?:\/\//i.test(database);
}

/** PostgreSQL int8 (the `bigint` millisecond columns); `pg` returns it as a string, SQLite as a number. */
const PG_INT8 = 20;

/**
 * PostgreSQL rows in the shapes SQLite returns, so one assertion holds on both: int8 → number
 * (every bigint column is an epoch-ms timestamp, far below 2^53). The schema has no boolean, json
 * or timestamp column (booleans are `integer` 0/1, JSON is `text`), so nothing else differs.
 */
function sqliteShaped(rows: Row[], fields: PgField[]): Row[] {
  const int8 = fields.filter((f) => f.dataTypeID === PG_INT8).map((f) => f.name);
  if (int8.length === 0) return rows;
  return rows.map((row) => {
    const out = { ...row };
    for (const name of int8) if (out[name] !== null && out[name] !== undefined) out[name] = Number(out[name]);
    return out;
  });
}

/** `?` placeholders (the SQLite form) → `$1, $2, …` (PostgreSQL); the helpers' SQL has no `?` in literals. */
function pgPlaceholders(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

async function onPg<T>(url: string, fn: (client: PgClient) => Promise<T>): Promise<T> {
  const { Client } = requireCjs('pg') as { Client: new (config: { connectionString: string }) => PgClient };
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/**
 * Runs one statement on the server's database and returns its rows (SQLite shapes on both
 * stores). SQLite opens the file read-only unless `write`: in WAL mode the committed rows of the
 * live server are visible either way.
 */
export async function queryDb(database: string, sql: string, params: unknown[] = [], options: { write?: boolean } = {}): Promise<Row[]> {
  if (isPostgresUrl(database)) {
    return onPg(database, async (client) => {
      const res = await client.query(pgPlaceholders(sql), params);
      return sqliteShaped(res.rows ?? [], res.fields ?? []);
    });
  }
  const Database = requireCjs('better-sqlite3') as new (file: string, options: { readonly: boolean; fileMustExist: boolean }) => SqliteDb;
  const db = new Database(database, { readonly: !options.write, fileMustExist: true });
  try {
    const statement = db.prepare(sql);
    if (options.write) {
      statement.run(...params);
      return [];
    }
    return statement.all(...params);
  } finally {
    db.close();
  }
}

/** Every row of a table, as SQLite returns them (the PG leg's rows are normalized to the same shapes). */
export function tableRows(database: string, table: 'api_keys' | 'audit_events'): Promise<Row[]> {
  return queryDb(database, `select * from ${table}`);
}

/** Every column of every row, as one string (to search for a secret anywhere). */
export async function dumpTable(database: string, table: 'api_keys' | 'audit_events'): Promise<string> {
  return (await tableRows(database, table))
    .map((row) => Object.values(row).map((v) => String(v)).join('\u0001'))
    .join('\n');
}
