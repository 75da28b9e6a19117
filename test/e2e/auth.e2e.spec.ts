import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomKey, startTestServer, type TestServer } from '../support/server';
import { allWorkflowIds, expectError, put, sha256hex, uniqueId, workflowYaml } from './helpers';

describe('API key authentication (plaintext static key)', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => {
    await server?.close();
  });

  it('rejects a request without any credentials with 401 MISSING_API_KEY', async () => {
    const res = await server.request('GET', '/api/v1/workflows', { auth: false });
    const error = expectError(res, 401, 'MISSING_API_KEY');
    expect(error.message).toMatch(/Authorization: Bearer|X-API-Key/);
  });

  it('rejects a write without credentials with 401 MISSING_API_KEY and stores nothing', async () => {
    const id = uniqueId('noauth');
    const res = await server.request('PUT', `/api/v1/workflows/${id}`, { raw: workflowYaml(id), contentType: 'application/yaml', auth: false });
    expectError(res, 401, 'MISSING_API_KEY');
    expect(await allWorkflowIds(server)).not.toContain(id);
    expectError(await server.request('GET', `/api/v1/workflows/${id}`), 404, 'NOT_FOUND');
  });

  it('rejects a wrong Bearer key with 401 INVALID_API_KEY', async () => {
    const res = await server.request('GET', '/api/v1/workflows', { auth: randomKey() });
    expectError(res, 401, 'INVALID_API_KEY');
  });

  it('rejects a wrong X-API-Key with 401 INVALID_API_KEY', async () => {
    const res = await server.request('GET', '/api/v1/workflows', { headers: { 'x-api-key': randomKey() } });
    expectError(res, 401, 'INVALID_API_KEY');
  });

  it('rejects a key that differs from the configured one only in its last character', async () => {
    const last = server.key.at(-1) === 'a' ? 'b' : 'a';
    const res = await server.request('GET', '/api/v1/workflows', { auth: server.key.slice(0, -1) + last });
    expectError(res, 401, 'INVALID_API_KEY');
  });

  it('rejects a prefix of the configured key', async () => {
    const res = await server.request('GET', '/api/v1/workflows', { auth: server.key.slice(0, 16) });
    expectError(res, 401, 'INVALID_API_KEY');
  });

  it('rejects an oversized key with 401 INVALID_API_KEY', async () => {
    const res = await server.request('GET', '/api/v1/workflows', { auth: 'k'.repeat(4000) });
    expectError(res, 401, 'INVALID_API_KEY');
  });

  it('accepts the configured key as Bearer', async () => {
    const res = await server.request('GET', '/api/v1/workflows', { headers: { authorization: `Bearer ${server.key}` } });
    expect(res.status, res.text).toBe(200);
    expect(res.body).toMatchObject({ items: expect.any(Array), limit: 50, offset: 0, hasMore: expect.any(Boolean) });
  });

  it('accepts the Bearer scheme case-insensitively', async () => {
    const res = await server.request('GET', '/api/v1/status', { headers: { authorization: `bearer ${server.key}` } });
    expect(res.status, res.text).toBe(200);
  });

  it('accepts the configured key as X-API-Key', async () => {
    const res = await server.request('GET', '/api/v1/workflows', { headers: { 'x-api-key': server.key } });
    expect(res.status, res.text).toBe(200);
    expect(res.body.items).toEqual(expect.any(Array));
  });

  it('accepts a valid Bearer even when X-API-Key is invalid (Authorization wins)', async () => {
    const res = await server.request('GET', '/api/v1/status', {
      headers: { authorization: `Bearer ${server.key}`, 'x-api-key': randomKey() },
    });
    expect(res.status, res.text).toBe(200);
    expect(res.body.state).toBe('ready');
  });

  it('rejects an invalid Bearer even when X-API-Key is valid', async () => {
    const res = await server.request('GET', '/api/v1/status', {
      headers: { authorization: `Bearer ${randomKey()}`, 'x-api-key': server.key },
    });
    expectError(res, 401, 'INVALID_API_KEY');
  });

  it('rejects an invalid Bearer next to a valid X-API-Key on a write and stores nothing', async () => {
    const id = uniqueId('precedence');
    const res = await server.request('PUT', `/api/v1/workflows/${id}`, {
      raw: workflowYaml(id),
      contentType: 'application/yaml',
      headers: { authorization: `Bearer ${randomKey()}`, 'x-api-key': server.key },
    });
    expectError(res, 401, 'INVALID_API_KEY');
    expectError(await server.request('GET', `/api/v1/workflows/${id}`), 404, 'NOT_FOUND');
  });

  it('rejects a Basic Authorization header with 401 INVALID_API_KEY', async () => {
    const basic = Buffer.from(`user:${server.key}`).toString('base64');
    const res = await server.request('GET', '/api/v1/status', { headers: { authorization: `Basic ${basic}` } });
    expectError(res, 401, 'INVALID_API_KEY');
  });

  it('rejects a non-Bearer Authorization scheme carrying the valid key, even next to a valid X-API-Key', async () => {
    const res = await server.request('GET', '/api/v1/status', {
      headers: { authorization: `Token ${server.key}`, 'x-api-key': server.key },
    });
    expectError(res, 401, 'INVALID_API_KEY');
  });

  it('rejects a bare key in Authorization without a scheme', async () => {
    const res = await server.request('GET', '/api/v1/status', { headers: { authorization: server.key } });
    expectError(res, 401, 'INVALID_API_KEY');
  });

  it('rejects "Bearer" without a token even next to a valid X-API-Key', async () => {
    // an Authorization header is present, so it wins and is judged on its own: malformed → invalid
    const res = await server.request('GET', '/api/v1/status', { headers: { authorization: 'Bearer ', 'x-api-key': server.key } });
    expectError(res, 401, 'INVALID_API_KEY');
  });

  it('treats an empty X-API-Key as missing credentials', async () => {
    const res = await server.request('GET', '/api/v1/status', { headers: { 'x-api-key': '' } });
    expectError(res, 401, 'MISSING_API_KEY');
  });

  it.each(['api_key', 'key', 'token', 'apiKey', 'access_token'])('ignores a valid key passed as ?%s= in the query string (401 MISSING_API_KEY)', async (param) => {
    const res = await server.request('GET', `/api/v1/workflows?${param}=${encodeURIComponent(server.key)}`, { auth: false });
    expectError(res, 401, 'MISSING_API_KEY');
  });

  it('ignores a valid key in the query string on a write and stores nothing', async () => {
    const id = uniqueId('querykey');
    const res = await server.request('PUT', `/api/v1/workflows/${id}?api_key=${server.key}`, {
      raw: workflowYaml(id),
      contentType: 'application/yaml',
      auth: false,
    });
    expectError(res, 401, 'MISSING_API_KEY');
    expect(await allWorkflowIds(server)).not.toContain(id);
  });

  it('never echoes the presented key in a 401 body', async () => {
    const wrong = randomKey();
    const res = await server.request('GET', '/api/v1/status', { auth: wrong });
    expectError(res, 401, 'INVALID_API_KEY');
    expect(res.text).not.toContain(wrong);
  });

  it.each(['/health', '/health/live', '/health/ready', '/api/v1/openapi.json'])('serves %s without a key', async (path) => {
    const res = await server.request('GET', path, { auth: false });
    expect(res.status, res.text).toBe(200);
    expect(res.body).toBeTypeOf('object');
  });

  it.each(['/health', '/health/live', '/health/ready', '/api/v1/openapi.json'])('serves the public route %s even with an invalid key', async (path) => {
    const res = await server.request('GET', path, { auth: randomKey() });
    expect(res.status, res.text).toBe(200);
  });

  it('requires a key for GET /api/v1/status', async () => {
    expectError(await server.request('GET', '/api/v1/status', { auth: false }), 401, 'MISSING_API_KEY');
    expectError(await server.request('GET', '/api/v1/status', { auth: randomKey() }), 401, 'INVALID_API_KEY');
  });

  it('answers GET /api/v1/status with {state: ready, version, uptimeMs} for a valid key', async () => {
    const res = await server.request('GET', '/api/v1/status');
    expect(res.status, res.text).toBe(200);
    expect(Object.keys(res.body).sort()).toEqual(['state', 'uptimeMs', 'version']);
    expect(res.body.state).toBe('ready');
    expect(res.body.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(Number.isInteger(res.body.uptimeMs)).toBe(true);
    expect(res.body.uptimeMs).toBeGreaterThanOrEqual(0);
    const later = await server.request('GET', '/api/v1/status');
    expect(later.body.uptimeMs).toBeGreaterThanOrEqual(res.body.uptimeMs);
  });

  it('protects every workflow route: GET, PUT, PATCH, DELETE answer 401 without a key and change nothing', async () => {
    const id = uniqueId('guarded');
    await put(server, id, workflowYaml(id));
    const calls: [string, string, Record<string, unknown>][] = [
      ['GET', '/api/v1/workflows', {}],
      ['GET', `/api/v1/workflows/${id}`, {}],
      ['PUT', `/api/v1/workflows/${id}`, { raw: workflowYaml(id, { message: 'changed' }), contentType: 'application/yaml' }],
      ['PATCH', `/api/v1/workflows/${id}`, { body: { enabled: false } }],
      ['DELETE', `/api/v1/workflows/${id}`, {}],
    ];
    for (const [method, path, init] of calls) {
      expectError(await server.request(method, path, { ...init, auth: false }), 401, 'MISSING_API_KEY');
      expectError(await server.request(method, path, { ...init, auth: randomKey() }), 401, 'INVALID_API_KEY');
    }
    const after = await server.request('GET', `/api/v1/workflows/${id}`);
    expect(after.status).toBe(200);
    expect(after.body).toMatchObject({ id, revision: 1, enabled: true });
    expect(after.body.source).toBe(workflowYaml(id));
  });
});

