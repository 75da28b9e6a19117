/**
 * Hostile key management (issue 7, "No oracles in key management", "Rate limiting that cannot be
 * turned against users"):
 *
 * - For a manager, a key outside its authority (other namespaces, wider scopes, every
 *   namespace, admin) is indistinguishable from a missing key on GET, PATCH, rotate and DELETE:
 *   404 NOT_FOUND with the same body, and the key is left untouched.
 * - A namespace-restricted key, admin included, lists only keys whose namespaces lie within its
 *   own.
 * - `idempotent: true` with a label outside the caller's authority answers 409 CONFLICT exactly
 *   like a plain conflict, revealing nothing about the other key.
 * - Failed authentications from an address (or with a key prefix) never block a valid key
 *   presented from that address.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestResponse, type TestServer } from '../support/server';
import { expectError } from '../e2e/helpers';
import { badChecksumKey, createKey, uniqueLabel, unknownWellFormedKey, type CreatedKey } from '../e2e/access-helpers';
import { expectHealthy } from './hostile-helpers';

/** failed authentications allowed per window on this server (low, so the limiter engages) */
const FAILED_LIMIT = 5;

let server: TestServer;
const keys = {} as Record<'manager' | 'nsAdmin' | 'inside' | 'foreignNs' | 'foreignScope' | 'unrestricted' | 'admin' | 'partial' | 'revoked', CreatedKey>;

beforeAll(async () => {
  server = await startTestServer({
    configure: (c) => {
      c.server.trustProxy = true;
      c.auth.failedAttemptsLimit = FAILED_LIMIT;
    },
  });
  keys.manager = await createKey(server, { scopes: ['api-keys:manage', 'workflows:read'], namespaces: ['team.a.*'] });
  keys.nsAdmin = await createKey(server, { scopes: ['admin'], namespaces: ['team.a.*'] });
  keys.inside = await createKey(server, { scopes: ['workflows:read'], namespaces: ['team.a.x'] });
  keys.foreignNs = await createKey(server, { scopes: ['workflows:read'], namespaces: ['team.b'] });
  keys.foreignScope = await createKey(server, { scopes: ['audit:read'], namespaces: ['team.a.x'] });
  keys.unrestricted = await createKey(server, { scopes: ['workflows:read'] });
  keys.admin = await createKey(server, { scopes: ['admin'] });
  keys.partial = await createKey(server, { scopes: ['workflows:read'], namespaces: ['team.a.x', 'team.b'] });
  keys.revoked = await createKey(server, { scopes: ['workflows:read'] });
  const revoke = await server.request('DELETE', `/api/v1/api-keys/${keys.revoked.id}`);
  expect(revoke.status, revoke.text).toBe(204);
});

afterAll(async () => {
  await server?.close();
});

/** An id shaped like a real one (ULID) that no key has. */
function missingId(): string {
  const alphabet = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
  return `01${Array.from(randomBytes(24), (b) => alphabet[b % 32]).join('')}`;
}

type Verb = 'GET' | 'PATCH' | 'rotate' | 'DELETE';

function call(verb: Verb, id: string, as: string): Promise<TestResponse> {
  switch (verb) {
    case 'GET':
      return server.request('GET', `/api/v1/api-keys/${id}`, { auth: as });
    case 'PATCH':
      return server.request('PATCH', `/api/v1/api-keys/${id}`, { auth: as, body: { enabled: false, label: uniqueLabel('hijack') } });
    case 'rotate':
      return server.request('POST', `/api/v1/api-keys/${id}/rotate`, { auth: as, body: {} });
    case 'DELETE':
      return server.request('DELETE', `/api/v1/api-keys/${id}`, { auth: as });
  }
}

/** The body with `id` blanked, for comparing answers about different ids. */
const blanked = (res: TestResponse, id: string) => JSON.parse(res.text.replaceAll(id, 'ID'));

const VERBS: Verb[] = ['GET', 'PATCH', 'rotate', 'DELETE'];
const OUTSIDE_MANAGER = ['foreignNs', 'foreignScope', 'unrestricted', 'admin', 'partial'] as const;
const OUTSIDE_NS_ADMIN = ['foreignNs', 'unrestricted', 'admin', 'partial'] as const;

