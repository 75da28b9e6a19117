/**
 * Rate limiting that cannot be turned against users (issue 7, item 7).
 *
 * Failed authentication: the server authenticates first and counts only failures, per client
 * address AND per presented credential (a managed key's `ak_` prefix, or a hash of any other
 * token). A blocked address or credential gets 429 + Retry-After for failing attempts only; a
 * valid key always passes.
 *
 * Per-key limits: a managed key may carry `rateLimit: {requests, window}`; over it the key gets
 * 429 RATE_LIMITED with Retry-After, and every response to it carries RateLimit-Limit,
 * RateLimit-Remaining and RateLimit-Reset. Other keys are unaffected.
 *
 * These servers have their own limiter settings (config/test.yaml lifts the failed-auth limit).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateApiKey } from '../../src/engine/access/key-format';
import { sleep, startTestServer, type TestServer } from '../support/server';
import { badChecksumKey, createKey, tableRows, uniqueLabel, unknownWellFormedKey } from './access-helpers';
import { expectError } from './helpers';

const STATUS = '/api/v1/status';

let counter = 0;
/** A fresh client address per use (the servers trust X-Forwarded-For). */
function address(): string {
  counter += 1;
  return `10.88.${Math.floor(counter / 250)}.${(counter % 250) + 1}`;
}

/** A key of the right shape that carries `prefix` (the 12 characters lists and audit show) but a wrong secret. */
function guessFor(prefix: string): string {
  const other = generateApiKey().key;
  return prefix + other.slice(prefix.length);
}

describe('failed authentication: 3 failures per 2 s per address and per credential', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer({
      configure: (c) => {
        c.server.trustProxy = true;
        c.auth.failedAttemptsLimit = 3;
        c.auth.failedAttemptsWindowMs = 2000;
      },
    });
  });
  afterAll(async () => {
    await server?.close();
  });

  const as = (ip: string, auth: false | string | undefined, path = STATUS) => server.request('GET', path, { auth, headers: { 'x-forwarded-for': ip } });

  it('a valid key from an address that was just blocked by failures still gets 200, while the failing key gets 429 with Retry-After', async () => {
    const ip = address();
    const managed = await createKey(server, { scopes: ['workflows:read'] });
    const failing = unknownWellFormedKey();
    for (let i = 0; i < 3; i++) expectError(await as(ip, failing), 401, 'INVALID_API_KEY');
    const blocked = await as(ip, failing);
    expectError(blocked, 429, 'RATE_LIMITED');
    expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(Number(blocked.headers.get('retry-after'))).toBeLessThanOrEqual(2);
    // the same address, valid credentials, several routes: never refused
    for (let i = 0; i < 5; i++) {
      const ok = await as(ip, managed.key);
      expect(ok.status, ok.text).toBe(200);
      expect(ok.headers.get('retry-after')).toBeNull();
    }
    expect((await as(ip, managed.key, '/api/v1/workflows')).status).toBe(200);
    expect((await as(ip, undefined)).status).toBe(200); // the static key
    // interleaved: the failing one is still 429, another failing token too (the address is blocked)
    expectError(await as(ip, failing), 429, 'RATE_LIMITED');
    expectError(await as(ip, 'not-a-key-at-all-but-long-enough'), 429, 'RATE_LIMITED');
    expectError(await as(ip, false), 429, 'RATE_LIMITED');
    // a valid key is not counted while the address is blocked, and nothing else changed for it
    expect((await as(ip, managed.key)).status).toBe(200);
  });

  it('blocks a credential whose failures come from many addresses (one failure per address), and only that credential', async () => {
    const target = await createKey(server, { scopes: ['workflows:read'] });
    // guesses at the secret part of a known prefix, each from a fresh address
    for (let i = 0; i < 3; i++) expectError(await as(address(), guessFor(target.prefix)), 401, 'INVALID_API_KEY');
    const blocked = await as(address(), guessFor(target.prefix));
    expectError(blocked, 429, 'RATE_LIMITED');
    expect(blocked.headers.get('retry-after')).toMatch(/^\d+$/);
    // failures with another prefix, from fresh addresses, are not blocked
    const other = unknownWellFormedKey();
    for (let i = 0; i < 3; i++) expectError(await as(address(), other), 401, 'INVALID_API_KEY');
    // the real key with that prefix keeps working from anywhere, including the addresses used above
    expect((await as(address(), target.key)).status).toBe(200);
    expect((await as(`10.88.0.${(counter % 250) + 1}`, target.key)).status).toBe(200);
    // and the guessing stays blocked
    expectError(await as(address(), guessFor(target.prefix)), 429, 'RATE_LIMITED');
  });

  it('failures from one prefix do not block another prefix, even from the same address below its limit', async () => {
    const ip = address();
    const noisyPrefix = badChecksumKey();
    // 2 failures from ip with prefix A, then prefix A from two more addresses: A is blocked
    expectError(await as(ip, noisyPrefix), 401, 'INVALID_API_KEY');
    expectError(await as(ip, noisyPrefix), 401, 'INVALID_API_KEY');
    expectError(await as(address(), noisyPrefix), 401, 'INVALID_API_KEY');
    expectError(await as(address(), noisyPrefix), 429, 'RATE_LIMITED');
    // ip has 2 failures (below 3): prefix B from ip is still a plain 401
    expectError(await as(ip, unknownWellFormedKey()), 401, 'INVALID_API_KEY');
  });

  it('counts other tokens (static-key look-alikes) by their hash: one token from many addresses is blocked, another is not', async () => {
    const wrong = 'x'.repeat(40);
    for (let i = 0; i < 3; i++) expectError(await as(address(), wrong), 401, 'INVALID_API_KEY');
    expectError(await as(address(), wrong), 429, 'RATE_LIMITED');
    expectError(await as(address(), 'y'.repeat(40)), 401, 'INVALID_API_KEY');
    // the static key (a non-ak token too) passes from a fresh address
    expect((await as(address(), undefined)).status).toBe(200);
  });

  it('unblocks after the window: the blocked credential gets 401 again', async () => {
    const token = 'z'.repeat(40);
    for (let i = 0; i < 3; i++) await as(address(), token);
    expectError(await as(address(), token), 429, 'RATE_LIMITED');
    await sleep(2200);
    expectError(await as(address(), token), 401, 'INVALID_API_KEY');
  });

  it('never counts successes: 50 valid requests from one address leave its 3 failures intact', async () => {
    const ip = address();
    for (let i = 0; i < 50; i++) expect((await as(ip, undefined)).status).toBe(200);
    for (let i = 0; i < 3; i++) expectError(await as(ip, unknownWellFormedKey()), 401, 'INVALID_API_KEY');
    expectError(await as(ip, unknownWellFormedKey()), 429, 'RATE_LIMITED');
    expect((await as(ip, undefined)).status).toBe(200);
  });
});

