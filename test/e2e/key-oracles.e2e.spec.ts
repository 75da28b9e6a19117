/**
 * No oracles in key management (issue 7, item 5). For a key manager, a key outside its authority
 * (scopes or namespaces beyond its own) is indistinguishable from an id that does not exist, on
 * every verb: the same 404 NOT_FOUND, the same body (ids substituted), the same audit event; the
 * foreign key is untouched and keeps working. Namespace-restricted managers, admins included, list
 * and reach only keys whose namespaces lie within their own. `idempotent: true` with a label held
 * by a foreign key is a plain 409 that reveals nothing about it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId } from '../../src/engine/runtime/ids';
import { startTestServer, type TestResponse, type TestServer } from '../support/server';
import { allAudit, createKey, KEY_FIELDS, tableRows, uniqueLabel, type CreatedKey } from './access-helpers';
import { expectError } from './helpers';

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server?.close();
});

const STATUS = '/api/v1/status';

/** What an admin sees of a key (the state to compare before and after an attempt). */
async function adminView(id: string): Promise<any> {
  const res = await server.request('GET', `/api/v1/api-keys/${id}`);
  expect(res.status, res.text).toBe(200);
  const { lastUsedAt: _ignored, ...rest } = res.body;
  return rest;
}

/** The response with `id` replaced by a placeholder, so two answers about different ids compare. */
function normalized(res: TestResponse, id: string): { status: number; body: string; contentType: string | null } {
  return { status: res.status, body: res.text.split(id).join('<id>'), contentType: res.headers.get('content-type') };
}

type Verb = { name: string; call: (id: string, as: string) => Promise<TestResponse> };

const VERBS: Verb[] = [
  { name: 'GET /:id', call: (id, as) => server.request('GET', `/api/v1/api-keys/${id}`, { auth: as }) },
  { name: 'PATCH /:id {label}', call: (id, as) => server.request('PATCH', `/api/v1/api-keys/${id}`, { body: { label: uniqueLabel('hijack') }, auth: as }) },
  { name: 'PATCH /:id {enabled: false}', call: (id, as) => server.request('PATCH', `/api/v1/api-keys/${id}`, { body: { enabled: false }, auth: as }) },
  // a body that would be a 403 escalation on a visible key is still the plain 404 here
  { name: 'PATCH /:id {scopes: [admin]}', call: (id, as) => server.request('PATCH', `/api/v1/api-keys/${id}`, { body: { scopes: ['admin'] }, auth: as }) },
  { name: 'PATCH /:id {namespaces: null}', call: (id, as) => server.request('PATCH', `/api/v1/api-keys/${id}`, { body: { namespaces: null }, auth: as }) },
  // a body that would be a 400 on a visible key (past expiry) is still the plain 404 here
  { name: 'PATCH /:id {expiresAt: past}', call: (id, as) => server.request('PATCH', `/api/v1/api-keys/${id}`, { body: { expiresAt: '2001-01-01T00:00:00Z' }, auth: as }) },
  { name: 'PATCH /:id {rateLimit}', call: (id, as) => server.request('PATCH', `/api/v1/api-keys/${id}`, { body: { rateLimit: { requests: 1, window: '1h' } }, auth: as }) },
  { name: 'POST /:id/rotate', call: (id, as) => server.request('POST', `/api/v1/api-keys/${id}/rotate`, { body: { graceSeconds: 60 }, auth: as }) },
  { name: 'DELETE /:id', call: (id, as) => server.request('DELETE', `/api/v1/api-keys/${id}`, { auth: as }) },
];

/**
 * For each verb: the answer about `foreign` equals the answer about a fresh id that never existed
 * (and about a made-up non-ULID id), the foreign key is unchanged and still authenticates.
 */