const cases = [
  ...OUTSIDE_MANAGER.flatMap((t) => VERBS.map((v) => ['manager', t, v] as const)),
  ...OUTSIDE_NS_ADMIN.flatMap((t) => VERBS.map((v) => ['nsAdmin', t, v] as const)),
];

describe('a key outside the caller authority is indistinguishable from a missing key', () => {
  it.each(cases)('%s → %s key, %s: 404 NOT_FOUND with the body of a missing key', async (caller, targetName, verb) => {
    const as = keys[caller].key;
    const target = keys[targetName];
    const missing = missingId();
    const foreign = await call(verb, target.id, as);
    const absent = await call(verb, missing, as);
    expectError(absent, 404, 'NOT_FOUND');
    expectError(foreign, 404, 'NOT_FOUND');
    expect(blanked(foreign, target.id)).toEqual(blanked(absent, missing));
    for (const secretish of [target.prefix, target.label ?? '', ...target.scopes.map((s) => `"${s}"`)]) {
      if (secretish) expect(foreign.text).not.toContain(secretish);
    }
  });

  it('left every outside key untouched: same label, enabled, not revoked, and its key still works', async () => {
    for (const name of OUTSIDE_MANAGER) {
      const target = keys[name];
      const res = await server.request('GET', `/api/v1/api-keys/${target.id}`);
      expect(res.status, res.text).toBe(200);
      expect(res.body).toMatchObject({ label: target.label, enabled: true, revokedAt: null, prefix: target.prefix });
      const used = await server.request('GET', '/api/v1/status', { auth: target.key });
      expect(used.status, `${name}: ${used.text}`).toBe(200);
    }
  });

  it.each(['manager', 'nsAdmin'] as const)('%s still reads a key inside its authority (200)', async (caller) => {
    const res = await server.request('GET', `/api/v1/api-keys/${keys.inside.id}`, { auth: keys[caller].key });
    expect(res.status, res.text).toBe(200);
    expect(res.body.id).toBe(keys.inside.id);
  });
});

async function listIds(as: string, pageSize?: number): Promise<string[]> {
  const ids: string[] = [];
  for (let offset = 0; ; offset += pageSize ?? 500) {
    const res = await server.request('GET', `/api/v1/api-keys?limit=${pageSize ?? 500}&offset=${offset}`, { auth: as });
    expect(res.status, res.text).toBe(200);
    ids.push(...res.body.items.map((k: { id: string }) => k.id));
    if (!res.body.hasMore) return ids;
  }
}

describe('a namespace-restricted key lists only keys within its namespaces', () => {
  it.each([
    ['manager', undefined, OUTSIDE_MANAGER],
    ['manager', 1, OUTSIDE_MANAGER],
    ['nsAdmin', undefined, OUTSIDE_NS_ADMIN],
    ['nsAdmin', 2, OUTSIDE_NS_ADMIN],
  ] as const)('%s (page size %s) sees the inside key and none of the outside ones', async (caller, pageSize, outside) => {
    const ids = await listIds(keys[caller].key, pageSize);
    expect(ids).toContain(keys.inside.id);
    for (const name of outside) expect(ids, `${name} is listed`).not.toContain(keys[name].id);
    expect(ids).not.toContain(keys.revoked.id);
  });

  it('nsAdmin sees a key with scopes it holds through admin', async () => {
    expect(await listIds(keys.nsAdmin.key)).toContain(keys.foreignScope.id);
  });
});

