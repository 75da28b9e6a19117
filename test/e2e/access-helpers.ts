/**
 * Helpers shared by the issue-4 specs (managed API keys, scopes, audit, hardening): creating keys
 * through the admin API, reading the audit trail, and reading the SQLite file directly.
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
export const CREATED_KEY_FIELDS = [...KEY_FIELDS, 'key'].sort();

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

// ---- direct, read-only access to the SQLite file --------------------------------------------------

interface Statement {
  all(...params: unknown[]): Record<string, unknown>[];
  get(...params: unknown[]): Record<string, unknown> | undefined;
}
export interface ReadOnlyDb {
  prepare(sql: string): Statement;
  close(): void;
}

const requireCjs = createRequire(__filename);

/** Opens the server's SQLite file read-only (WAL: committed rows of the live server are visible). */
export function openDb(path: string): ReadOnlyDb {
  const Database = requireCjs('better-sqlite3') as new (file: string, options: { readonly: boolean; fileMustExist: boolean }) => ReadOnlyDb;
  return new Database(path, { readonly: true, fileMustExist: true });
}

export function tableRows(path: string, table: 'api_keys' | 'audit_events'): Record<string, unknown>[] {
  const db = openDb(path);
  try {
    return db.prepare(`select * from ${table}`).all();
  } finally {
    db.close();
  }
}

/** Every column of every row, as one string (to search for a secret anywhere). */
export function dumpTable(path: string, table: 'api_keys' | 'audit_events'): string {
  return tableRows(path, table)
    .map((row) => Object.values(row).map((v) => String(v)).join('\u0001'))
    .join('\n');
}