async function expectIndistinguishable(manager: CreatedKey, foreign: CreatedKey[]): Promise<void> {
  for (const target of foreign) {
    const before = await adminView(target.id);
    for (const verb of VERBS) {
      const missingId = newId();
      const context = `${verb.name} on ${JSON.stringify({ scopes: target.scopes, namespaces: target.namespaces })} as ${JSON.stringify({ scopes: manager.scopes, namespaces: manager.namespaces })}`;
      const foreignRes = await verb.call(target.id, manager.key);
      const missingRes = await verb.call(missingId, manager.key);
      const error = expectError(foreignRes, 404, 'NOT_FOUND');
      expect(error.message, context).toBe(`api key '${target.id}' not found`);
      expect(error.details, context).toBeUndefined();
      expect(normalized(foreignRes, target.id), context).toEqual(normalized(missingRes, missingId));
      // the answer never names anything of the foreign key but the id the caller sent
      for (const leak of [target.prefix, target.label!, ...target.scopes.filter((s) => s !== 'admin')]) expect(foreignRes.text, context).not.toContain(leak);
      expect(foreignRes.headers.get('cache-control'), context).toBe(missingRes.headers.get('cache-control'));
    }
    expect(await adminView(target.id)).toEqual(before);
    expect((await server.request('GET', STATUS, { auth: target.key })).status).toBe(200);
  }
}

describe('a non-admin manager (api-keys:manage + workflows:read in team-a, ops.*)', () => {
  let manager: CreatedKey;
  let foreign: CreatedKey[];

  beforeAll(async () => {
    manager = await createKey(server, { scopes: ['api-keys:manage', 'workflows:read'], namespaces: ['team-a', 'ops.*'] });
    foreign = [
      await createKey(server, { scopes: ['workflows:write'], namespaces: ['team-a'] }),
      await createKey(server, { scopes: ['workflows:read', 'audit:read'], namespaces: ['ops.eu'] }),
      await createKey(server, { scopes: ['admin'] }),
      await createKey(server, { scopes: ['admin'], namespaces: ['team-a'] }),
      await createKey(server, { scopes: ['workflows:read'], namespaces: ['team-b'] }),
      await createKey(server, { scopes: ['workflows:read'] }),
      await createKey(server, { scopes: ['workflows:read'], namespaces: ['team-a', 'team-b'] }),
      await createKey(server, { scopes: ['workflows:read'], namespaces: ['opsx'] }),
    ];
  });

  it('answers GET, PATCH (any body), rotate and DELETE on a key beyond its scopes or namespaces exactly like on a missing id; the key is unchanged', async () => {
    await expectIndistinguishable(manager, foreign);
  });

  it('still manages keys within its authority (the contrast: 200/201/204 on the same verbs)', async () => {
    const inside = await createKey(server, { scopes: ['workflows:read'], namespaces: ['ops.eu.*'] });
    expect((await server.request('GET', `/api/v1/api-keys/${inside.id}`, { auth: manager.key })).status).toBe(200);
    expect((await server.request('PATCH', `/api/v1/api-keys/${inside.id}`, { body: { enabled: false }, auth: manager.key })).status).toBe(200);
    expect((await server.request('POST', `/api/v1/api-keys/${inside.id}/rotate`, { body: {}, auth: manager.key })).status).toBe(201);
    expect((await server.request('DELETE', `/api/v1/api-keys/${inside.id}`, { auth: manager.key })).status).toBe(204);
    expect((await adminView(inside.id)).revokedAt).not.toBeNull();
  });

  it('a PATCH that grants beyond its own authority on a key it can see is 403 FORBIDDEN about the grant only; nothing changes', async () => {
    const inside = await createKey(server, { scopes: ['workflows:read'], namespaces: ['team-a'] });
    const before = await adminView(inside.id);
    for (const [body, pattern] of [
      [{ scopes: ['workflows:read', 'workflows:write'] }, /scopes it does not hold: workflows:write/],
      [{ scopes: ['admin'] }, /scopes it does not hold: admin/],
      [{ namespaces: ['team-a', 'team-b'] }, /namespaces outside its own: team-b/],
      [{ namespaces: null }, /every namespace/],
    ] as const) {
      const error = expectError(await server.request('PATCH', `/api/v1/api-keys/${inside.id}`, { body, auth: manager.key }), 403, 'FORBIDDEN');
      expect(error.message).toMatch(pattern);
      expect(error.message).not.toContain(inside.prefix);
    }
    expect(await adminView(inside.id)).toEqual(before);
  });

  it('lists exactly the keys within its authority, itself included', async () => {
    const list = await server.request('GET', '/api/v1/api-keys?limit=500', { auth: manager.key });
    expect(list.status).toBe(200);
    const ids = new Set(list.body.items.map((k: { id: string }) => k.id));
    expect(ids.has(manager.id)).toBe(true);
    for (const k of foreign) expect(ids.has(k.id), JSON.stringify(k.namespaces)).toBe(false);
    for (const item of list.body.items) {
      expect(Object.keys(item).sort()).toEqual(KEY_FIELDS);
      expect(item.scopes.every((s: string) => ['api-keys:manage', 'workflows:read'].includes(s))).toBe(true);
      expect(item.namespaces).not.toBeNull();
    }
  });
});

