import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomKey, startTestServer, type TestServer } from '../support/server';
import { expectError } from './helpers';

const ERROR_REF = '#/components/schemas/ErrorResponseDto';

type Operation = {
  security?: Record<string, string[]>[];
  responses: Record<string, { content?: Record<string, { schema?: { $ref?: string } }> }>;
  parameters?: { name: string; in: string }[];
  requestBody?: { content: Record<string, unknown> };
};

describe('OpenAPI document (GET /api/v1/openapi.json)', () => {
  let server: TestServer;
  let doc: any;

  beforeAll(async () => {
    server = await startTestServer();
    const res = await server.request('GET', '/api/v1/openapi.json', { auth: false });
    expect(res.status, res.text).toBe(200);
    doc = res.body;
  });
  afterAll(async () => {
    await server?.close();
  });

  function operation(path: string, method: string): Operation {
    const op = doc.paths?.[path]?.[method];
    expect(op, `${method.toUpperCase()} ${path} is not documented`).toBeTruthy();
    return op as Operation;
  }

  it('is public: served as JSON without a key and with an invalid key', async () => {
    const anonymous = await server.request('GET', '/api/v1/openapi.json', { auth: false });
    expect(anonymous.status).toBe(200);
    expect(anonymous.headers.get('content-type')).toMatch(/^application\/json/);
    const wrongKey = await server.request('GET', '/api/v1/openapi.json', { auth: randomKey() });
    expect(wrongKey.status).toBe(200);
    expect(wrongKey.body).toEqual(anonymous.body);
  });

  it('is an OpenAPI 3 document with a title and the service version', async () => {
    expect(doc.openapi).toMatch(/^3\./);
    expect(doc.info.title).toMatch(/autokestra/i);
    const status = await server.request('GET', '/api/v1/status');
    expect(doc.info.version).toBe(status.body.version);
  });

  it('lists every route: workflows (collection + {id} with get/put/patch/delete), status and health', () => {
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(['/api/v1/workflows', '/api/v1/workflows/{id}', '/api/v1/status', '/health', '/health/live', '/health/ready']),
    );
    expect(Object.keys(doc.paths['/api/v1/workflows'])).toEqual(['get']);
    expect(Object.keys(doc.paths['/api/v1/workflows/{id}']).sort()).toEqual(['delete', 'get', 'patch', 'put']);
    for (const path of ['/api/v1/status', '/health', '/health/live', '/health/ready']) operation(path, 'get');
  });

  it('does not list routes the server does not serve', async () => {
    for (const [path, item] of Object.entries<Record<string, unknown>>(doc.paths)) {
      for (const method of Object.keys(item)) {
        if (!['get', 'put', 'patch', 'delete', 'post'].includes(method)) continue;
        const concrete = path.replace('{id}', 'openapi-probe');
        const res = await server.request(method.toUpperCase(), concrete, method === 'put' || method === 'patch' ? { raw: '', contentType: 'application/json' } : {});
        // anything but "no such route" proves the route exists
        expect(res.body?.error?.message ?? '', `${method} ${path}`).not.toMatch(/no such route/);
      }
    }
  });

  it('defines the error shape as the ErrorResponseDto schema {error: {code, message, details?}}', () => {
    const schemas = doc.components.schemas;
    expect(schemas.ErrorResponseDto).toBeTruthy();
    expect(schemas.ErrorResponseDto.required).toEqual(['error']);
    const errorProp = schemas.ErrorResponseDto.properties.error;
    const body = errorProp.$ref ? schemas[errorProp.$ref.split('/').pop()] : errorProp;
    expect(Object.keys(body.properties).sort()).toEqual(['code', 'details', 'message']);
    expect([...body.required].sort()).toEqual(['code', 'message']);
  });

  it('declares the security schemes bearer (HTTP bearer) and apiKey (X-API-Key header)', () => {
    const schemes = doc.components.securitySchemes;
    expect(schemes.bearer).toMatchObject({ type: 'http', scheme: 'bearer' });
    expect(schemes.apiKey).toMatchObject({ type: 'apiKey', in: 'header', name: 'X-API-Key' });
    expect(Object.values<{ in?: string }>(schemes).some((s) => s.in === 'query')).toBe(false);
  });

  it('requires bearer or apiKey on every /api/v1 operation and nothing on health', () => {
    const global = doc.security ?? [];
    for (const [path, item] of Object.entries<Record<string, Operation>>(doc.paths)) {
      for (const [method, op] of Object.entries(item)) {
        const effective = op.security ?? global;
        const names = effective.flatMap((req: Record<string, string[]>) => Object.keys(req)).sort();
        if (path.startsWith('/health')) {
          expect(effective, `${method} ${path}`).toEqual([]);
        } else {
          expect(names, `${method} ${path}`).toEqual(['apiKey', 'bearer']);
          // alternatives (OR), not both at once (AND)
          expect(effective.every((req: Record<string, string[]>) => Object.keys(req).length === 1), `${method} ${path}`).toBe(true);
        }
      }
    }
  });

  it('documents the error responses of every /api/v1 operation with ErrorResponseDto (401 everywhere, 404 on {id}, 400 on writes, 413/415 on PUT)', () => {
    for (const [path, item] of Object.entries<Record<string, Operation>>(doc.paths)) {
      if (!path.startsWith('/api/v1')) continue;
      for (const [method, op] of Object.entries(item)) {
        expect(Object.keys(op.responses), `${method} ${path}`).toContain('401');
        for (const [status, response] of Object.entries(op.responses)) {
          if (Number(status) < 400) continue;
          expect(response.content?.['application/json']?.schema?.$ref, `${method} ${path} ${status}`).toBe(ERROR_REF);
        }
      }
    }
    for (const method of ['get', 'put', 'patch', 'delete']) expect(Object.keys(operation('/api/v1/workflows/{id}', method).responses)).toContain('404');
    expect(Object.keys(operation('/api/v1/workflows/{id}', 'put').responses)).toEqual(expect.arrayContaining(['400', '413', '415']));
    expect(Object.keys(operation('/api/v1/workflows/{id}', 'patch').responses)).toContain('400');
    expect(Object.keys(operation('/api/v1/workflows', 'get').responses)).toContain('400');
  });

  it('documents the success response of every operation (200/201 for PUT, 204 for DELETE)', () => {
    for (const [path, item] of Object.entries<Record<string, Operation>>(doc.paths)) {
      for (const [method, op] of Object.entries(item)) {
        const success = Object.keys(op.responses).filter((s) => s.startsWith('2'));
        expect(success.length, `${method.toUpperCase()} ${path} documents no 2xx response`).toBeGreaterThan(0);
      }
    }
    expect(Object.keys(operation('/api/v1/workflows/{id}', 'put').responses)).toEqual(expect.arrayContaining(['200', '201']));
    expect(Object.keys(operation('/api/v1/workflows/{id}', 'delete').responses)).toContain('204');
  });

  it('documents the 503 of the health probes in the error shape the server actually sends', async () => {
    for (const path of ['/health', '/health/ready']) {
      const op = operation(path, 'get');
      expect(Object.keys(op.responses), path).toContain('503');
      expect(op.responses['503'].content?.['application/json']?.schema?.$ref, `${path} 503`).toBe(ERROR_REF);
    }
  });

  it('documents the list query parameters and the {id} path parameter', () => {
    const list = operation('/api/v1/workflows', 'get');
    const query = (list.parameters ?? []).filter((p) => p.in === 'query').map((p) => p.name).sort();
    expect(query).toEqual(['enabled', 'limit', 'namespace', 'offset']);
    for (const method of ['get', 'put', 'patch', 'delete']) {
      const params = operation('/api/v1/workflows/{id}', method).parameters ?? [];
      expect(params.some((p) => p.name === 'id' && p.in === 'path'), method).toBe(true);
    }
  });

  it('documents YAML request bodies for PUT and a JSON body for PATCH', () => {
    expect(Object.keys(operation('/api/v1/workflows/{id}', 'put').requestBody?.content ?? {})).toEqual(
      expect.arrayContaining(['application/yaml', 'text/yaml']),
    );
    expect(Object.keys(operation('/api/v1/workflows/{id}', 'patch').requestBody?.content ?? {})).toEqual(['application/json']);
  });

  it('is not served under other methods (error shape)', async () => {
    const res = await server.request('POST', '/api/v1/openapi.json', { raw: '{}', contentType: 'application/json', auth: false });
    expect([404, 405]).toContain(res.status);
    expectError(res, res.status, res.status === 404 ? 'NOT_FOUND' : 'METHOD_NOT_ALLOWED');
  });
});
