import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import SwaggerParser from '@apidevtools/swagger-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomKey, startTestServer, tempDir, type TestServer } from '../support/server';
import { expectError } from './helpers';


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

  /** The error codes an error response documents: {error: $ref | oneOf [$ref]} → each schema's code const. */
  function errorCodesOf(response: { content?: Record<string, { schema?: any }> }): string[] {
    const error = response.content?.['application/json']?.schema?.properties?.error;
    const refs: string[] = error?.oneOf ? error.oneOf.map((v: { $ref: string }) => v.$ref) : error?.$ref ? [error.$ref] : [];
    return refs.map((ref) => doc.components.schemas[ref.split('/').pop()!].properties.code.const);
  }

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

  it('defines the one error shape: ErrorResponse {error: one of a schema per code}, each {code: const, message, details?}', () => {
    const schemas = doc.components.schemas;
    expect(schemas.ErrorResponse.required).toEqual(['error']);
    const variants = schemas.ErrorResponse.properties.error.oneOf.map((v: { $ref: string }) => schemas[v.$ref.split('/').pop()!]);
    const codes = variants.map((v: any) => v.properties.code.const).sort();
    expect(codes).toEqual([...schemas.ErrorCode.enum].sort());
    expect(codes).toEqual(expect.arrayContaining(['VALIDATION_ERROR', 'INVALID_WORKFLOW', 'NOT_FOUND', 'FORBIDDEN', 'RATE_LIMITED', 'INTERNAL_ERROR']));
    for (const variant of variants) {
      expect(variant.required.slice(0, 2)).toEqual(['code', 'message']);
      expect(variant.additionalProperties).toBe(false);
    }
    // details typed per code
    expect(schemas.ValidationError.properties.details.items.$ref).toBe('#/components/schemas/FieldError');
    expect(schemas.InvalidWorkflowError.properties.details.items.$ref).toBe('#/components/schemas/WorkflowDiagnostic');
    expect(schemas.InvalidWorkflowError.required).toContain('details');
    expect(schemas.ForbiddenError.properties.details.properties.requiredScopes.type).toBe('array');
    expect(schemas.NotFoundError.properties.details.properties.suggestions.type).toBe('array');
    expect(schemas.WorkflowIdMismatchError.properties.details).toBeUndefined();
  });

  it('is OpenAPI 3.1 with servers, described tags and operationIds that read as methods', () => {
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.servers?.length).toBeGreaterThan(0);
    const tagNames = doc.tags.map((t: { name: string }) => t.name);
    for (const tag of doc.tags) expect(tag.description, tag.name).toBeTruthy();
    const ids: string[] = [];
    for (const [path, item] of Object.entries<Record<string, any>>(doc.paths)) {
      for (const [method, op] of Object.entries<any>(item)) {
        expect(op.operationId, `${method} ${path}`).toMatch(/^[a-z][A-Za-z]+$/);
        for (const tag of op.tags ?? []) expect(tagNames, `${method} ${path}`).toContain(tag);
        ids.push(op.operationId);
      }
    }
    expect(new Set(ids).size).toBe(ids.length);
    expect(operation('/api/v1/workflows', 'get').operationId).toBe('listWorkflows');
    expect(operation('/api/v1/workflows/{id}/executions', 'post').operationId).toBe('triggerExecution');
    expect(operation('/api/v1/api-keys', 'post').operationId).toBe('createApiKey');
  });

  it('types what the server sends exactly: integers, nullable strings, patterns, optional bodies', () => {
    const schemas = doc.components.schemas;
    expect(schemas.WorkflowSummaryDto.properties.revision.type).toBe('integer');
    expect(schemas.ExecutionDto.properties.revision.type).toBe('integer');
    expect(schemas.TaskRunDto.properties.attempt.type).toBe('integer');
    expect(schemas.LogLineDto.properties.id.type).toBe('integer');
    expect(schemas.WorkflowPageDto.properties.limit.type).toBe('integer');
    expect(schemas.ExecutionDto.properties.durationMs.type).toEqual(['integer', 'null']);
    expect(schemas.CreateApiKeyDto.properties.expiresAt.type).toEqual(['string', 'null']);
    expect(schemas.UpdateApiKeyDto.properties.label.type).toEqual(['string', 'null']);
    expect(schemas.TaskRunDto.properties.outputs.type).toEqual(['object', 'null']);
    expect(schemas.RotateApiKeyDto.properties.graceSeconds).toMatchObject({ type: 'integer', minimum: 0, maximum: 2592000 });
    expect(schemas.CreatedApiKeyDto.properties.created.enum).toEqual([true]);
    expect(schemas.ExistingApiKeyDto.properties.created.enum).toEqual([false]);
    const idParam = (operation('/api/v1/workflows/{id}', 'get').parameters ?? []).find((p: any) => p.name === 'id') as any;
    expect(idParam.schema.pattern).toBeTruthy();
    const trigger = operation('/api/v1/workflows/{id}/executions', 'post') as any;
    expect(trigger.requestBody.required).toBe(false);
    expect(trigger.parameters.find((p: any) => p.name === 'Idempotency-Key').schema.pattern).toBeTruthy();
    expect((operation('/api/v1/api-keys/{id}/rotate', 'post') as any).requestBody.required).toBe(false);
    expect((operation('/api/v1/tools/{name}', 'post') as any).requestBody.required).toBe(false);
  });

  it('documents X-Request-Id and Cache-Control on every response, Retry-After on 429, and 413/415 on every body route', () => {
    for (const [path, item] of Object.entries<Record<string, any>>(doc.paths)) {
      for (const [method, op] of Object.entries<any>(item)) {
        for (const [status, response] of Object.entries<any>(op.responses)) {
          expect(Object.keys(response.headers ?? {}), `${method} ${path} ${status}`).toEqual(expect.arrayContaining(['X-Request-Id', 'Cache-Control']));
          if (status === '429') expect(Object.keys(response.headers), `${method} ${path}`).toContain('Retry-After');
        }
        if (op.requestBody) expect(Object.keys(op.responses), `${method} ${path}`).toEqual(expect.arrayContaining(['400', '413', '415']));
      }
    }
  });

  it('is valid for @apidevtools/swagger-parser and has zero errors under @redocly/cli recommended rules', async () => {
    const file = join(tempDir('openapi-'), 'openapi.json');
    writeFileSync(file, JSON.stringify(doc));
    await SwaggerParser.validate(file);
    const lint = spawnSync(process.execPath, [require.resolve('@redocly/cli/bin/cli.js'), 'lint', '--extends', 'recommended', '--format', 'json', file], { encoding: 'utf8', timeout: 60_000 });
    const report = JSON.parse(lint.stdout.slice(lint.stdout.indexOf('{'))) as { problems: { ruleId: string; severity: string; message: string }[] };
    const errors = report.problems.filter((p) => p.severity === 'error');
    expect(errors, JSON.stringify(errors, null, 1)).toEqual([]);
    // the two catalog schemas (ErrorResponse, ErrorCode) are for clients, unreferenced by design
    const warnings = report.problems.filter((p) => p.severity !== 'error' && !(p.ruleId === 'no-unused-components' && /"(ErrorResponse|ErrorCode)"/.test(p.message)));
    expect(warnings, JSON.stringify(warnings, null, 1)).toEqual([]);
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

  it('documents the error responses of every /api/v1 operation in the error shape (401 everywhere, 404 on {id}, 400 on writes, 413/415 on PUT)', () => {
    for (const [path, item] of Object.entries<Record<string, Operation>>(doc.paths)) {
      if (!path.startsWith('/api/v1')) continue;
      for (const [method, op] of Object.entries(item)) {
        expect(Object.keys(op.responses), `${method} ${path}`).toContain('401');
        for (const [status, response] of Object.entries(op.responses)) {
          if (Number(status) < 400) continue;
          expect(errorCodesOf(response), `${method} ${path} ${status}`).not.toEqual([]);
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
      expect(errorCodesOf(op.responses['503']), `${path} 503`).toEqual(['NOT_READY']);
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