describe('a namespace-restricted admin (admin in team.*)', () => {
  let nsAdmin: CreatedKey;
  const within: CreatedKey[] = [];
  const outside: CreatedKey[] = [];

  beforeAll(async () => {
    nsAdmin = await createKey(server, { scopes: ['admin'], namespaces: ['team.*'] });
    for (const namespaces of [['team'], ['team.a'], ['team.a.*'], ['team.*'], ['team.a', 'team.b.c']]) {
      within.push(await createKey(server, { scopes: ['workflows:read'], namespaces }));
    }
    within.push(await createKey(server, { scopes: ['admin'], namespaces: ['team.x'] }));
    for (const namespaces of [['teams'], ['ops'], ['*'], ['team.a', 'ops'], null]) {
      outside.push(await createKey(server, { scopes: ['workflows:read'], namespaces }));
    }
    outside.push(await createKey(server, { scopes: ['admin'] }));
  });

  it('lists only keys whose namespaces lie within team.* (and itself), never an unrestricted or partly-outside key', async () => {
    const list = await server.request('GET', '/api/v1/api-keys?limit=500', { auth: nsAdmin.key });
    expect(list.status).toBe(200);
    const ids = list.body.items.map((k: { id: string }) => k.id);
    for (const k of [nsAdmin, ...within]) expect(ids, JSON.stringify(k.namespaces)).toContain(k.id);
    for (const k of outside) expect(ids, JSON.stringify(k.namespaces)).not.toContain(k.id);
    for (const item of list.body.items) {
      expect(item.namespaces).not.toBeNull();
      expect(item.namespaces.every((n: string) => n === 'team' || n.startsWith('team.'))).toBe(true);
    }
  });

  it('pages the filtered list exactly (limit/offset/hasMore count only visible keys)', async () => {
    const all = (await server.request('GET', '/api/v1/api-keys?limit=500', { auth: nsAdmin.key })).body.items.map((k: { id: string }) => k.id);
    const paged: string[] = [];
    for (let offset = 0; ; offset += 2) {
      const page = await server.request('GET', `/api/v1/api-keys?limit=2&offset=${offset}`, { auth: nsAdmin.key });
      expect(page.status).toBe(200);
      expect(page.body.items.length).toBeLessThanOrEqual(2);
      paged.push(...page.body.items.map((k: { id: string }) => k.id));
      if (!page.body.hasMore) break;
    }
    expect(paged).toEqual(all);
  });

  it('answers every verb on a key outside team.* exactly like on a missing id', async () => {
    await expectIndistinguishable(nsAdmin, outside);
  });

  it('manages keys within team.*, admin keys there included', async () => {
    const adminInside = within.at(-1)!;
    expect((await server.request('GET', `/api/v1/api-keys/${adminInside.id}`, { auth: nsAdmin.key })).status).toBe(200);
    const patched = await server.request('PATCH', `/api/v1/api-keys/${adminInside.id}`, { body: { namespaces: ['team.y'] }, auth: nsAdmin.key });
    expect(patched.status, patched.text).toBe(200);
    expect(patched.body.namespaces).toEqual(['team.y']);
    // but it cannot move a key out of its reach, nor mint an unrestricted one
    expectError(await server.request('PATCH', `/api/v1/api-keys/${adminInside.id}`, { body: { namespaces: ['ops'] }, auth: nsAdmin.key }), 403, 'FORBIDDEN');
    expectError(await server.request('POST', '/api/v1/api-keys', { body: { label: uniqueLabel('ns-admin-all'), scopes: ['admin'] }, auth: nsAdmin.key }), 403, 'FORBIDDEN');
    expect((await adminView(adminInside.id)).namespaces).toEqual(['team.y']);
  });
});

