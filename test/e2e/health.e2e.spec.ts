import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomKey, sleep, startTestServer, type TestServer } from '../support/server';
import { expectError, parseLogLines, put, uniqueId, waitForLogs, workflowYaml } from './helpers';

describe('health probes and request logs', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => {
    await server?.close();
  });

  it('GET /health/live answers 200 with a terminus body and no dependency checks', async () => {
    const res = await server.request('GET', '/health/live', { auth: false });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(res.body).toMatchObject({ status: 'ok', info: expect.any(Object), error: {}, details: expect.any(Object) });
    expect(res.body.details).not.toHaveProperty('store');
  });

  it('GET /health/ready answers 200 with the store and engine checks up', async () => {
    const res = await server.request('GET', '/health/ready', { auth: false });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      status: 'ok',
      error: {},
      info: { store: { status: 'up', dialect: 'sqlite' }, engine: { status: 'up', state: 'ready' } },
    });
  });

  it('GET /health answers 200 with a terminus body', async () => {
    const res = await server.request('GET', '/health', { auth: false });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: 'ok', info: expect.any(Object), error: {}, details: expect.any(Object) });
  });

  it('carries X-Request-Id on health answers too', async () => {
    const res = await server.request('GET', '/health/live', { auth: false, headers: { 'x-request-id': 'probe-1' } });
    expect(res.headers.get('x-request-id')).toBe('probe-1');
  });

  it('writes JSON log lines carrying the request id, and never the plaintext key (Bearer, X-API-Key, query string)', async () => {
    const wrongKey = randomKey();
    const id = uniqueId('logged');
    const requests: [string, string, Parameters<TestServer['request']>[2]][] = [
      ['log-bearer', `/api/v1/workflows/${id}`, { raw: workflowYaml(id), contentType: 'application/yaml' }],
      ['log-header', `/api/v1/workflows/${id}`, { headers: { 'x-api-key': server.key } }],
      ['log-query', `/api/v1/workflows?api_key=${server.key}`, { auth: false }],
      ['log-query-token', `/api/v1/status?token=${server.key}&key=${server.key}`, { auth: false }],
      ['log-wrong', '/api/v1/status', { auth: wrongKey }],
      ['log-404', '/api/v1/nowhere', {}],
    ];
    const statuses: Record<string, number> = {};
    for (const [reqId, path, init] of requests) {
      const method = reqId === 'log-bearer' ? 'PUT' : 'GET';
      const headers = { ...(init?.headers ?? {}), 'x-request-id': reqId };
      if (init?.auth !== false && !('x-api-key' in headers)) Object.assign(headers, { authorization: `Bearer ${init?.auth ?? server.key}` });
      const res = await server.request(method, path, { ...init, headers });
      expect(res.headers.get('x-request-id')).toBe(reqId);
      statuses[reqId] = res.status;
    }
    expect(statuses).toEqual({ 'log-bearer': 201, 'log-header': 200, 'log-query': 401, 'log-query-token': 401, 'log-wrong': 401, 'log-404': 404 });

    const reqIds = requests.map(([reqId]) => reqId);
    const text = await waitForLogs(server, (_t, lines) => reqIds.every((r) => lines.some((l) => l.reqId === r)));
    const lines = parseLogLines(text);
    // every line is JSON
    expect(lines.filter((l) => 'raw' in l)).toEqual([]);
    for (const reqId of reqIds) {
      const mine = lines.filter((l) => l.reqId === reqId);
      expect(mine.length, `no log line with reqId ${reqId}`).toBeGreaterThan(0);
      const completed = mine.find((l) => l.res?.statusCode !== undefined);
      expect(completed, `no completion line for ${reqId}`).toBeTruthy();
      expect(completed!.res.statusCode).toBe(statuses[reqId]);
      expect(completed!.req?.id ?? completed!.reqId).toBe(reqId);
    }
    const query = lines.find((l) => l.reqId === 'log-query' && l.req?.url);
    expect(query?.req.url).toMatch(/api_key=(%5Bredacted%5D|\[redacted\])/);
    expect(text).not.toContain(server.key);
    expect(text).not.toContain(wrongKey);
    expect(text.toLowerCase()).not.toContain(`bearer ${server.key}`.toLowerCase());
  });
});

describe('readiness while draining', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => {
    await server?.close();
  });

  it('turns /health/ready into 503 NOT_READY in the error shape after beginDrain, while /health/live stays 200 and the API still answers', async () => {
    const id = uniqueId('drain');
    await put(server, id, workflowYaml(id));
    expect((await server.request('GET', '/health/ready', { auth: false })).status).toBe(200);

    server.server.engine.beginDrain();

    const ready = await server.request('GET', '/health/ready', { auth: false });
    expectError(ready, 503, 'NOT_READY');
    const overall = await server.request('GET', '/health', { auth: false });
    expectError(overall, 503, 'NOT_READY');
    const live = await server.request('GET', '/health/live', { auth: false });
    expect(live.status).toBe(200);
    expect(live.body.status).toBe('ok');

    const status = await server.request('GET', '/api/v1/status');
    expect(status.status).toBe(200);
    expect(status.body.state).toBe('draining');
    // requests in flight / still routed keep being served
    const got = await server.request('GET', `/api/v1/workflows/${id}`);
    expect(got.status).toBe(200);
    expect(got.body.revision).toBe(1);
  });
});

describe('graceful close with server.drainDelayMs', () => {
  it('reports 503 on /health/ready during the drain delay while still serving other requests, then stops listening', async () => {
    const server = await startTestServer({ configure: (c) => (c.server.drainDelayMs = 700) });
    const id = uniqueId('graceful');
    await put(server, id, workflowYaml(id));
    const closing = server.close();
    await sleep(100);
    try {
      expectError(await server.request('GET', '/health/ready', { auth: false }), 503, 'NOT_READY');
      expect((await server.request('GET', '/health/live', { auth: false })).status).toBe(200);
      const got = await server.request('GET', `/api/v1/workflows/${id}`);
      expect(got.status).toBe(200);
    } finally {
      await closing;
    }
    await expect(fetch(`${server.url}/health/live`)).rejects.toThrow();
  });
});
