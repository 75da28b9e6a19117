/**
 * Authentication per route, from the decorators (issue 10 §4): `@Authenticated({ scopes })` (and
 * its alias `@RequireScopes`) sets what the guard enforces and what the OpenAPI document says,
 * `@Public()` opens the route and documents `security: []`. Every operation of the live document
 * is held to its handler's decorator, and then to the server: a route with security answers 401
 * without a key, a public one answers without one.
 */
import { Controller, Get } from '@nestjs/common';
import { METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants';
import { DiscoveryService, Reflector } from '@nestjs/core';
import { DECORATORS } from '@nestjs/swagger';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Authenticated, Public, PUBLIC_OPERATION_EXTENSION, PUBLIC_ROUTE, REQUIRED_SCOPES, RequireScopes } from '../../src/common/auth/decorators';
import { routePolicy } from '../../src/common/auth/api-key.guard';
import type { Scope } from '../../src/common/auth/scopes';
import { ApiErrors } from '../../src/common/http/openapi';
import { randomKey, startTestServer, type RequestOptions, type TestServer } from '../support/server';
import { expectError, YAML } from './helpers';

type Handler = (...args: unknown[]) => unknown;

interface Route {
  controller: string;
  handler: string;
  method: string;
  path: string;
  operationId: string | undefined;
  documented: boolean;
  isPublic: boolean;
  scopes: readonly Scope[];
}

const METHODS = ['get', 'post', 'put', 'delete', 'patch'];
const AUTHENTICATED = [{ bearer: [] }, { apiKey: [] }];

let server: TestServer;
let doc: any;
let routes: Route[];

/** Every route the server serves, with its policy read the way ApiKeyGuard reads it (handler first, then controller). */
function routesOf(test: TestServer): Route[] {
  const reflector = new Reflector();
  const out: Route[] = [];
  for (const wrapper of test.server.app.get(DiscoveryService).getControllers()) {
    const controller = wrapper.metatype as (new (...args: never[]) => unknown) | null;
    if (!controller) continue;
    const documented = Reflect.getMetadata(DECORATORS.API_EXCLUDE_CONTROLLER, controller)?.[0] !== true;
    const base = String(Reflect.getMetadata(PATH_METADATA, controller) ?? '');
    for (const name of Object.getOwnPropertyNames(controller.prototype)) {
      const handler = (controller.prototype as Record<string, unknown>)[name];
      if (name === 'constructor' || typeof handler !== 'function' || !Reflect.hasMetadata(METHOD_METADATA, handler)) continue;
      const targets = [handler as Handler, controller];
      const sub = String(Reflect.getMetadata(PATH_METADATA, handler) ?? '');
      out.push({
        controller: controller.name,
        handler: name,
        method: METHODS[Reflect.getMetadata(METHOD_METADATA, handler) as number] ?? 'other',
        path: `/${[base, sub].filter((p) => p && p !== '/').join('/')}`.replace(/:(\w+)/g, '{$1}'),
        operationId: (Reflect.getMetadata(DECORATORS.API_OPERATION, handler) as { operationId?: string } | undefined)?.operationId,
        documented,
        // the policy the guard and the direct routes compute, not a copy of it
        ...routePolicy(reflector, targets[0], targets[1]),
      });
    }
  }
  return out;
}

function operations(): { path: string; method: string; op: any }[] {
  return Object.entries<Record<string, any>>(doc.paths).flatMap(([path, item]) =>
    Object.entries<any>(item)
      .filter(([method]) => METHODS.includes(method))
      .map(([method, op]) => ({ path, method, op })),
  );
}

/** A request to the route that reaches the guard: placeholders filled, a body of the kind the route takes. */
function probe(path: string, method: string, withBody: boolean): [string, string, RequestOptions] {
  const concrete = path.replace('{id}', 'route-auth-probe').replace('{name}', 'route_auth_probe');
  const body: RequestOptions = !withBody ? {} : method === 'put' ? { raw: 'id: route-auth-probe\n', contentType: YAML } : { body: {} };
  return [method.toUpperCase(), concrete, body];
}

beforeAll(async () => {
  server = await startTestServer();
  const res = await server.request('GET', '/api/v1/openapi.json', { auth: false });
  expect(res.status).toBe(200);
  doc = res.body;
  routes = routesOf(server);
});

afterAll(async () => {
  await server?.close();
});