describe('idempotent create with a label held by a key outside the caller’s authority', () => {
  let manager: CreatedKey;

  beforeAll(async () => {
    manager = await createKey(server, { scopes: ['api-keys:manage', 'workflows:read'], namespaces: ['team-a'] });
  });

  const post = (label: string, idempotent: boolean | undefined, as: string) =>
    server.request('POST', '/api/v1/api-keys', { body: { label, scopes: ['workflows:read'], namespaces: ['team-a'], ...(idempotent === undefined ? {} : { idempotent }) }, auth: as });

  it.each([
    ['another namespace', { scopes: ['workflows:read'], namespaces: ['team-b'] }],
    ['every namespace', { scopes: ['workflows:read'] }],
    ['a wider scope', { scopes: ['workflows:write'], namespaces: ['team-a'] }],
    ['an admin key', { scopes: ['admin'] }],
  ])('is the same 409 CONFLICT as without idempotent (label held by a key of %s) and reveals nothing of that key', async (_what, held) => {
    const foreign = await createKey(server, held);
    const label = foreign.label!;
    const withIdempotent = await post(label, true, manager.key);
    const plain = await post(label, undefined, manager.key);
    const explicitFalse = await post(label, false, manager.key);
    const error = expectError(withIdempotent, 409, 'CONFLICT');
    expect(error.message).toBe(`an API key labelled '${label}' already exists; choose another label`);
    expect(normalized(withIdempotent, label)).toEqual(normalized(plain, label));
    expect(normalized(withIdempotent, label)).toEqual(normalized(explicitFalse, label));
    for (const leak of [foreign.id, foreign.prefix, ...foreign.scopes]) {
      if (leak === 'workflows:read') continue; // the request itself names this scope
      expect(withIdempotent.text).not.toContain(leak);
    }
    // the same conflict, label substituted, as for a label held by a key the caller can see
    const mine = await createKey(server, { scopes: ['workflows:read'], namespaces: ['team-a'] }, manager.key);
    expect(normalized(await post(mine.label!, undefined, manager.key), mine.label!)).toEqual(normalized(plain, label));
    // nothing was created; the foreign key is untouched
    expect((await tableRows(server.databaseUrl, 'api_keys')).filter((r) => r.label === label)).toHaveLength(1);
    expect(await adminView(foreign.id)).toMatchObject({ label, scopes: foreign.scopes, namespaces: foreign.namespaces, revokedAt: null });
  });

  it('within its authority, idempotent: true keeps answering 200 with the existing key and no plaintext', async () => {
    const mine = await createKey(server, { scopes: ['workflows:read'], namespaces: ['team-a'] }, manager.key);
    const res = await post(mine.label!, true, manager.key);
    expect(res.status, res.text).toBe(200);
    expect(res.body.id).toBe(mine.id);
    expect(res.body.key).toBeUndefined();
    // the idempotent 200 is the key plus `created: false` (what tells it from the 201)
    expect(res.body.created).toBe(false);
    expect(Object.keys(res.body).filter((k) => k !== 'created').sort()).toEqual(KEY_FIELDS);
  });
});