describe('per-key request limits (rateLimit on a managed key)', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => {
    await server?.close();
  });

  const get = (key: string, path = STATUS) => server.request('GET', path, { auth: key });

  it('stores and shows rateLimit at create, GET and list, in the new column', async () => {
    const created = await createKey(server, { scopes: ['workflows:read'], rateLimit: { requests: 100, window: '60s' } });
    expect(created.rateLimit).toEqual({ requests: 100, window: '1m' });
    expect((await server.request('GET', `/api/v1/api-keys/${created.id}`)).body.rateLimit).toEqual({ requests: 100, window: '1m' });
    const list = await server.request('GET', '/api/v1/api-keys?limit=500');
    expect(list.body.items.find((k: { id: string }) => k.id === created.id).rateLimit).toEqual({ requests: 100, window: '1m' });
    const row = (await tableRows(server.databaseUrl, 'api_keys')).find((r) => r.id === created.id)!;
    expect(JSON.parse(String(row.rate_limit))).toEqual({ requests: 100, windowSeconds: 60 });
    const unlimited = await createKey(server, { scopes: ['workflows:read'] });
    expect(unlimited.rateLimit).toBeNull();
    expect((await tableRows(server.databaseUrl, 'api_keys')).find((r) => r.id === unlimited.id)!.rate_limit).toBeNull();
  });

  it('answers 429 RATE_LIMITED with Retry-After and RateLimit-* headers over the limit; other keys are unaffected', async () => {
    const limited = await createKey(server, { scopes: ['workflows:read'], rateLimit: { requests: 3, window: '10s' } });
    const sibling = await createKey(server, { scopes: ['workflows:read'], rateLimit: { requests: 3, window: '10s' } });
    const unlimited = await createKey(server, { scopes: ['workflows:read'] });
    for (const expected of [2, 1, 0]) {
      const res = await get(limited.key, '/api/v1/workflows');
      expect(res.status, res.text).toBe(200);
      expect(res.headers.get('ratelimit-limit')).toBe('3');
      expect(res.headers.get('ratelimit-remaining')).toBe(String(expected));
      const reset = Number(res.headers.get('ratelimit-reset'));
      expect(reset).toBeGreaterThanOrEqual(1);
      expect(reset).toBeLessThanOrEqual(10);
    }
    const over = await get(limited.key, '/api/v1/workflows');
    const error = expectError(over, 429, 'RATE_LIMITED');
    expect(error.message).toMatch(/limited to 3 requests per 10 s/);
    expect(Number(over.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(Number(over.headers.get('retry-after'))).toBeLessThanOrEqual(10);
    expect(over.headers.get('ratelimit-limit')).toBe('3');
    expect(over.headers.get('ratelimit-remaining')).toBe('0');
    expect(Number(over.headers.get('ratelimit-reset'))).toBeGreaterThanOrEqual(1);
    expectError(await get(limited.key), 429, 'RATE_LIMITED');

    // another key with the same policy counts on its own; an unlimited key carries no headers
    const siblingRes = await get(sibling.key);
    expect(siblingRes.status).toBe(200);
    expect(siblingRes.headers.get('ratelimit-remaining')).toBe('2');
    for (let i = 0; i < 10; i++) {
      const res = await get(unlimited.key);
      expect(res.status).toBe(200);
      expect(res.headers.get('ratelimit-limit')).toBeNull();
    }
    expect((await get(server.key)).headers.get('ratelimit-limit')).toBeNull();
  });

  it('lets the key through again once its window has passed', async () => {
    const limited = await createKey(server, { scopes: ['workflows:read'], rateLimit: { requests: 2, window: '1s' } });
    expect((await get(limited.key)).status).toBe(200);
    expect((await get(limited.key)).status).toBe(200);
    expectError(await get(limited.key), 429, 'RATE_LIMITED');
    await sleep(1100);
    const again = await get(limited.key);
    expect(again.status, again.text).toBe(200);
    expect(again.headers.get('ratelimit-remaining')).toBe('1');
  });

  it('counts requests the key is not allowed to make (403) and errors (404) too, with the headers on them', async () => {
    const limited = await createKey(server, { scopes: ['workflows:read'], rateLimit: { requests: 2, window: '10s' } });
    const forbidden = await get(limited.key, '/api/v1/audit');
    expectError(forbidden, 403, 'FORBIDDEN');
    expect(forbidden.headers.get('ratelimit-remaining')).toBe('1');
    const missing = await get(limited.key, '/api/v1/workflows/does-not-exist');
    expectError(missing, 404, 'NOT_FOUND');
    expect(missing.headers.get('ratelimit-remaining')).toBe('0');
    expectError(await get(limited.key), 429, 'RATE_LIMITED');
  });

  it('PATCH sets, changes and removes the limit, effective on the next request', async () => {
    const key = await createKey(server, { scopes: ['workflows:read'] });
    expect((await get(key.key)).headers.get('ratelimit-limit')).toBeNull();
    const set = await server.request('PATCH', `/api/v1/api-keys/${key.id}`, { body: { rateLimit: { requests: 1, window: '1h' } } });
    expect(set.status, set.text).toBe(200);
    expect(set.body.rateLimit).toEqual({ requests: 1, window: '1h' });
    expect((await get(key.key)).headers.get('ratelimit-limit')).toBe('1');
    expectError(await get(key.key), 429, 'RATE_LIMITED');
    const raised = await server.request('PATCH', `/api/v1/api-keys/${key.id}`, { body: { rateLimit: { requests: 5, window: '1h' } } });
    expect(raised.body.rateLimit).toEqual({ requests: 5, window: '1h' });
    const afterRaise = await get(key.key);
    expect(afterRaise.status).toBe(200);
    expect(afterRaise.headers.get('ratelimit-limit')).toBe('5');
    const cleared = await server.request('PATCH', `/api/v1/api-keys/${key.id}`, { body: { rateLimit: null } });
    expect(cleared.body.rateLimit).toBeNull();
    for (let i = 0; i < 8; i++) {
      const res = await get(key.key);
      expect(res.status).toBe(200);
      expect(res.headers.get('ratelimit-limit')).toBeNull();
    }
    expect((await server.request('GET', `/api/v1/api-keys/${key.id}`)).body.rateLimit).toBeNull();
  });

  it('keeps the limit across a rotation (it belongs to the key, not to its secret)', async () => {
    const key = await createKey(server, { scopes: ['workflows:read'], rateLimit: { requests: 2, window: '1h' } });
    expect((await get(key.key)).status).toBe(200);
    const rotated = await server.request('POST', `/api/v1/api-keys/${key.id}/rotate`, { body: {} });
    expect(rotated.status).toBe(201);
    expect(rotated.body.rateLimit).toEqual({ requests: 2, window: '1h' });
    expect((await get(rotated.body.key)).headers.get('ratelimit-remaining')).toBe('0');
    expectError(await get(rotated.body.key), 429, 'RATE_LIMITED');
  });

  it.each([
    [{ requests: 0, window: '1m' }, 'rateLimit.requests', /integer from 1 to 1000000/],
    [{ requests: 2_000_000, window: '1m' }, 'rateLimit.requests', /integer from 1 to 1000000/],
    [{ requests: 1.5, window: '1m' }, 'rateLimit.requests', /integer/],
    [{ requests: '10', window: '1m' }, 'rateLimit.requests', /integer/],
    [{ requests: 10, window: '500ms' }, 'rateLimit.window', /whole seconds from 1s to 24h/],
    [{ requests: 10, window: '7d' }, 'rateLimit.window', /whole seconds from 1s to 24h/],
    [{ requests: 10, window: 'often' }, 'rateLimit.window', /e\.g\. '30s', '1m'/],
    [{ requests: 10, window: 60 }, 'rateLimit.window', /duration string/],
    [{ requests: 10 }, 'rateLimit.window', /duration/],
    [{ requests: 10, window: '1m', burst: 3 }, 'rateLimit.burst', /unknown field/],
    ['100/1m', 'rateLimit', /object \{requests, window\}/],
  ])('rejects rateLimit %j at create and PATCH with 400 VALIDATION_ERROR on %s', async (rateLimit, field, message) => {
    const label = uniqueLabel('bad-limit');
    const created = await server.request('POST', '/api/v1/api-keys', { body: { label, scopes: ['workflows:read'], rateLimit } });
    const error = expectError(created, 400, 'VALIDATION_ERROR');
    const detail = error.details.find((d: { field: string }) => d.field === field);
    expect(detail, created.text).toBeDefined();
    expect(detail.message).toMatch(message);
    expect((await tableRows(server.databaseUrl, 'api_keys')).filter((r) => r.label === label)).toEqual([]);

    const key = await createKey(server, { scopes: ['workflows:read'], rateLimit: { requests: 7, window: '1m' } });
    const patched = await server.request('PATCH', `/api/v1/api-keys/${key.id}`, { body: { rateLimit } });
    expect(expectError(patched, 400, 'VALIDATION_ERROR').details.some((d: { field: string }) => d.field === field), patched.text).toBe(true);
    expect((await server.request('GET', `/api/v1/api-keys/${key.id}`)).body.rateLimit).toEqual({ requests: 7, window: '1m' });
  });

  it('documents rateLimit in the OpenAPI document (request and response DTOs)', async () => {
    const doc = (await server.request('GET', '/api/v1/openapi.json', { auth: false })).body;
    const schemas = doc.components.schemas;
    for (const name of ['CreateApiKeyDto', 'UpdateApiKeyDto', 'ApiKeyDto']) expect(Object.keys(schemas[name].properties), name).toContain('rateLimit');
    expect(Object.keys(schemas.ApiKeyRateLimitDto.properties).sort()).toEqual(['requests', 'window']);
    expect(Object.keys(doc.paths['/api/v1/api-keys'].get.responses)).toContain('429');
  });
});