describe('route authentication comes from the decorators', () => {
  it('every documented operation is one decorated route, and every documented route is in the document', () => {
    const documented = routes.filter((route) => route.documented);
    expect(documented.length).toBeGreaterThan(20);
    for (const route of documented) {
      expect(route.operationId, `${route.controller}.${route.handler}`).toBeTruthy();
      expect(doc.paths[route.path]?.[route.method]?.operationId, `${route.method} ${route.path}`).toBe(route.operationId);
    }
    expect(operations().map(({ op }) => op.operationId).sort()).toEqual(documented.map((route) => route.operationId).sort());
  });

  it("documents each operation's security as its decorator says: public ones security: [], the others bearer or apiKey with 401/429 (403 when scopes are listed)", () => {
    const byId = new Map(routes.map((route) => [route.operationId, route]));
    for (const { path, method, op } of operations()) {
      const route = byId.get(op.operationId)!;
      const where = `${method} ${path} (${route.controller}.${route.handler})`;
      expect(op[PUBLIC_OPERATION_EXTENSION], where).toBeUndefined();
      if (route.isPublic) {
        expect(op.security, where).toEqual([]);
        expect(Object.keys(op.responses), where).not.toContain('401');
        continue;
      }
      expect(op.security, where).toEqual(AUTHENTICATED);
      expect(Object.keys(op.responses), where).toEqual(expect.arrayContaining(['401', '429']));
      expect(op.responses['401'].description, where).toBe('error: MISSING_API_KEY, INVALID_API_KEY, API_KEY_EXPIRED');
      if (route.scopes.length > 0) expect(op.responses['403']?.description, where).toContain('FORBIDDEN');
      else if (op.responses['403']) expect(op.operationId, `${where}: a 403 of its own`).toBe('invokeTool');
    }
    // the health probes are the public operations; nothing under /api/v1 is
    const publicPaths = operations().filter(({ op }) => op.security.length === 0).map(({ path }) => path);
    expect(publicPaths.sort()).toEqual(['/health', '/health/live', '/health/ready']);
  });

  it('answers 401 without a key (and with a wrong one) on every route with security; a public route answers without one', async () => {
    for (const { path, method, op } of operations()) {
      const [verb, concrete, body] = probe(path, method, Boolean(op.requestBody));
      const anonymous = await server.request(verb, concrete, { ...body, auth: false });
      const wrongKey = await server.request(verb, concrete, { ...body, auth: randomKey() });
      if (op.security.length > 0) {
        expectError(anonymous, 401, 'MISSING_API_KEY');
        expectError(wrongKey, 401, 'INVALID_API_KEY');
      } else {
        expect([401, 403], `${method} ${path}: ${anonymous.text}`).not.toContain(anonymous.status);
        expect([401, 403], `${method} ${path}: ${wrongKey.text}`).not.toContain(wrongKey.status);
      }
    }
  });

  it('the routes outside the document (MCP, its metadata) follow their decorators too', async () => {
    const undocumented = routes.filter((route) => !route.documented);
    expect(undocumented.map((route) => `${route.method} ${route.path}`).sort()).toEqual([
      'delete /mcp',
      'get /.well-known/oauth-protected-resource',
      'get /.well-known/oauth-protected-resource/mcp',
      'get /mcp',
      'post /mcp',
    ]);
    for (const route of undocumented) {
      const [verb, concrete, body] = probe(route.path, route.method, route.method === 'post');
      const res = await server.request(verb, concrete, { ...body, auth: false, contract: false });
      if (route.isPublic) expect([401, 403], `${route.method} ${route.path}`).not.toContain(res.status);
      else expectError(res, 401, 'MISSING_API_KEY');
    }
  });
});

