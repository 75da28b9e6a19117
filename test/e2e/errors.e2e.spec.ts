import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../support/server';
import { expectError, expectNoStack, get, parseLogLines, parseRawResponse, put, rawRequest, rawSocket, uniqueId, waitForLogs, workflowYaml, YAML } from './helpers';

describe('error shape for routing, parsing and content-type failures', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => {
    await server?.close();
  });

  it.each(['/api/v1/nope', '/api/v2/workflows', '/api', '/', '/api/v1/workflows/a/b/c', '/healthz'])(
    'answers an unknown route %s with 404 NOT_FOUND in the error shape',
    async (path) => {
      const res = await server.request('GET', path);
      expectError(res, 404, 'NOT_FOUND');
    },
  );

  it('answers an unknown route without a key with 404 NOT_FOUND (not a bare Fastify body)', async () => {
    const res = await server.request('GET', '/api/v1/does-not-exist', { auth: false });
    const error = expectError(res, 404, 'NOT_FOUND');
    expect(res.body).not.toHaveProperty('statusCode');
    expect(error.message).not.toMatch(/Cannot GET/);
  });

  it.each([
    ['POST', '/api/v1/workflows/some-id'],
    ['POST', '/api/v1/workflows'],
    ['DELETE', '/api/v1/workflows'],
    ['PUT', '/api/v1/status'],
    ['POST', '/health/ready'],
    ['DELETE', '/api/v1/openapi.json'],
  ])('answers the unsupported method %s %s with a 4xx in the error shape', async (method, path) => {
    const res = await server.request(method, path, { auth: false });
    expect([404, 405], res.text).toContain(res.status);
    expectError(res, res.status, res.status === 404 ? 'NOT_FOUND' : 'METHOD_NOT_ALLOWED');
  });

  it('does not create anything when an unsupported POST is sent to a workflow path', async () => {
    const id = uniqueId('post');
    const res = await server.request('POST', `/api/v1/workflows/${id}`, { raw: workflowYaml(id), contentType: YAML });
    expect([404, 405]).toContain(res.status);
    expectError(await get(server, id), 404, 'NOT_FOUND');
  });

  it('rejects malformed JSON on PATCH with 400 VALIDATION_ERROR and leaves the workflow unchanged', async () => {
    const id = uniqueId('badjson');
    await put(server, id, workflowYaml(id));
    const res = await server.request('PATCH', `/api/v1/workflows/${id}`, { raw: '{"enabled": fal', contentType: 'application/json' });
    expectError(res, 400, 'VALIDATION_ERROR');
    const after = await get(server, id);
    expect(after.status).toBe(200);
    expect(after.body).toMatchObject({ enabled: true, revision: 1 });
  });

  it('rejects malformed JSON without a key with a 4xx in the error shape', async () => {
    const res = await server.request('PATCH', '/api/v1/workflows/whatever', { raw: '{nope', contentType: 'application/json', auth: false });
    expect([400, 401]).toContain(res.status);
    expectError(res, res.status, res.status === 400 ? 'VALIDATION_ERROR' : 'MISSING_API_KEY');
  });

  it('rejects an empty JSON body on PATCH with 400 VALIDATION_ERROR', async () => {
    const id = uniqueId('emptyjson');
    await put(server, id, workflowYaml(id));
    const res = await server.request('PATCH', `/api/v1/workflows/${id}`, { raw: '', contentType: 'application/json' });
    expectError(res, 400, 'VALIDATION_ERROR');
    expect((await get(server, id)).body.enabled).toBe(true);
  });

  it('rejects a JSON body sent to PUT workflows with 415 UNSUPPORTED_MEDIA_TYPE and stores nothing', async () => {
    const id = uniqueId('json-put');
    const res = await server.request('PUT', `/api/v1/workflows/${id}`, { body: { id, tasks: [{ id: 'a', type: 'log', message: 'x' }] } });
    const error = expectError(res, 415, 'UNSUPPORTED_MEDIA_TYPE');
    expect(error.message).toMatch(/yaml/i);
    expectError(await get(server, id), 404, 'NOT_FOUND');
  });

  it('rejects a JSON body sent to PUT on an existing workflow with 415 and keeps the previous revision', async () => {
    const id = uniqueId('json-put-existing');
    await put(server, id, workflowYaml(id));
    const res = await server.request('PUT', `/api/v1/workflows/${id}`, { raw: JSON.stringify({ id, tasks: [] }), contentType: 'application/json' });
    expectError(res, 415, 'UNSUPPORTED_MEDIA_TYPE');
    const after = await get(server, id);
    expect(after.body.revision).toBe(1);
    expect(after.body.source).toBe(workflowYaml(id));
  });

  it('rejects text/plain on PUT workflows with 415 UNSUPPORTED_MEDIA_TYPE and stores nothing', async () => {
    const id = uniqueId('text-put');
    const res = await server.request('PUT', `/api/v1/workflows/${id}`, { raw: workflowYaml(id), contentType: 'text/plain' });
    expectError(res, 415, 'UNSUPPORTED_MEDIA_TYPE');
    expectError(await get(server, id), 404, 'NOT_FOUND');
  });

  it('rejects an unknown media type (application/xml) on PUT with 415 UNSUPPORTED_MEDIA_TYPE', async () => {
    const id = uniqueId('xml-put');
    const res = await server.request('PUT', `/api/v1/workflows/${id}`, { raw: '<workflow/>', contentType: 'application/xml' });
    expectError(res, 415, 'UNSUPPORTED_MEDIA_TYPE');
    expectError(await get(server, id), 404, 'NOT_FOUND');
  });

  it('rejects a YAML body on PATCH with 415 UNSUPPORTED_MEDIA_TYPE and leaves the workflow enabled', async () => {
    const id = uniqueId('yaml-patch');
    await put(server, id, workflowYaml(id));
    const res = await server.request('PATCH', `/api/v1/workflows/${id}`, { raw: 'enabled: false\n', contentType: YAML });
    expectError(res, 415, 'UNSUPPORTED_MEDIA_TYPE');
    expect((await get(server, id)).body.enabled).toBe(true);
  });

  it('rejects text/plain and form bodies on PATCH with 415 UNSUPPORTED_MEDIA_TYPE', async () => {
    const id = uniqueId('form-patch');
    await put(server, id, workflowYaml(id));
    expectError(await server.request('PATCH', `/api/v1/workflows/${id}`, { raw: '{"enabled":false}', contentType: 'text/plain' }), 415, 'UNSUPPORTED_MEDIA_TYPE');
    expectError(
      await server.request('PATCH', `/api/v1/workflows/${id}`, { raw: 'enabled=false', contentType: 'application/x-www-form-urlencoded' }),
      415,
      'UNSUPPORTED_MEDIA_TYPE',
    );
    expect((await get(server, id)).body.enabled).toBe(true);
  });

  it('accepts application/json with a charset parameter on PATCH', async () => {
    const id = uniqueId('charset');
    await put(server, id, workflowYaml(id));
    const res = await server.request('PATCH', `/api/v1/workflows/${id}`, { raw: '{"enabled":false}', contentType: 'application/json; charset=utf-8' });
    expect(res.status, res.text).toBe(200);
    expect((await get(server, id)).body.enabled).toBe(false);
  });

  it('puts an X-Request-Id header on every error response', async () => {
    const responses = [
      await server.request('GET', '/api/v1/nope'),
      await server.request('GET', '/api/v1/status', { auth: false }),
      await server.request('GET', '/api/v1/workflows?limit=0'),
      await server.request('GET', '/api/v1/workflows/missing-one'),
      await server.request('PATCH', '/api/v1/workflows/x', { raw: '{', contentType: 'application/json' }),
      await server.request('PUT', '/api/v1/workflows/x', { raw: '{}', contentType: 'application/json' }),
    ];
    const ids = new Set<string>();
    for (const res of responses) {
      expect(res.status).toBeGreaterThanOrEqual(400);
      const id = res.headers.get('x-request-id');
      expect(id, `${res.status} ${res.text}`).toMatch(/^[A-Za-z0-9._:-]{1,128}$/);
      ids.add(id!);
    }
    expect(ids.size).toBe(responses.length);
  });

  it('echoes a sane client-provided X-Request-Id on success and on errors', async () => {
    const ok = await server.request('GET', '/api/v1/status', { headers: { 'x-request-id': 'trace-abc.123:xyz', authorization: `Bearer ${server.key}` } });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('x-request-id')).toBe('trace-abc.123:xyz');

    const notFound = await server.request('GET', '/api/v1/nope', { headers: { 'x-request-id': 'client-req-404' } });
    expectError(notFound, 404, 'NOT_FOUND');
    expect(notFound.headers.get('x-request-id')).toBe('client-req-404');

    const unauthorized = await server.request('GET', '/api/v1/status', { auth: false, headers: { 'x-request-id': 'client-req-401' } });
    expectError(unauthorized, 401, 'MISSING_API_KEY');
    expect(unauthorized.headers.get('x-request-id')).toBe('client-req-401');

    const badJson = await server.request('PATCH', '/api/v1/workflows/x', { raw: '{', contentType: 'application/json', headers: { 'x-request-id': 'client-req-400' } });
    expectError(badJson, 400, 'VALIDATION_ERROR');
    expect(badJson.headers.get('x-request-id')).toBe('client-req-400');
  });

  it('replaces an unsafe or oversized client X-Request-Id with a generated one', async () => {
    for (const hostile of ['has space', 'a'.repeat(300), 'inject"quote', '<script>']) {
      const res = await server.request('GET', '/api/v1/nope', { headers: { 'x-request-id': hostile } });
      expectError(res, 404, 'NOT_FOUND');
      const echoed = res.headers.get('x-request-id');
      expect(echoed).not.toBe(hostile);
      expect(echoed).toMatch(/^[A-Za-z0-9._:-]{1,128}$/);
    }
  });

  it('never includes a stack trace in any error body', async () => {
    const bodies = [
      await server.request('GET', '/api/v1/nope'),
      await server.request('PATCH', '/api/v1/workflows/x', { raw: '{"a":', contentType: 'application/json' }),
      await server.request('PUT', '/api/v1/workflows/x', { raw: 'id: x\ntasks: [', contentType: YAML }),
      await server.request('PUT', '/api/v1/workflows/x', { raw: 'id: [unclosed', contentType: YAML }),
      await server.request('GET', '/api/v1/workflows?limit=abc&offset=-5'),
      await server.request('PATCH', '/api/v1/workflows/x', { body: { enabled: 'yes', __proto__: { polluted: true } } }),
      await server.request('PATCH', '/api/v1/workflows/x', { raw: '{"__proto__":{"enabled":true}}', contentType: 'application/json' }),
      await server.request('PATCH', '/api/v1/workflows/x', { raw: '{"constructor":{"prototype":{"x":1}}}', contentType: 'application/json' }),
    ];
    for (const res of bodies) {
      expect(res.status, res.text).toBeGreaterThanOrEqual(400);
      expect(res.status, res.text).toBeLessThan(500);
      expectNoStack(res.text);
      expect(res.body?.error?.code, res.text).toMatch(/^[A-Z_]+$/);
    }
  });

  it('answers a malformed HTTP request (invalid Content-Length header) with 400 in the error shape and keeps serving', async () => {
    const raw = await rawSocket(
      server.url,
      `PATCH /api/v1/workflows/x HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: abc\r\nConnection: close\r\n\r\n{"enabled":false}`,
    );
    const res = parseRawResponse(raw);
    expect(res.status, raw).toBe(400);
    expect(res.body, raw).toEqual({ error: { code: 'VALIDATION_ERROR', message: expect.any(String) } });
    expectNoStack(raw);
    const live = await server.request('GET', '/health/live', { auth: false });
    expect(live.status).toBe(200);
  });

  // Must stay the LAST test of this block: it breaks the store of the shared server on purpose.
  it('answers 500 INTERNAL_ERROR with the request id and no stack when the store fails underneath, and logs it', async () => {
    const id = uniqueId('broken');
    await put(server, id, workflowYaml(id));
    // A real failure, not a mock: the database connection goes away under a running server.
    await server.server.engine.getStateStore().close();
    const res = await server.request('GET', `/api/v1/workflows/${id}`, { headers: { 'x-request-id': 'req-500-check', authorization: `Bearer ${server.key}` } });
    const error = expectError(res, 500, 'INTERNAL_ERROR');
    expect(error.message).toContain('req-500-check');
    expect(error).not.toHaveProperty('details');
    expect(res.headers.get('x-request-id')).toBe('req-500-check');

    const ready = await server.request('GET', '/health/ready', { auth: false });
    expectError(ready, 503, 'NOT_READY');
    const live = await server.request('GET', '/health/live', { auth: false });
    expect(live.status).toBe(200);

    const isLogged = (l: Record<string, any>) => l.reqId === 'req-500-check' && (l.level === 'error' || l.level === 50) && /unhandled/i.test(l.msg ?? '');
    const logs = await waitForLogs(server, (_t, lines) => lines.some(isLogged));
    const logged = parseLogLines(logs).find(isLogged);
    expect(logged, logs.slice(-2000)).toBeTruthy();
  });

});