describe('idempotent: true with a label outside the caller authority answers like a plain conflict', () => {
  const idemCases = [
    ...OUTSIDE_MANAGER.map((t) => ['manager', t] as const),
    ...OUTSIDE_NS_ADMIN.map((t) => ['nsAdmin', t] as const),
  ];

  it.each(idemCases)('%s with the label of the %s key: 409 CONFLICT, nothing revealed', async (caller, targetName) => {
    const target = keys[targetName];
    const body = { label: target.label, scopes: ['workflows:read'], namespaces: ['team.a.x'] };
    const idem = await server.request('POST', '/api/v1/api-keys', { auth: keys[caller].key, body: { ...body, idempotent: true } });
    const plain = await server.request('POST', '/api/v1/api-keys', { auth: keys[caller].key, body });
    expectError(plain, 409, 'CONFLICT');
    expectError(idem, 409, 'CONFLICT');
    expect(JSON.parse(idem.text)).toEqual(JSON.parse(plain.text));
    for (const text of [idem.text, plain.text]) {
      expect(text).not.toContain(target.id);
      expect(text).not.toContain(target.prefix);
      expect(text).not.toContain(target.key);
    }
  });

  it('with the label of a key inside its authority and matching settings, answers 200 with that key and no plaintext', async () => {
    const res = await server.request('POST', '/api/v1/api-keys', {
      auth: keys.manager.key,
      body: { label: keys.inside.label, scopes: ['workflows:read'], namespaces: ['team.a.x'], idempotent: true },
    });
    expect(res.status, res.text).toBe(200);
    expect(res.body.id).toBe(keys.inside.id);
    expect(res.body.key).toBeUndefined();
  });
});

// ---- failed authentication never blocks a valid key ------------------------------------------

let ipCounter = 0;
/** A fresh client address per case (the server trusts X-Forwarded-For here). */
function freshIp(): string {
  ipCounter += 1;
  return `198.51.100.${ipCounter}`;
}

function fromIp(ip: string, auth: false | string): Promise<TestResponse> {
  return server.request('GET', '/api/v1/status', { auth, headers: { 'x-forwarded-for': ip } });
}

const BAD: Array<[string, () => false | string]> = [
  ['no credentials', () => false],
  ['a malformed key', () => 'not-a-key-at-all'],
  ['a managed key with a bad checksum', () => badChecksumKey()],
  ['an unknown well-formed managed key', () => unknownWellFormedKey()],
  ['the same unknown key every time', (() => {
    const same = unknownWellFormedKey();
    return () => same;
  })()],
  ['a revoked key', () => keys.revoked.key],
  ['a wrong static key', () => randomBytes(24).toString('hex')],
];

describe('failed authentication from an address never blocks a valid key from it', () => {
  it.each(BAD)('after 15 failures with %s, the static and a managed key still answer 200', async (_what, bad) => {
    const ip = freshIp();
    const statuses: number[] = [];
    for (let i = 0; i < FAILED_LIMIT * 3; i++) {
      const res = await fromIp(ip, bad());
      if (res.status === 429) {
        expectError(res, 429, 'RATE_LIMITED');
        expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
      } else {
        expect(res.status, res.text).toBe(401);
        expect(['MISSING_API_KEY', 'INVALID_API_KEY']).toContain(res.body.error.code);
      }
      statuses.push(res.status);
    }
    expect(statuses, 'the failures were limited').toContain(429);
    const withStatic = await fromIp(ip, server.key);
    expect(withStatic.status, withStatic.text).toBe(200);
    const withManaged = await fromIp(ip, keys.inside.key);
    expect(withManaged.status, withManaged.text).toBe(200);
    // and the attacker is still limited afterwards
    const again = await fromIp(ip, bad());
    expect([401, 429]).toContain(again.status);
  });

  it('failures with one key prefix spread over many addresses are limited for that prefix, not for valid keys', async () => {
    const bad = unknownWellFormedKey();
    const statuses: number[] = [];
    for (let i = 0; i < FAILED_LIMIT * 3; i++) statuses.push((await fromIp(freshIp(), bad)).status);
    expect(statuses).toContain(429);
    const ip = freshIp();
    expect((await fromIp(ip, keys.inside.key)).status).toBe(200);
    expect((await fromIp(ip, server.key)).status).toBe(200);
  });
});

describe('after the hostile key-management cases', () => {
  it('the server still answers /health/live and /health/ready', async () => {
    await expectHealthy(server);
  });
});