describe('API key authentication (sha256:<hex> static entries)', () => {
  let server: TestServer;
  const hashedKey = randomKey();
  const upperHashedKey = randomKey();

  beforeAll(async () => {
    server = await startTestServer({
      configure: (c) => {
        c.server.apiKeys = [`sha256:${sha256hex(hashedKey)}`, `sha256:${sha256hex(upperHashedKey).toUpperCase()}`];
      },
    });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('accepts the plaintext whose SHA-256 is configured, as Bearer and as X-API-Key', async () => {
    const bearer = await server.request('GET', '/api/v1/status', { auth: hashedKey });
    expect(bearer.status, bearer.text).toBe(200);
    expect(bearer.body.state).toBe('ready');
    const header = await server.request('GET', '/api/v1/workflows', { headers: { 'x-api-key': hashedKey } });
    expect(header.status, header.text).toBe(200);
  });

  it('accepts a key whose sha256 entry is written in upper-case hex', async () => {
    const res = await server.request('GET', '/api/v1/status', { auth: upperHashedKey });
    expect(res.status, res.text).toBe(200);
  });

  it('rejects the hash itself presented as a key', async () => {
    expectError(await server.request('GET', '/api/v1/status', { auth: sha256hex(hashedKey) }), 401, 'INVALID_API_KEY');
    expectError(await server.request('GET', '/api/v1/status', { auth: `sha256:${sha256hex(hashedKey)}` }), 401, 'INVALID_API_KEY');
  });

  it('no longer accepts the harness plaintext key, which is not configured here', async () => {
    expectError(await server.request('GET', '/api/v1/status'), 401, 'INVALID_API_KEY');
  });

  it('lets a hashed key write, and the write is visible afterwards', async () => {
    const id = uniqueId('hashed');
    const res = await server.request('PUT', `/api/v1/workflows/${id}`, { raw: workflowYaml(id), contentType: 'application/yaml', auth: hashedKey });
    expect(res.status, res.text).toBe(201);
    const after = await server.request('GET', `/api/v1/workflows/${id}`, { headers: { 'x-api-key': upperHashedKey } });
    expect(after.status).toBe(200);
    expect(after.body.revision).toBe(1);
  });
});