describe('body size limit (server.bodyLimitBytes = 2048)', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer({ configure: (c) => (c.server.bodyLimitBytes = 2048) });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('rejects a 4 KiB YAML apply with 413 PAYLOAD_TOO_LARGE and keeps the previous revision', async () => {
    const id = uniqueId('big');
    const first = await put(server, id, workflowYaml(id));
    expect(first.status, first.text).toBe(201);
    const big = workflowYaml(id, { description: 'x'.repeat(4096) });
    expect(Buffer.byteLength(big)).toBeGreaterThan(4096);
    const res = await put(server, id, big);
    expectError(res, 413, 'PAYLOAD_TOO_LARGE');
    const after = await get(server, id);
    expect(after.body.revision).toBe(1);
    expect(after.body.source).toBe(workflowYaml(id));
  });

  it('rejects a 4 KiB YAML apply of a new workflow with 413 and creates nothing', async () => {
    const id = uniqueId('big-new');
    const res = await put(server, id, workflowYaml(id, { description: 'y'.repeat(4096) }));
    expectError(res, 413, 'PAYLOAD_TOO_LARGE');
    expectError(await get(server, id), 404, 'NOT_FOUND');
  });

  it('rejects a 4 KiB JSON PATCH with 413 PAYLOAD_TOO_LARGE and leaves the workflow enabled', async () => {
    const id = uniqueId('big-patch');
    await put(server, id, workflowYaml(id));
    const res = await server.request('PATCH', `/api/v1/workflows/${id}`, { raw: JSON.stringify({ enabled: false, pad: 'p'.repeat(4096) }), contentType: 'application/json' });
    expectError(res, 413, 'PAYLOAD_TOO_LARGE');
    expect((await get(server, id)).body.enabled).toBe(true);
  });

  it('rejects an oversized chunked body (no Content-Length) with 413 PAYLOAD_TOO_LARGE', async () => {
    const id = uniqueId('chunked');
    const res = await rawRequest(server.url, 'PUT', `/api/v1/workflows/${id}`, {
      headers: { 'content-type': YAML, 'transfer-encoding': 'chunked', authorization: `Bearer ${server.key}` },
      body: workflowYaml(id, { description: 'z'.repeat(8192) }),
    });
    expectError(res, 413, 'PAYLOAD_TOO_LARGE');
    expectError(await get(server, id), 404, 'NOT_FOUND');
  });

  it('still accepts a body just under the limit', async () => {
    const id = uniqueId('fits');
    const yaml = workflowYaml(id, { description: 'f'.repeat(1500) });
    expect(Buffer.byteLength(yaml)).toBeLessThan(2048);
    const res = await put(server, id, yaml);
    expect(res.status, res.text).toBe(201);
  });
});