describe('the decorators', () => {
  @Controller('probe')
  class Listed {
    @Get('a')
    @RequireScopes('workflows:read', 'logs:read')
    a(): void {}
  }

  @Controller('probe')
  class Optioned {
    @Get('a')
    @Authenticated({ scopes: ['workflows:read', 'logs:read'] })
    a(): void {}
  }

  @Controller('probe')
  @Authenticated({ scopes: ['executions:read'] })
  class Mixed {
    @Get('open')
    @Public()
    open(): void {}

    @Get('closed')
    @ApiErrors(404)
    closed(): void {}

    @Get('any')
    @Authenticated()
    any(): void {}
  }

  @Controller('probe')
  @Public()
  class MostlyOpen {
    @Get('open')
    open(): void {}

    @Get('closed')
    @Authenticated({ scopes: ['audit:read'] })
    closed(): void {}
  }

  const KEYS = [REQUIRED_SCOPES, PUBLIC_ROUTE, DECORATORS.API_SECURITY, DECORATORS.API_RESPONSE, DECORATORS.API_EXTENSION];
  const metadataOf = (handler: unknown) => Object.fromEntries(KEYS.map((key) => [key, Reflect.getMetadata(key, handler as object)]));
  const reflector = new Reflector();
  const policy = (controller: object, handler: unknown) => ({
    isPublic: reflector.getAllAndOverride<boolean>(PUBLIC_ROUTE, [handler as Handler, controller as Handler]) ?? false,
    scopes: reflector.getAllAndOverride<Scope[]>(REQUIRED_SCOPES, [handler as Handler, controller as Handler]),
  });

  it('RequireScopes(...scopes) is Authenticated({ scopes }): the same guard and OpenAPI metadata', () => {
    expect(metadataOf(Listed.prototype.a)).toEqual(metadataOf(Optioned.prototype.a));
    expect(Reflect.getMetadata(DECORATORS.API_SECURITY, Optioned.prototype.a)).toEqual(AUTHENTICATED);
    expect(Object.keys(Reflect.getMetadata(DECORATORS.API_RESPONSE, Optioned.prototype.a))).toEqual(['401', '403', '429', '500']);
  });

  it('on a controller they apply to the routes without a decorator of their own, as the guard reads them (handler first)', () => {
    expect(policy(Mixed, Mixed.prototype.open)).toEqual({ isPublic: true, scopes: ['executions:read'] });
    expect(Reflect.getMetadata(DECORATORS.API_SECURITY, Mixed.prototype.open)).toBeUndefined();
    expect(Reflect.getMetadata(DECORATORS.API_EXTENSION, Mixed.prototype.open)).toEqual({ [PUBLIC_OPERATION_EXTENSION]: true });

    expect(policy(Mixed, Mixed.prototype.closed)).toEqual({ isPublic: false, scopes: ['executions:read'] });
    expect(Reflect.getMetadata(DECORATORS.API_SECURITY, Mixed.prototype.closed)).toEqual(AUTHENTICATED);
    expect(Object.keys(Reflect.getMetadata(DECORATORS.API_RESPONSE, Mixed.prototype.closed))).toEqual(['401', '403', '404', '429', '500']);

    expect(policy(Mixed, Mixed.prototype.any)).toEqual({ isPublic: false, scopes: [] });
    expect(Object.keys(Reflect.getMetadata(DECORATORS.API_RESPONSE, Mixed.prototype.any))).toEqual(['401', '429', '500']);

    expect(policy(MostlyOpen, MostlyOpen.prototype.open).isPublic).toBe(true);
    expect(Reflect.getMetadata(DECORATORS.API_EXTENSION, MostlyOpen.prototype.open)).toEqual({ [PUBLIC_OPERATION_EXTENSION]: true });
    // a handler's @Authenticated wins over its controller's @Public(), in the guard and in the document
    expect(policy(MostlyOpen, MostlyOpen.prototype.closed)).toEqual({ isPublic: false, scopes: ['audit:read'] });
    expect(Reflect.getMetadata(DECORATORS.API_EXTENSION, MostlyOpen.prototype.closed)).toBeUndefined();
    expect(Reflect.getMetadata(DECORATORS.API_SECURITY, MostlyOpen.prototype.closed)).toEqual(AUTHENTICATED);
  });

  it('ApiErrors add up: a status named twice documents the codes of both', () => {
    class Merged {
      @ApiErrors('WORKFLOW_DISABLED', 403)
      @Authenticated({ scopes: ['executions:write'] })
      @ApiErrors('CONFLICT')
      m(): void {}
    }
    const responses = Reflect.getMetadata(DECORATORS.API_RESPONSE, Merged.prototype.m);
    expect(Object.keys(responses)).toEqual(['401', '403', '409', '429', '500']);
    expect(responses['409'].description).toBe('error: CONFLICT, WORKFLOW_DISABLED');
    expect(responses['409'].schema.properties.error.oneOf).toEqual([
      { $ref: '#/components/schemas/ConflictError' },
      { $ref: '#/components/schemas/WorkflowDisabledError' },
    ]);
    expect(responses['403'].description).toBe('error: FORBIDDEN');
    expect(responses['500'].description).toBe('error: INTERNAL_ERROR');
  });
});
