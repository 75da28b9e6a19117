/**
 * Managed API keys over HTTP (issue 4, DESIGN §7): creation (plaintext once, SHA-256 only in the
 * store), list/get/patch/revoke/rotate, 401 codes, expiry, lastUsedAt, caching across processes,
 * and no escalation.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sleep, startTestServer, type TestServer } from '../support/server';
import {
  badChecksumKey,
  createKey,
  CREATED_KEY_FIELDS,
  EXISTING_KEY_FIELDS,
  ROTATED_KEY_FIELDS,
  expectForbidden,
  KEY_FIELDS,
  KEY_SHAPE,
  tableRows,
  uniqueLabel,
  unknownWellFormedKey,
  waitForAudit,
} from './access-helpers';
import { expectError, sha256hex, uniqueId, workflowYaml } from './helpers';

const STATUS = '/api/v1/status';

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer({
    configure: (c) => {
      // many deliberate 401s in this file: the failed-auth limiter is tested in hardening.e2e
      c.auth.failedAttemptsLimit = 100_000;
    },
  });
});
afterAll(async () => {
  await server?.close();
});

async function getKey(id: string): Promise<any> {
  const res = await server.request('GET', `/api/v1/api-keys/${id}`);
  expect(res.status, res.text).toBe(200);
  return res.body;
}

async function status(key: string) {
  return server.request('GET', STATUS, { auth: key });
}

describe('POST /api/v1/api-keys', () => {
  it('creates a key: 201, every field, the plaintext once, Cache-Control: no-store', async () => {
    const label = uniqueLabel('create');
    const expiresAt = new Date(Date.now() + 86_400_000).toISOString();
    const before = Date.now();
    const res = await server.request('POST', '/api/v1/api-keys', {
      body: { label, scopes: ['workflows:read', 'executions:read'], namespaces: ['team-a', 'ops.*'], expiresAt },
    });
    expect(res.status, res.text).toBe(201);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(Object.keys(res.body).sort()).toEqual(CREATED_KEY_FIELDS);
    const body = res.body;
    expect(body.key).toMatch(KEY_SHAPE);
    expect(body.key).toHaveLength(41);
    expect(body.prefix).toBe(body.key.slice(0, 12));
    expect(body).toMatchObject({
      label,
      scopes: ['workflows:read', 'executions:read'],
      namespaces: ['team-a', 'ops.*'],
      expiresAt,
      enabled: true,
      lastUsedAt: null,
      revokedAt: null,
    });
    expect(Date.parse(body.createdAt)).toBeGreaterThanOrEqual(before - 1000);
    expect(Date.parse(body.createdAt)).toBeLessThanOrEqual(Date.now() + 1000);
    expect(body.id).toEqual(expect.any(String));
    expect(res.text).not.toContain(sha256hex(body.key));

    // the key authenticates at once
    const use = await status(body.key);
    expect(use.status, use.text).toBe(200);
  });

  it('stores only the SHA-256 of the key: the plaintext is in no column of api_keys', async () => {
    const created = await createKey(server, { scopes: ['logs:read'] });
    const rows = await tableRows(server.databaseUrl, 'api_keys');
    const row = rows.find((r) => r.id === created.id);
    expect(row).toBeDefined();
    expect(row!.key_hash).toBe(sha256hex(created.key));
    expect(row!.prefix).toBe(created.prefix);
    for (const r of rows) {
      for (const [column, value] of Object.entries(r)) {
        expect(String(value), `api_keys.${column}`).not.toContain(created.key);
        // not even the random part past the prefix
        expect(String(value), `api_keys.${column}`).not.toContain(created.key.slice(12));
      }
    }
  });

  it('creates a key without a label (label null); several unlabelled keys coexist', async () => {
    const a = await server.request('POST', '/api/v1/api-keys', { body: { scopes: ['logs:read'] } });
    const b = await server.request('POST', '/api/v1/api-keys', { body: { scopes: ['logs:read'] } });
    expect(a.status, a.text).toBe(201);
    expect(b.status, b.text).toBe(201);
    expect(a.body.label).toBeNull();
    expect(a.body.namespaces).toBeNull();
    expect(a.body.expiresAt).toBeNull();
    expect(a.body.id).not.toBe(b.body.id);
    expect(a.body.key).not.toBe(b.body.key);
  });

  it.each([
    ['an unknown scope', { scopes: ['workflows:read', 'workflows:delete'] }],
    ['an empty scope list', { scopes: [] }],
    ['no scopes at all', {}],
    ['scopes that are not a list', { scopes: 'admin' }],
    ['a past expiresAt', { scopes: ['logs:read'], expiresAt: new Date(Date.now() - 60_000).toISOString() }],
    ['an expiresAt that is not a date', { scopes: ['logs:read'], expiresAt: 'tomorrow' }],
    ['a label of 101 characters', { scopes: ['logs:read'], label: 'l'.repeat(101) }],
    ['an empty label', { scopes: ['logs:read'], label: '' }],
    ['an invalid namespace pattern', { scopes: ['logs:read'], namespaces: ['bad namespace!'] }],
    ['an empty namespace list', { scopes: ['logs:read'], namespaces: [] }],
    ['an unknown field', { scopes: ['logs:read'], owner: 'me' }],
  ])('rejects %s with 400 VALIDATION_ERROR and creates nothing', async (_name, body) => {
    const label = (body as { label?: string }).label ?? uniqueLabel('invalid');
    const countBefore = (await tableRows(server.databaseUrl, 'api_keys')).length;
    const res = await server.request('POST', '/api/v1/api-keys', { body: { label, ...body } });
    const error = expectError(res, 400, 'VALIDATION_ERROR');
    expect(Array.isArray(error.details), res.text).toBe(true);
    expect(res.body.key).toBeUndefined();
    expect((await tableRows(server.databaseUrl, 'api_keys')).length).toBe(countBefore);
  });

  it('accepts a label of exactly 100 characters', async () => {
    const label = `${uniqueLabel('max')}-`.padEnd(100, 'x');
    const created = await createKey(server, { label, scopes: ['logs:read'] });
    expect(created.label).toBe(label);
  });

  it('answers 409 CONFLICT for a label already taken, and creates nothing', async () => {
    const label = uniqueLabel('taken');
    const first = await createKey(server, { label, scopes: ['logs:read'] });
    const res = await server.request('POST', '/api/v1/api-keys', { body: { label, scopes: ['audit:read'] } });
    expectError(res, 409, 'CONFLICT');
    expect(res.text).not.toMatch(/ak_[0-9A-Za-z]{38}/);
    const rows = (await tableRows(server.databaseUrl, 'api_keys')).filter((r) => r.label === label);
    expect(rows).toHaveLength(1);
    expect(rows[0].id).toBe(first.id);
  });

  it('with idempotent: true and a taken label, answers 200 with the existing key and no plaintext', async () => {
    const label = uniqueLabel('idem');
    const first = await createKey(server, { label, scopes: ['logs:read'] });
    const res = await server.request('POST', '/api/v1/api-keys', { body: { label, scopes: ['logs:read'], idempotent: true } });
    expect(res.status, res.text).toBe(200);
    expect(Object.keys(res.body).sort()).toEqual(EXISTING_KEY_FIELDS);
    expect(res.body.created).toBe(false);
    expect(res.body.key).toBeUndefined();
    expect(res.body.id).toBe(first.id);
    expect(res.body.prefix).toBe(first.prefix);
    expect(res.text).not.toContain(first.key);
    expect((await tableRows(server.databaseUrl, 'api_keys')).filter((r) => r.label === label)).toHaveLength(1);
    // the first plaintext still works; nothing was rotated
    expect((await status(first.key)).status).toBe(200);
  });

  it('with idempotent: true and a free label, creates the key (201 with plaintext)', async () => {
    const res = await server.request('POST', '/api/v1/api-keys', { body: { label: uniqueLabel('idem-new'), scopes: ['logs:read'], idempotent: true } });
    expect(res.status, res.text).toBe(201);
    expect(res.body.key).toMatch(KEY_SHAPE);
  });

  it('frees the label of a revoked key for a new key', async () => {
    const label = uniqueLabel('reuse');
    const first = await createKey(server, { label, scopes: ['logs:read'] });
    expect((await server.request('DELETE', `/api/v1/api-keys/${first.id}`)).status).toBe(204);
    const second = await createKey(server, { label, scopes: ['logs:read'] });
    expect(second.id).not.toBe(first.id);
    expect((await status(second.key)).status).toBe(200);
    expectError(await status(first.key), 401, 'INVALID_API_KEY');
  });
});

describe('GET /api/v1/api-keys and /:id', () => {
  it('lists keys newest first, paged, without any hash or plaintext', async () => {
    const made = [];
    for (let i = 0; i < 3; i++) made.push(await createKey(server, { scopes: ['logs:read'] }));
    const res = await server.request('GET', '/api/v1/api-keys?limit=500');
    expect(res.status, res.text).toBe(200);
    expect(Object.keys(res.body).sort()).toEqual(['hasMore', 'items', 'limit', 'offset']);
    expect(res.body).toMatchObject({ limit: 500, offset: 0, hasMore: false });
    const ids = res.body.items.map((k: any) => k.id);
    const positions = made.map((k) => ids.indexOf(k.id));
    expect(positions.every((p) => p >= 0)).toBe(true);
    // newest first
    expect(positions[2]).toBeLessThan(positions[1]);
    expect(positions[1]).toBeLessThan(positions[0]);
    for (const item of res.body.items) expect(Object.keys(item).sort()).toEqual(KEY_FIELDS);
    for (const k of made) {
      expect(res.text).not.toContain(k.key);
      expect(res.text).not.toContain(sha256hex(k.key));
    }
    expect(res.text).not.toMatch(/ak_[0-9A-Za-z]{38}/);
    expect(res.text).not.toMatch(/[0-9a-f]{64}/);
  });

  it('pages with limit and offset: hasMore tells whether more remain', async () => {
    for (let i = 0; i < 3; i++) await createKey(server, { scopes: ['logs:read'] });
    const first = await server.request('GET', '/api/v1/api-keys?limit=2');
    expect(first.status).toBe(200);
    expect(first.body.items).toHaveLength(2);
    expect(first.body).toMatchObject({ limit: 2, offset: 0, hasMore: true });
    const second = await server.request('GET', '/api/v1/api-keys?limit=2&offset=2');
    expect(second.body.items).toHaveLength(2);
    expect(second.body.offset).toBe(2);
    const overlap = second.body.items.filter((k: any) => first.body.items.some((f: any) => f.id === k.id));
    expect(overlap).toEqual([]);
  });

  it.each(['limit=0', 'limit=501', 'offset=-1', 'limit=abc'])('rejects ?%s with 400 VALIDATION_ERROR', async (query) => {
    expectError(await server.request('GET', `/api/v1/api-keys?${query}`), 400, 'VALIDATION_ERROR');
  });

  it('gets one key by id with the same fields, no plaintext', async () => {
    const created = await createKey(server, { scopes: ['audit:read'], namespaces: ['team-a'] });
    const res = await server.request('GET', `/api/v1/api-keys/${created.id}`);
    expect(res.status, res.text).toBe(200);
    expect(Object.keys(res.body).sort()).toEqual(KEY_FIELDS);
    const { key: _key, created: _created, ...metadata } = created as typeof created & { created?: boolean };
    expect(res.body).toEqual(metadata);
    expect(res.text).not.toContain(created.key);
    expect(res.text).not.toContain(sha256hex(created.key));
  });

  it('answers 404 NOT_FOUND for an unknown id', async () => {
    expectError(await server.request('GET', `/api/v1/api-keys/${uniqueId('nokey')}`), 404, 'NOT_FOUND');
  });
});

describe('PATCH /api/v1/api-keys/:id', () => {
  it('updates label, scopes, namespaces and expiresAt, and the change applies to the next request at once', async () => {
    const created = await createKey(server, { scopes: ['workflows:read'] });
    expect((await server.request('GET', '/api/v1/workflows', { auth: created.key })).status).toBe(200);
    const label = uniqueLabel('renamed');
    const expiresAt = new Date(Date.now() + 3_600_000).toISOString();
    const res = await server.request('PATCH', `/api/v1/api-keys/${created.id}`, {
      body: { label, scopes: ['audit:read'], namespaces: ['team-b'], expiresAt },
    });
    expect(res.status, res.text).toBe(200);
    expect(Object.keys(res.body).sort()).toEqual(KEY_FIELDS);
    expect(res.body).toMatchObject({ id: created.id, prefix: created.prefix, label, scopes: ['audit:read'], namespaces: ['team-b'], expiresAt, enabled: true });
    expect(res.text).not.toContain(created.key);
    // same process: the cached principal is dropped
    expectForbidden(await server.request('GET', '/api/v1/workflows', { auth: created.key }), ['workflows:read']);
    expect((await server.request('GET', '/api/v1/audit?limit=1', { auth: created.key })).status).toBe(200);
    expect(await getKey(created.id)).toMatchObject({ label, scopes: ['audit:read'], namespaces: ['team-b'], expiresAt });
  });

  it('clears expiresAt, namespaces and label with null', async () => {
    const created = await createKey(server, { scopes: ['logs:read'], namespaces: ['x'], expiresAt: new Date(Date.now() + 3_600_000).toISOString() });
    const res = await server.request('PATCH', `/api/v1/api-keys/${created.id}`, { body: { expiresAt: null, namespaces: null, label: null } });
    expect(res.status, res.text).toBe(200);
    expect(res.body).toMatchObject({ expiresAt: null, namespaces: null, label: null });
    expect(await getKey(created.id)).toMatchObject({ expiresAt: null, namespaces: null, label: null });
  });

  it('disabling rejects the key at once with 401 INVALID_API_KEY; enabling restores it at once', async () => {
    const created = await createKey(server, { scopes: ['logs:read'] });
    expect((await status(created.key)).status).toBe(200);
    const off = await server.request('PATCH', `/api/v1/api-keys/${created.id}`, { body: { enabled: false } });
    expect(off.status, off.text).toBe(200);
    expect(off.body.enabled).toBe(false);
    expectError(await status(created.key), 401, 'INVALID_API_KEY');
    const on = await server.request('PATCH', `/api/v1/api-keys/${created.id}`, { body: { enabled: true } });
    expect(on.body.enabled).toBe(true);
    expect((await status(created.key)).status).toBe(200);
  });

  it.each([
    ['an empty scope list', { scopes: [] }],
    ['an unknown scope', { scopes: ['root'] }],
    ['a past expiresAt', { expiresAt: new Date(Date.now() - 1000).toISOString() }],
    ['a label of 101 characters', { label: 'l'.repeat(101) }],
    ['enabled that is not a boolean', { enabled: 'no' }],
    ['an unknown field', { key: 'ak_x' }],
  ])('rejects %s with 400 VALIDATION_ERROR and changes nothing', async (_name, body) => {
    const created = await createKey(server, { scopes: ['logs:read'] });
    const { key: _k, created: _c, ...before } = created as typeof created & { created?: boolean };
    expectError(await server.request('PATCH', `/api/v1/api-keys/${created.id}`, { body }), 400, 'VALIDATION_ERROR');
    expect(await getKey(created.id)).toEqual(before);
  });

  it('answers 409 CONFLICT when renaming to a label another live key holds', async () => {
    const a = await createKey(server, { scopes: ['logs:read'] });
    const b = await createKey(server, { scopes: ['logs:read'] });
    expectError(await server.request('PATCH', `/api/v1/api-keys/${b.id}`, { body: { label: a.label } }), 409, 'CONFLICT');
    expect((await getKey(b.id)).label).toBe(b.label);
  });

  it('answers 404 NOT_FOUND for an unknown id', async () => {
    expectError(await server.request('PATCH', `/api/v1/api-keys/${uniqueId('nokey')}`, { body: { enabled: false } }), 404, 'NOT_FOUND');
  });

  it('answers 409 CONFLICT for a revoked key and does not bring it back', async () => {
    const created = await createKey(server, { scopes: ['logs:read'] });
    await server.request('DELETE', `/api/v1/api-keys/${created.id}`);
    expectError(await server.request('PATCH', `/api/v1/api-keys/${created.id}`, { body: { enabled: true } }), 409, 'CONFLICT');
    expect(await getKey(created.id)).toMatchObject({ enabled: false, revokedAt: expect.any(String) });
    expectError(await status(created.key), 401, 'INVALID_API_KEY');
  });
});

describe('DELETE /api/v1/api-keys/:id (revoke)', () => {
  it('revokes: 204 with no body, the key is rejected at once, the row is kept with revokedAt', async () => {
    const created = await createKey(server, { scopes: ['logs:read'] });
    expect((await status(created.key)).status).toBe(200);
    const before = Date.now();
    const res = await server.request('DELETE', `/api/v1/api-keys/${created.id}`);
    expect(res.status, res.text).toBe(204);
    expect(res.text).toBe('');
    expectError(await status(created.key), 401, 'INVALID_API_KEY');
    const after = await getKey(created.id);
    expect(after.enabled).toBe(false);
    expect(Date.parse(after.revokedAt)).toBeGreaterThanOrEqual(before - 1000);
    const list = await server.request('GET', '/api/v1/api-keys?limit=500');
    expect(list.body.items.some((k: any) => k.id === created.id && k.revokedAt !== null)).toBe(true);
  });

  it('is idempotent: revoking twice answers 204 both times and keeps the first revokedAt', async () => {
    const created = await createKey(server, { scopes: ['logs:read'] });
    expect((await server.request('DELETE', `/api/v1/api-keys/${created.id}`)).status).toBe(204);
    const first = (await getKey(created.id)).revokedAt;
    await sleep(10);
    expect((await server.request('DELETE', `/api/v1/api-keys/${created.id}`)).status).toBe(204);
    expect((await getKey(created.id)).revokedAt).toBe(first);
  });

  it('answers 404 NOT_FOUND for an unknown id', async () => {
    expectError(await server.request('DELETE', `/api/v1/api-keys/${uniqueId('nokey')}`), 404, 'NOT_FOUND');
  });
});

describe('POST /api/v1/api-keys/:id/rotate', () => {
  it('returns a new plaintext (201, no-store) with the same id; graceSeconds 0 stops the old key at once', async () => {
    const created = await createKey(server, { scopes: ['logs:read'] });
    const res = await server.request('POST', `/api/v1/api-keys/${created.id}/rotate`, { body: { graceSeconds: 0 } });
    expect(res.status, res.text).toBe(201);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(Object.keys(res.body).sort()).toEqual(ROTATED_KEY_FIELDS);
    expect(res.body.id).toBe(created.id);
    expect(res.body.key).toMatch(KEY_SHAPE);
    expect(res.body.key).not.toBe(created.key);
    expect(res.body.prefix).toBe(res.body.key.slice(0, 12));
    expect(res.body).toMatchObject({ label: created.label, scopes: created.scopes });
    expect(res.text).not.toContain(created.key);
    expectError(await status(created.key), 401, 'INVALID_API_KEY');
    expect((await status(res.body.key)).status).toBe(200);
    const row = (await tableRows(server.databaseUrl, 'api_keys')).find((r) => r.id === created.id)!;
    expect(row.key_hash).toBe(sha256hex(res.body.key));
    expect(JSON.stringify(row)).not.toContain(res.body.key);
    expect(JSON.stringify(row)).not.toContain(created.key);
  });

  it('without a body rotates with no grace', async () => {
    const created = await createKey(server, { scopes: ['logs:read'] });
    const res = await server.request('POST', `/api/v1/api-keys/${created.id}/rotate`);
    expect(res.status, res.text).toBe(201);
    expectError(await status(created.key), 401, 'INVALID_API_KEY');
    expect((await status(res.body.key)).status).toBe(200);
  });

  it('keeps the old key working for graceSeconds, then rejects it; the new key keeps working', async () => {
    const created = await createKey(server, { scopes: ['logs:read'] });
    const rotatedAt = Date.now();
    const res = await server.request('POST', `/api/v1/api-keys/${created.id}/rotate`, { body: { graceSeconds: 2 } });
    expect(res.status, res.text).toBe(201);
    expect((await status(created.key)).status).toBe(200);
    expect((await status(res.body.key)).status).toBe(200);
    await sleep(Math.max(0, rotatedAt + 2300 - Date.now()));
    expectError(await status(created.key), 401, 'INVALID_API_KEY');
    expect((await status(res.body.key)).status).toBe(200);
  });

  it('a second rotation ends the grace of the first old key at once', async () => {
    const created = await createKey(server, { scopes: ['logs:read'] });
    const one = await server.request('POST', `/api/v1/api-keys/${created.id}/rotate`, { body: { graceSeconds: 60 } });
    expect((await status(created.key)).status).toBe(200);
    const two = await server.request('POST', `/api/v1/api-keys/${created.id}/rotate`, { body: { graceSeconds: 0 } });
    expect(two.status, two.text).toBe(201);
    expectError(await status(created.key), 401, 'INVALID_API_KEY');
    expectError(await status(one.body.key), 401, 'INVALID_API_KEY');
    expect((await status(two.body.key)).status).toBe(200);
  });

  it('revoking a key in its grace period rejects the old and the new plaintext at once', async () => {
    const created = await createKey(server, { scopes: ['logs:read'] });
    const rotated = await server.request('POST', `/api/v1/api-keys/${created.id}/rotate`, { body: { graceSeconds: 60 } });
    expect((await server.request('DELETE', `/api/v1/api-keys/${created.id}`)).status).toBe(204);
    expectError(await status(created.key), 401, 'INVALID_API_KEY');
    expectError(await status(rotated.body.key), 401, 'INVALID_API_KEY');
  });

  it.each([
    ['a negative graceSeconds', { graceSeconds: -1 }],
    ['a fractional graceSeconds', { graceSeconds: 1.5 }],
    ['graceSeconds over 30 days', { graceSeconds: 2_592_001 }],
    ['an unknown field', { grace: 5 }],
  ])('rejects %s with 400 VALIDATION_ERROR and keeps the key as it was', async (_name, body) => {
    const created = await createKey(server, { scopes: ['logs:read'] });
    expectError(await server.request('POST', `/api/v1/api-keys/${created.id}/rotate`, { body }), 400, 'VALIDATION_ERROR');
    expect((await status(created.key)).status).toBe(200);
    expect((await getKey(created.id)).prefix).toBe(created.prefix);
  });

  it('answers 409 CONFLICT for a revoked key and 404 NOT_FOUND for an unknown one', async () => {
    const created = await createKey(server, { scopes: ['logs:read'] });
    await server.request('DELETE', `/api/v1/api-keys/${created.id}`);
    const res = await server.request('POST', `/api/v1/api-keys/${created.id}/rotate`, { body: {} });
    expectError(res, 409, 'CONFLICT');
    expect(res.text).not.toMatch(/ak_[0-9A-Za-z]{38}/);
    expectError(await server.request('POST', `/api/v1/api-keys/${uniqueId('nokey')}/rotate`, { body: {} }), 404, 'NOT_FOUND');
  });
});

describe('401 codes for managed keys', () => {
  it('MISSING_API_KEY without credentials', async () => {
    expectError(await server.request('GET', STATUS, { auth: false }), 401, 'MISSING_API_KEY');
  });

  it('INVALID_API_KEY for a well-formed key the store does not know', async () => {
    expectError(await status(unknownWellFormedKey()), 401, 'INVALID_API_KEY');
  });

  it('INVALID_API_KEY for a key whose checksum is wrong, rejected before any lookup (audit reason "malformed")', async () => {
    const created = await createKey(server, { scopes: ['logs:read'] });
    const last = created.key.at(-1) === 'A' ? 'B' : 'A';
    const mistyped = created.key.slice(0, -1) + last;
    expectError(await status(mistyped), 401, 'INVALID_API_KEY');
    const events = await waitForAudit(server, `action=auth.failure&actor=${created.prefix}`, (items) => items.length > 0);
    expect(events.length, JSON.stringify(events)).toBeGreaterThan(0);
    expect(events[0].details.reason).toBe('malformed');
    // the real key is untouched by the mistyped one
    expect((await status(created.key)).status).toBe(200);
  });

  it('INVALID_API_KEY for malformed keys: wrong prefix, wrong length, bad characters, bad checksum', async () => {
    const created = await createKey(server, { scopes: ['logs:read'] });
    for (const bad of [`AK_${created.key.slice(3)}`, created.key.slice(0, -1), `${created.key}x`, `${created.key.slice(0, 20)}-${created.key.slice(21)}`, badChecksumKey()]) {
      expectError(await status(bad), 401, 'INVALID_API_KEY');
    }
  });

  it('API_KEY_EXPIRED once expiresAt passes (and not before)', async () => {
    const expiresAt = Date.now() + 1500;
    const created = await createKey(server, { scopes: ['logs:read'], expiresAt: new Date(expiresAt).toISOString() });
    expect((await status(created.key)).status).toBe(200);
    await sleep(Math.max(0, expiresAt + 200 - Date.now()));
    const res = await status(created.key);
    const error = expectError(res, 401, 'API_KEY_EXPIRED');
    expect(error.message).toMatch(/expire/i);
    // extending the expiry brings it back
    const patched = await server.request('PATCH', `/api/v1/api-keys/${created.id}`, { body: { expiresAt: null } });
    expect(patched.status, patched.text).toBe(200);
    expect((await status(created.key)).status).toBe(200);
  });

  it('never echoes a presented managed key in a 401 body', async () => {
    const key = unknownWellFormedKey();
    const res = await status(key);
    expectError(res, 401, 'INVALID_API_KEY');
    expect(res.text).not.toContain(key);
    expect(res.text).not.toContain(key.slice(12));
  });

  it('accepts a managed key as X-API-Key as well as Bearer', async () => {
    const created = await createKey(server, { scopes: ['logs:read'] });
    const res = await server.request('GET', STATUS, { headers: { 'x-api-key': created.key } });
    expect(res.status, res.text).toBe(200);
  });
});

describe('scopes', () => {
  it('answers 403 FORBIDDEN with details.requiredScopes when the key lacks the route scope, and changes nothing', async () => {
    const created = await createKey(server, { scopes: ['workflows:read'] });
    const id = uniqueId('noscope');
    const res = await server.request('PUT', `/api/v1/workflows/${id}`, { raw: workflowYaml(id), contentType: 'application/yaml', auth: created.key });
    const error = expectError(res, 403, 'FORBIDDEN');
    expect(error.details).toEqual({ requiredScopes: ['workflows:write'] });
    expectError(await server.request('GET', `/api/v1/workflows/${id}`), 404, 'NOT_FOUND');
  });

  it('lets an admin managed key do everything, including creating admin keys', async () => {
    const admin = await createKey(server, { scopes: ['admin'] });
    const id = uniqueId('adminkey');
    const put = await server.request('PUT', `/api/v1/workflows/${id}`, { raw: workflowYaml(id), contentType: 'application/yaml', auth: admin.key });
    expect(put.status, put.text).toBe(201);
    expect((await server.request('GET', '/api/v1/audit?limit=1', { auth: admin.key })).status).toBe(200);
    const another = await createKey(server, { scopes: ['admin'] }, admin.key);
    expect(another.scopes).toEqual(['admin']);
  });
});

describe('no escalation', () => {
  let manager: Awaited<ReturnType<typeof createKey>>;

  beforeAll(async () => {
    manager = await createKey(server, { scopes: ['api-keys:manage', 'workflows:read'] });
  });

  it('a manager can create a key within its own scopes', async () => {
    const created = await createKey(server, { scopes: ['workflows:read'] }, manager.key);
    expect(created.scopes).toEqual(['workflows:read']);
    const both = await createKey(server, { scopes: ['api-keys:manage', 'workflows:read'] }, manager.key);
    expect(both.scopes.sort()).toEqual(['api-keys:manage', 'workflows:read']);
  });

  it.each([[['workflows:write']], [['admin']], [['workflows:read', 'audit:read']]])('a manager cannot create a key with %j (403 FORBIDDEN, nothing created)', async (scopes) => {
    const label = uniqueLabel('escalate');
    const res = await server.request('POST', '/api/v1/api-keys', { body: { label, scopes }, auth: manager.key });
    expectError(res, 403, 'FORBIDDEN');
    expect((await tableRows(server.databaseUrl, 'api_keys')).filter((r) => r.label === label)).toEqual([]);
  });

  it('a manager cannot widen a key beyond its own scopes with PATCH (403, scopes unchanged)', async () => {
    const target = await createKey(server, { scopes: ['workflows:read'] }, manager.key);
    expectError(await server.request('PATCH', `/api/v1/api-keys/${target.id}`, { body: { scopes: ['workflows:read', 'workflows:write'] }, auth: manager.key }), 403, 'FORBIDDEN');
    expect((await getKey(target.id)).scopes).toEqual(['workflows:read']);
  });

  it('a manager cannot widen its own key (403, scopes unchanged)', async () => {
    expectError(await server.request('PATCH', `/api/v1/api-keys/${manager.id}`, { body: { scopes: ['admin'] }, auth: manager.key }), 403, 'FORBIDDEN');
    expect((await getKey(manager.id)).scopes.sort()).toEqual(['api-keys:manage', 'workflows:read']);
  });

  it('a manager cannot patch, rotate or revoke a key that holds scopes it lacks: 404 as if it did not exist (key unchanged and working)', async () => {
    const stronger = await createKey(server, { scopes: ['workflows:read', 'workflows:write'] });
    for (const [method, path, body] of [
      ['PATCH', `/api/v1/api-keys/${stronger.id}`, { enabled: false }],
      ['POST', `/api/v1/api-keys/${stronger.id}/rotate`, {}],
      ['DELETE', `/api/v1/api-keys/${stronger.id}`, undefined],
    ] as const) {
      const error = expectError(await server.request(method, path, { body, auth: manager.key }), 404, 'NOT_FOUND');
      expect(error.message).toBe(`api key '${stronger.id}' not found`);
    }
    expect(await getKey(stronger.id)).toMatchObject({ enabled: true, revokedAt: null, prefix: stronger.prefix });
    expect((await status(stronger.key)).status).toBe(200);
  });

  it('a non-admin key cannot touch an admin key: patch, rotate and revoke answer 404 NOT_FOUND, never naming its scopes', async () => {
    const admin = await createKey(server, { scopes: ['admin'] });
    const fullManager = await createKey(server, { scopes: ALL_BUT_ADMIN });
    for (const [method, path, body] of [
      ['PATCH', `/api/v1/api-keys/${admin.id}`, { label: uniqueLabel('hijack') }],
      ['POST', `/api/v1/api-keys/${admin.id}/rotate`, {}],
      ['DELETE', `/api/v1/api-keys/${admin.id}`, undefined],
    ] as const) {
      const res = await server.request(method, path, { body, auth: fullManager.key });
      const error = expectError(res, 404, 'NOT_FOUND');
      expect(error.details).toBeUndefined();
      expect(res.text).not.toContain('admin');
    }
    expect(await getKey(admin.id)).toMatchObject({ label: admin.label, prefix: admin.prefix, enabled: true, revokedAt: null });
    expect((await status(admin.key)).status).toBe(200);
  });

  it('a namespace-restricted manager can grant only namespaces inside its own', async () => {
    const nsManager = await createKey(server, { scopes: ['api-keys:manage', 'workflows:read'], namespaces: ['team-a', 'ops.*'] });
    for (const namespaces of [['team-a'], ['ops'], ['ops.x'], ['ops.*'], ['ops.x.*'], ['team-a', 'ops.y']]) {
      const created = await createKey(server, { scopes: ['workflows:read'], namespaces }, nsManager.key);
      expect(created.namespaces).toEqual(namespaces);
    }
    for (const namespaces of [['team-b'], ['team-a.*'], ['team-a.sub'], ['opsx'], ['*'], ['team-a', 'default']]) {
      const label = uniqueLabel('ns-escalate');
      const res = await server.request('POST', '/api/v1/api-keys', { body: { label, scopes: ['workflows:read'], namespaces }, auth: nsManager.key });
      expect(res.status, `${JSON.stringify(namespaces)}: ${res.text}`).toBe(403);
      expect(res.body.error.code).toBe('FORBIDDEN');
      expect((await tableRows(server.databaseUrl, 'api_keys')).filter((r) => r.label === label)).toEqual([]);
    }
    // omitting namespaces would mean "every namespace"
    expectError(await server.request('POST', '/api/v1/api-keys', { body: { label: uniqueLabel('ns-all'), scopes: ['workflows:read'] }, auth: nsManager.key }), 403, 'FORBIDDEN');
  });

  it('a namespace-restricted manager cannot clear or widen namespaces with PATCH, nor manage an unrestricted key', async () => {
    const nsManager = await createKey(server, { scopes: ['api-keys:manage', 'workflows:read'], namespaces: ['team-a'] });
    const inside = await createKey(server, { scopes: ['workflows:read'], namespaces: ['team-a'] }, nsManager.key);
    expectError(await server.request('PATCH', `/api/v1/api-keys/${inside.id}`, { body: { namespaces: null }, auth: nsManager.key }), 403, 'FORBIDDEN');
    expectError(await server.request('PATCH', `/api/v1/api-keys/${inside.id}`, { body: { namespaces: ['team-a', 'team-b'] }, auth: nsManager.key }), 403, 'FORBIDDEN');
    expect((await getKey(inside.id)).namespaces).toEqual(['team-a']);
    const unrestricted = await createKey(server, { scopes: ['workflows:read'] });
    expectError(await server.request('DELETE', `/api/v1/api-keys/${unrestricted.id}`, { auth: nsManager.key }), 404, 'NOT_FOUND');
    expect((await status(unrestricted.key)).status).toBe(200);
    // within its own reach it can manage
    const patched = await server.request('PATCH', `/api/v1/api-keys/${inside.id}`, { body: { enabled: false }, auth: nsManager.key });
    expect(patched.status, patched.text).toBe(200);
  });
});

const ALL_BUT_ADMIN = ['workflows:read', 'workflows:write', 'executions:read', 'executions:write', 'logs:read', 'api-keys:manage', 'audit:read', 'tools:invoke'];

describe('lastUsedAt', () => {
  it('is null before first use and set after the first use (writes are asynchronous)', async () => {
    const created = await createKey(server, { scopes: ['logs:read'] });
    expect((await getKey(created.id)).lastUsedAt).toBeNull();
    const before = Date.now();
    expect((await status(created.key)).status).toBe(200);
    let seen: string | null = null;
    for (let i = 0; i < 100 && seen === null; i++) {
      seen = (await getKey(created.id)).lastUsedAt;
      if (seen === null) await sleep(20);
    }
    expect(seen).not.toBeNull();
    expect(Date.parse(seen!)).toBeGreaterThanOrEqual(before - 1000);
  });

  it('is written at most once per lastUsedWriteIntervalMs (default 60 s): a second use soon after does not move it', async () => {
    const created = await createKey(server, { scopes: ['logs:read'] });
    await status(created.key);
    let first: string | null = null;
    for (let i = 0; i < 100 && first === null; i++) {
      first = (await getKey(created.id)).lastUsedAt;
      if (first === null) await sleep(20);
    }
    expect(first).not.toBeNull();
    await sleep(30);
    for (let i = 0; i < 5; i++) expect((await status(created.key)).status).toBe(200);
    await sleep(200);
    expect((await getKey(created.id)).lastUsedAt).toBe(first);
  });
});

describe('lastUsedAt with lastUsedWriteIntervalMs: 0', () => {
  let fast: TestServer;
  beforeAll(async () => {
    fast = await startTestServer({ configure: (c) => (c.auth.lastUsedWriteIntervalMs = 0) });
  });
  afterAll(async () => {
    await fast?.close();
  });

  it('moves lastUsedAt forward on every use', async () => {
    const created = await createKey(fast, { scopes: ['logs:read'] });
    const read = async () => (await fast.request('GET', `/api/v1/api-keys/${created.id}`)).body.lastUsedAt as string | null;
    expect((await fast.request('GET', STATUS, { auth: created.key })).status).toBe(200);
    let first: string | null = null;
    for (let i = 0; i < 100 && first === null; i++) {
      first = await read();
      if (first === null) await sleep(20);
    }
    expect(first).not.toBeNull();
    await sleep(20);
    expect((await fast.request('GET', STATUS, { auth: created.key })).status).toBe(200);
    let second = first;
    for (let i = 0; i < 100 && second === first; i++) {
      second = await read();
      if (second === first) await sleep(20);
    }
    expect(Date.parse(second!)).toBeGreaterThan(Date.parse(first!));
    // the client address is recorded with it (not exposed by the API, but in the store)
    const row = (await tableRows(fast.databaseUrl, 'api_keys')).find((r) => r.id === created.id)!;
    expect(String(row.last_used_ip)).toMatch(/127\.0\.0\.1/);
  });
});

describe('two processes on one database (auth.keyCacheTtlMs: 500)', () => {
  let a: TestServer;
  let b: TestServer;

  beforeAll(async () => {
    a = await startTestServer({ configure: (c) => (c.auth.keyCacheTtlMs = 500) });
    b = await startTestServer({ dir: a.dir, key: a.key, configure: (c) => (c.auth.keyCacheTtlMs = 500) });
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
  });

  async function rejectedOnBWithin(key: string, since: number, code = 'INVALID_API_KEY'): Promise<number> {
    for (;;) {
      const res = await b.request('GET', STATUS, { auth: key });
      if (res.status === 401) {
        expect(res.body.error.code).toBe(code);
        return Date.now() - since;
      }
      expect(res.status).toBe(200);
      if (Date.now() - since > 3000) throw new Error('server B still accepts the key 3 s after the change on server A');
      await sleep(25);
    }
  }

  it('a key created on A works on B', async () => {
    const created = await createKey(a, { scopes: ['logs:read'] });
    expect((await b.request('GET', STATUS, { auth: created.key })).status).toBe(200);
  });

  it('revoking on A: A rejects at once, B within ~1 s', async () => {
    const created = await createKey(a, { scopes: ['logs:read'] });
    // both processes have it cached now
    expect((await a.request('GET', STATUS, { auth: created.key })).status).toBe(200);
    expect((await b.request('GET', STATUS, { auth: created.key })).status).toBe(200);
    const t = Date.now();
    expect((await a.request('DELETE', `/api/v1/api-keys/${created.id}`)).status).toBe(204);
    expectError(await a.request('GET', STATUS, { auth: created.key }), 401, 'INVALID_API_KEY');
    const elapsed = await rejectedOnBWithin(created.key, t);
    expect(elapsed).toBeLessThan(1200);
  });

  it('disabling on A is seen by B within ~1 s', async () => {
    const created = await createKey(a, { scopes: ['logs:read'] });
    expect((await b.request('GET', STATUS, { auth: created.key })).status).toBe(200);
    const t = Date.now();
    expect((await a.request('PATCH', `/api/v1/api-keys/${created.id}`, { body: { enabled: false } })).status).toBe(200);
    expect(await rejectedOnBWithin(created.key, t)).toBeLessThan(1200);
  });

  it('rotating on A (no grace) stops the old key on B within ~1 s and the new key works on B', async () => {
    const created = await createKey(a, { scopes: ['logs:read'] });
    expect((await b.request('GET', STATUS, { auth: created.key })).status).toBe(200);
    const t = Date.now();
    const rotated = await a.request('POST', `/api/v1/api-keys/${created.id}/rotate`, { body: { graceSeconds: 0 } });
    expect(rotated.status).toBe(201);
    expect(await rejectedOnBWithin(created.key, t)).toBeLessThan(1200);
    expect((await b.request('GET', STATUS, { auth: rotated.body.key })).status).toBe(200);
  });

  it('narrowing scopes on A applies on B within ~1 s', async () => {
    const created = await createKey(a, { scopes: ['workflows:read', 'audit:read'] });
    expect((await b.request('GET', '/api/v1/workflows', { auth: created.key })).status).toBe(200);
    const t = Date.now();
    expect((await a.request('PATCH', `/api/v1/api-keys/${created.id}`, { body: { scopes: ['audit:read'] } })).status).toBe(200);
    for (;;) {
      const res = await b.request('GET', '/api/v1/workflows', { auth: created.key });
      if (res.status === 403) break;
      expect(res.status).toBe(200);
      expect(Date.now() - t, 'B still grants the removed scope').toBeLessThan(1200);
      await sleep(25);
    }
  });
});

describe('what a non-admin key manager can see', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(() => server.close());

  it('lists and reads only keys within its own scopes and namespaces; others are 404, never leaked', async () => {
    const manager = await createKey(server, { scopes: ['api-keys:manage', 'workflows:read'], namespaces: ['team-a', 'ops.*'] });
    const inside = await createKey(server, { scopes: ['workflows:read'], namespaces: ['ops.eu'] });
    const otherNamespace = await createKey(server, { scopes: ['workflows:read'], namespaces: ['team-b'] });
    const everyNamespace = await createKey(server, { scopes: ['workflows:read'] });
    const widerScope = await createKey(server, { scopes: ['workflows:write'], namespaces: ['team-a'] });
    const admin = await createKey(server, { scopes: ['admin'] });

    const list = await server.request('GET', '/api/v1/api-keys?limit=500', { auth: manager.key });
    expect(list.status).toBe(200);
    const ids = list.body.items.map((k: { id: string }) => k.id);
    expect(ids).toContain(inside.id);
    for (const hidden of [otherNamespace, everyNamespace, widerScope, admin]) expect(ids).not.toContain(hidden.id);

    expect((await server.request('GET', `/api/v1/api-keys/${inside.id}`, { auth: manager.key })).status).toBe(200);
    for (const hidden of [otherNamespace, everyNamespace, widerScope, admin]) {
      const res = await server.request('GET', `/api/v1/api-keys/${hidden.id}`, { auth: manager.key });
      expectError(res, 404, 'NOT_FOUND');
    }
    // the admin (static key) still sees every one of them
    const all = await server.request('GET', '/api/v1/api-keys?limit=500');
    for (const key of [inside, otherNamespace, everyNamespace, widerScope, admin]) {
      expect(all.body.items.map((k: { id: string }) => k.id)).toContain(key.id);
    }
  });

  it('a namespace-restricted audit reader sees only events about its namespaces', async () => {
    const reader = await createKey(server, { scopes: ['audit:read'], namespaces: ['team-a'] });
    for (const [id, ns] of [['aud-a', 'team-a'], ['aud-b', 'team-b']]) {
      const res = await server.request('PUT', `/api/v1/workflows/${id}`, { raw: `id: ${id}\nnamespace: ${ns}\ntasks: [{id: x, type: log, message: hi}]\n`, contentType: 'application/yaml' });
      expect(res.status).toBe(201);
    }
    const seen = await server.request('GET', '/api/v1/audit?limit=500', { auth: reader.key });
    expect(seen.status).toBe(200);
    const namespaces = new Set(seen.body.items.map((e: { namespace: string | null }) => e.namespace));
    expect([...namespaces]).toEqual(['team-a']);
    expect(seen.body.items.some((e: { resourceId: string }) => e.resourceId === 'aud-a')).toBe(true);
    const admin = await server.request('GET', '/api/v1/audit?limit=500');
    expect(admin.body.items.some((e: { resourceId: string }) => e.resourceId === 'aud-b')).toBe(true);
  });
});
