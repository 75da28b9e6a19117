/**
 * The hot GETs (`@DirectRoute()`: GET /api/v1/workflows/:id and GET /api/v1/executions/:id) skip
 * Nest's per-request pipeline (issue 11 §6). They must answer exactly as every other route does:
 * the same authentication, scopes, namespace limits, per-key and failed-auth rate limits, error
 * shape and headers. The suites for each route (workflows, executions, scopes-matrix, hostile/*)
 * run through this path too; this file holds the path itself to the rules, side by side with a
 * route that still goes through Nest.
 */
import { Controller, Get, Injectable, Module, UseGuards, type CanActivate } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { ApiKeyGuard } from '../../src/common/auth/api-key.guard';
import { Authenticated } from '../../src/common/auth/decorators';
import { DirectRoute } from '../../src/common/http/direct-routes';
import { applyWorkflow, startTestServer, type TestServer } from '../support/server';
import { createKey, unknownWellFormedKey } from './access-helpers';

const ERROR_FIELDS = ['code', 'message'];

describe('direct routes (the hot GETs outside Nest’s pipeline)', () => {
  let server: TestServer;
  let executionId: string;
  let hiddenExecutionId: string;

  beforeAll(async () => {
    server = await startTestServer({ configure: (c) => (c.auth.failedAttemptsLimit = 1000) });
    expect((await applyWorkflow(server, 'direct-a', 'id: direct-a\nnamespace: team-a\ntasks:\n  - {id: one, type: output, values: {v: 1}}\n')).status).toBe(201);
    expect((await applyWorkflow(server, 'direct-b', 'id: direct-b\nnamespace: team-b\ntasks:\n  - {id: one, type: output, values: {v: 2}}\n')).status).toBe(201);
    const a = await server.request('POST', '/api/v1/workflows/direct-a/executions?wait=10s');
    const b = await server.request('POST', '/api/v1/workflows/direct-b/executions?wait=10s');
    expect([a.status, b.status]).toEqual([200, 200]);
    executionId = a.body.id;
    hiddenExecutionId = b.body.id;
  });
  afterAll(async () => {
    await server?.close();
  });
  afterEach(() => {
    vi.restoreAllMocks();
  });

  const direct = () => [`/api/v1/workflows/direct-a`, `/api/v1/executions/${executionId}`];

  it('are served without Nest’s guard, while other routes still go through it', async () => {
    const guard = vi.spyOn(ApiKeyGuard.prototype, 'canActivate');
    for (const path of direct()) expect((await server.request('GET', path)).status).toBe(200);
    expect(guard).not.toHaveBeenCalled();
    expect((await server.request('GET', '/api/v1/workflows')).status).toBe(200);
    expect(guard).toHaveBeenCalledTimes(1);
  });

  it('answer with the same body and headers as before: JSON, X-Request-Id, no-store, the security headers', async () => {
    const workflow = await server.request('GET', '/api/v1/workflows/direct-a', { headers: { 'x-request-id': 'trace-direct-1' } });
    expect(workflow.status).toBe(200);
    expect(workflow.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(workflow.headers.get('x-request-id')).toBe('trace-direct-1');
    expect(workflow.headers.get('cache-control')).toBe('no-store');
    expect(workflow.headers.get('x-content-type-options')).toBe('nosniff');
    expect(workflow.body).toMatchObject({ id: 'direct-a', namespace: 'team-a', revision: 1, enabled: true });
    expect(workflow.body.definition.tasks[0]).toMatchObject({ id: 'one', type: 'output' });
    const execution = await server.request('GET', `/api/v1/executions/${executionId}`);
    expect(execution.status).toBe(200);
    expect(execution.headers.get('content-type')).toMatch(/^application\/json/);
    expect(execution.body).toMatchObject({ id: executionId, workflowId: 'direct-a', state: 'SUCCESS', outputs: {} });
    expect(execution.body.taskRuns.map((r: { taskId: string; state: string }) => [r.taskId, r.state])).toEqual([['one', 'SUCCESS']]);
  });

  it('401 without a key, with a malformed header and with an unknown key; the error shape, nothing more', async () => {
    for (const path of direct()) {
      const cases: [Record<string, string>, string][] = [
        [{}, 'MISSING_API_KEY'],
        [{ authorization: 'Basic Zm9vOmJhcg==' }, 'INVALID_API_KEY'],
        [{ authorization: `Bearer ${unknownWellFormedKey()}` }, 'INVALID_API_KEY'],
        [{ 'x-api-key': 'not-a-key' }, 'INVALID_API_KEY'],
      ];
      for (const [headers, code] of cases) {
        const res = await server.request('GET', path, { auth: false, headers });
        expect(res.status, `${path} ${JSON.stringify(headers)}`).toBe(401);
        expect(res.body.error.code).toBe(code);
        expect(Object.keys(res.body.error).sort()).toEqual(ERROR_FIELDS);
        expect(res.headers.get('x-request-id')).toBeTruthy();
      }
    }
  });

  it('403 with the route’s required scope in details for a key without it', async () => {
    const keysOnly = await createKey(server, { scopes: ['api-keys:manage'] });
    const workflow = await server.request('GET', '/api/v1/workflows/direct-a', { auth: keysOnly.key });
    expect(workflow.status).toBe(403);
    expect(workflow.body.error).toMatchObject({ code: 'FORBIDDEN', details: { requiredScopes: ['workflows:read'] } });
    const execution = await server.request('GET', `/api/v1/executions/${executionId}`, { auth: keysOnly.key });
    expect(execution.status).toBe(403);
    expect(execution.body.error).toMatchObject({ code: 'FORBIDDEN', details: { requiredScopes: ['executions:read'] } });
    // the other route's scope is not enough either
    const workflowsOnly = await createKey(server, { scopes: ['workflows:read'] });
    expect((await server.request('GET', `/api/v1/executions/${executionId}`, { auth: workflowsOnly.key })).status).toBe(403);
    expect((await server.request('GET', '/api/v1/workflows/direct-a', { auth: workflowsOnly.key })).status).toBe(200);
  });

  it('a namespace-restricted key sees its namespace and gets 404 (not 403) for another, as if it did not exist', async () => {
    const teamA = await createKey(server, { scopes: ['workflows:read', 'executions:read'], namespaces: ['team-a'] });
    expect((await server.request('GET', '/api/v1/workflows/direct-a', { auth: teamA.key })).status).toBe(200);
    expect((await server.request('GET', `/api/v1/executions/${executionId}`, { auth: teamA.key })).status).toBe(200);
    const hidden = await server.request('GET', '/api/v1/workflows/direct-b', { auth: teamA.key });
    const missing = await server.request('GET', '/api/v1/workflows/no-such-workflow', { auth: teamA.key });
    expect([hidden.status, missing.status]).toEqual([404, 404]);
    expect(hidden.body.error.code).toBe('NOT_FOUND');
    expect((await server.request('GET', `/api/v1/executions/${hiddenExecutionId}`, { auth: teamA.key })).status).toBe(404);
  });

  it('400 for an id the route cannot hold, after authentication (a caller without a key learns nothing)', async () => {
    const bad = await server.request('GET', `/api/v1/workflows/${encodeURIComponent('Bad Id!')}`);
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('VALIDATION_ERROR');
    expect((await server.request('GET', `/api/v1/workflows/${encodeURIComponent('Bad Id!')}`, { auth: false })).status).toBe(401);
    expect((await server.request('GET', `/api/v1/executions/${'x'.repeat(300)}`)).status).toBe(404);
  });

  it('a managed key’s rateLimit counts direct and Nest routes together: RateLimit headers, then 429 with Retry-After', async () => {
    const limited = await createKey(server, { scopes: ['workflows:read', 'executions:read'], rateLimit: { requests: 3, window: '60s' } });
    const first = await server.request('GET', '/api/v1/workflows/direct-a', { auth: limited.key });
    expect(first.status).toBe(200);
    expect(first.headers.get('ratelimit-limit')).toBe('3');
    expect(first.headers.get('ratelimit-remaining')).toBe('2');
    expect((await server.request('GET', '/api/v1/workflows', { auth: limited.key })).status).toBe(200);
    expect((await server.request('GET', `/api/v1/executions/${executionId}`, { auth: limited.key })).status).toBe(200);
    const over = await server.request('GET', '/api/v1/workflows/direct-a', { auth: limited.key });
    expect(over.status).toBe(429);
    expect(over.body.error.code).toBe('RATE_LIMITED');
    expect(Number(over.headers.get('retry-after'))).toBeGreaterThan(0);
  });

  it('failed attempts on a direct route count toward the failed-auth limit of the whole API', async () => {
    const strict = await startTestServer({ configure: (c) => ((c.auth.failedAttemptsLimit = 3), (c.auth.failedAttemptsWindowMs = 60_000)) });
    try {
      const wrong = unknownWellFormedKey();
      const answers: number[] = [];
      // three allowed failures, two of them on direct routes; the fourth is over the limit
      for (let i = 0; i < 2; i++) answers.push((await strict.request('GET', '/api/v1/workflows/anything', { auth: wrong })).status);
      answers.push((await strict.request('GET', '/api/v1/workflows', { auth: wrong })).status);
      const blocked = await strict.request('GET', '/api/v1/executions/anything', { auth: wrong });
      answers.push(blocked.status);
      answers.push((await strict.request('GET', '/api/v1/workflows', { auth: wrong })).status);
      expect(answers).toEqual([401, 401, 401, 429, 429]);
      expect(blocked.body.error.code).toBe('RATE_LIMITED');
      expect(blocked.headers.get('retry-after')).toBeTruthy();
      // a valid key is still let in from the same address
      expect((await strict.request('GET', '/api/v1/workflows/anything')).status).toBe(404);
    } finally {
      await strict.close();
    }
  });

  it('HEAD stays on Nest’s path with the guard; an empty id is 404 as on every route', async () => {
    const guard = vi.spyOn(ApiKeyGuard.prototype, 'canActivate');
    const head = await fetch(`${server.url}/api/v1/workflows/direct-a`, { method: 'HEAD' });
    expect(head.status).toBe(401);
    expect(guard).toHaveBeenCalled();
    const headOk = await fetch(`${server.url}/api/v1/workflows/direct-a`, { method: 'HEAD', headers: { authorization: `Bearer ${server.key}` } });
    expect(headOk.status).toBe(200);
    for (const path of ['/api/v1/workflows/', '/api/v1/executions/']) {
      const res = await server.request('GET', path, { contract: false });
      expect(res.status, path).toBe(404);
      expect(res.body.error.code).toBe('NOT_FOUND');
    }
  });
});

/** A team's own global guard: it must see every request, the hot GETs included. */
@Injectable()
class CountingGuard implements CanActivate {
  static seen: string[] = [];
  canActivate(context: Parameters<CanActivate['canActivate']>[0]): boolean {
    CountingGuard.seen.push(context.switchToHttp().getRequest<{ url: string }>().url);
    return true;
  }
}

@Module({ providers: [{ provide: APP_GUARD, useClass: CountingGuard }] })
class CountingGuardModule {}

@Injectable()
class DenyGuard implements CanActivate {
  canActivate(): boolean {
    return false;
  }
}

@Controller('api/v1/guarded')
class GuardedDirectController {
  @Get(':id')
  @DirectRoute<GuardedDirectController>((c) => c.get())
  @Authenticated({ scopes: ['workflows:read'] })
  @UseGuards(DenyGuard)
  get(): { ok: true } {
    return { ok: true };
  }
}

@Module({ controllers: [GuardedDirectController], providers: [DenyGuard] })
class GuardedDirectModule {}

describe('what the direct path would skip is refused, never skipped silently', () => {
  it('a team’s global guard (APP_GUARD) turns direct routes off: the guard sees the hot GETs too', async () => {
    const server = await startTestServer({ imports: [CountingGuardModule] });
    try {
      expect((await applyWorkflow(server, 'guarded-a', 'id: guarded-a\ntasks:\n  - {id: one, type: log, message: hi}\n')).status).toBe(201);
      CountingGuard.seen = [];
      const core = vi.spyOn(ApiKeyGuard.prototype, 'canActivate');
      expect((await server.request('GET', '/api/v1/workflows/guarded-a')).status).toBe(200);
      expect(CountingGuard.seen).toEqual(['/api/v1/workflows/guarded-a']);
      expect(core).toHaveBeenCalledTimes(1);
      expect(await server.logs()).toContain('direct routes off');
    } finally {
      vi.restoreAllMocks();
      await server.close();
    }
  });

  it('a @DirectRoute() that carries its own guard stops the start, naming the route', async () => {
    await expect(startTestServer({ imports: [GuardedDirectModule] })).rejects.toThrow(/GuardedDirectController\.get carries what the direct path would skip \(__guards__/);
  });
});