describe('audit of denied attempts', () => {
  it('records the same denied event (action, outcome, details) for a foreign key and a missing id, naming only the id that was sent', async () => {
    const manager = await createKey(server, { scopes: ['api-keys:manage', 'workflows:read'], namespaces: ['team-a'] });
    const foreign = await createKey(server, { scopes: ['workflows:read'], namespaces: ['team-b'] });
    const missing = newId();
    for (const verb of VERBS.filter((v) => ['GET /:id', 'PATCH /:id {label}', 'POST /:id/rotate', 'DELETE /:id'].includes(v.name))) {
      await verb.call(foreign.id, manager.key);
      await verb.call(missing, manager.key);
    }
    const events = (await allAudit(server, `actor=${manager.prefix}`)).reverse();
    expect(events.map((e) => `${e.action} ${e.resourceId === foreign.id ? 'foreign' : e.resourceId === missing ? 'missing' : e.resourceId}`)).toEqual([
      'api_key.get foreign',
      'api_key.get missing',
      'api_key.update foreign',
      'api_key.update missing',
      'api_key.rotate foreign',
      'api_key.rotate missing',
      'api_key.revoke foreign',
      'api_key.revoke missing',
    ]);
    const strip = ({ id: _i, at: _a, resourceId: _r, ...rest }: any) => rest;
    for (let i = 0; i < events.length; i += 2) {
      expect(events[i]).toMatchObject({ outcome: 'denied', resourceType: 'api-key', namespace: null, details: { reason: 'not found' } });
      expect(strip(events[i])).toEqual(strip(events[i + 1]));
      expect(JSON.stringify(events[i])).not.toContain(foreign.prefix);
    }
  });

  it('records an escalation attempt and a label conflict as denied, without the other key', async () => {
    const manager = await createKey(server, { scopes: ['api-keys:manage', 'workflows:read'], namespaces: ['team-a'] });
    const foreign = await createKey(server, { scopes: ['workflows:read'], namespaces: ['team-b'] });
    expectError(await server.request('POST', '/api/v1/api-keys', { body: { label: uniqueLabel('esc'), scopes: ['admin'], namespaces: ['team-a'] }, auth: manager.key }), 403, 'FORBIDDEN');
    expectError(await server.request('POST', '/api/v1/api-keys', { body: { label: foreign.label, scopes: ['workflows:read'], namespaces: ['team-a'], idempotent: true }, auth: manager.key }), 409, 'CONFLICT');
    const events = (await allAudit(server, `actor=${manager.prefix}`)).reverse();
    expect(events.map((e) => [e.action, e.outcome, e.details.reason])).toEqual([
      ['api_key.create', 'denied', 'grant beyond the caller'],
      ['api_key.create', 'denied', 'label taken'],
    ]);
    expect(events[1].resourceId).toBeNull();
    expect(JSON.stringify(events)).not.toContain(foreign.id);
    expect(JSON.stringify(events)).not.toContain(foreign.prefix);
  });

  it('a namespace-restricted audit reader does not see denied key-management events (they belong to no namespace)', async () => {
    const reader = await createKey(server, { scopes: ['audit:read'], namespaces: ['team-a'] });
    const manager = await createKey(server, { scopes: ['api-keys:manage'], namespaces: ['team-a'] });
    await server.request('GET', `/api/v1/api-keys/${newId()}`, { auth: manager.key });
    const admin = await allAudit(server, `actor=${manager.prefix}`);
    expect(admin.some((e) => e.outcome === 'denied')).toBe(true);
    const seen = await server.request('GET', `/api/v1/audit?limit=500&actor=${manager.prefix}`, { auth: reader.key });
    expect(seen.status).toBe(200);
    expect(seen.body.items).toEqual([]);
  });
});
