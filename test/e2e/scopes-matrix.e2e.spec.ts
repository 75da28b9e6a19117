/**
 * Least privilege on every route (issue 4, DESIGN §4/§7): every route × every single scope (plus
 * admin and the static key) — exactly the allowed combinations pass, every other one is 403
 * FORBIDDEN with details.requiredScopes; then namespace-restricted keys × in/out-of-namespace
 * resources — allowed + inside passes, allowed + outside is 404 NOT_FOUND (never 403), lists are
 * filtered. All keys are created through the admin API.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestResponse, type TestServer } from '../support/server';
import { ALL_SCOPES, createKey, uniqueLabel, type CreatedKey } from './access-helpers';
import { expectError, uniqueId, workflowYaml } from './helpers';
import { listAll, start, waitFor, waitTerminal } from './engine-helpers';

type Scope = (typeof ALL_SCOPES)[number];

let server: TestServer;
/** caller name (a scope, or 'static') → plaintext key */
const keys = new Map<string, CreatedKey>();
const running: string[] = [];

const SLEEPY = (id: string, namespace?: string) =>
  `id: ${id}\n${namespace ? `namespace: ${namespace}\n` : ''}tasks:\n  - {id: nap, type: sleep, duration: 30s}\n`;
const LOGGING = (id: string, namespace?: string) =>
  `id: ${id}\n${namespace ? `namespace: ${namespace}\n` : ''}tasks:\n  - {id: hello, type: log, message: hi from ${namespace ?? 'default'}}\n`;

async function admin(method: string, path: string, init: Parameters<TestServer['request']>[2] = {}): Promise<TestResponse> {
  return server.request(method, path, init);
}

async function applyAs(id: string, yaml: string): Promise<void> {
  const res = await admin('PUT', `/api/v1/workflows/${id}`, { raw: yaml, contentType: 'application/yaml' });
  expect([200, 201], res.text).toContain(res.status);
}

/** A workflow whose one execution has finished (with a log line), in `namespace`. */
async function finishedExecution(namespace?: string): Promise<{ workflowId: string; executionId: string }> {
  const workflowId = uniqueId('done');
  await applyAs(workflowId, LOGGING(workflowId, namespace));
  const executionId = await start(server, workflowId);
  const done = await waitTerminal(server, executionId);
  expect(done.state).toBe('SUCCESS');
  return { workflowId, executionId };
}

/** A RUNNING (or QUEUED when every worker is busy) execution of a 30 s sleep. */
async function runningExecution(namespace?: string): Promise<string> {
  const workflowId = uniqueId('sleepy');
  await applyAs(workflowId, SLEEPY(workflowId, namespace));
  const id = await start(server, workflowId);
  running.push(id);
  return id;
}

async function freshWorkflow(namespace?: string): Promise<string> {
  const id = uniqueId('fresh');
  await applyAs(id, workflowYaml(id, { namespace }));
  return id;
}

beforeAll(async () => {
  server = await startTestServer({
    configure: (c) => {
      c.auth.failedAttemptsLimit = 100_000;
      c.engine.workers = 64;
    },
  });
});

afterAll(async () => {
  for (const id of running) await server?.request('POST', `/api/v1/executions/${id}/cancel`);
  await server?.close();
});

// ---------------------------------------------------------------------------------------------
// Part 1: every route × every scope
// ---------------------------------------------------------------------------------------------

interface Shared {
  workflowId: string;
  executionId: string;
  runningId: string;
  keyId: string;
}

interface Route {
  name: string;
  /** null = any valid key */
  scope: Scope | null;
  /** the success status when allowed */
  success: number;
  /** runs the call as `key`; `allowed` says whether to prepare a fresh target (destructive routes) */
  call(key: string, caller: string, shared: Shared, allowed: boolean): Promise<TestResponse>;
}

const ROUTES: Route[] = [
  { name: 'GET /api/v1/status', scope: null, success: 200, call: (key) => server.request('GET', '/api/v1/status', { auth: key }) },
  { name: 'GET /api/v1/workflows', scope: 'workflows:read', success: 200, call: (key) => server.request('GET', '/api/v1/workflows', { auth: key }) },
  {
    name: 'GET /api/v1/workflows/:id',
    scope: 'workflows:read',
    success: 200,
    call: (key, _c, s) => server.request('GET', `/api/v1/workflows/${s.workflowId}`, { auth: key }),
  },
  {
    name: 'PUT /api/v1/workflows/:id',
    scope: 'workflows:write',
    success: 201,
    call: (key) => {
      const id = uniqueId('put');
      return server.request('PUT', `/api/v1/workflows/${id}`, { raw: workflowYaml(id), contentType: 'application/yaml', auth: key });
    },
  },
  {
    name: 'PATCH /api/v1/workflows/:id',
    scope: 'workflows:write',
    success: 200,
    call: async (key, _c, s, allowed) => server.request('PATCH', `/api/v1/workflows/${allowed ? await freshWorkflow() : s.workflowId}`, { body: { enabled: false }, auth: key }),
  },
  {
    name: 'DELETE /api/v1/workflows/:id',
    scope: 'workflows:write',
    success: 204,
    call: async (key, _c, s, allowed) => server.request('DELETE', `/api/v1/workflows/${allowed ? await freshWorkflow() : s.workflowId}`, { auth: key }),
  },
  {
    name: 'POST /api/v1/workflows/:id/executions',
    scope: 'executions:write',
    success: 202,
    call: (key, _c, s) => server.request('POST', `/api/v1/workflows/${s.workflowId}/executions`, { auth: key }),
  },
  { name: 'GET /api/v1/executions', scope: 'executions:read', success: 200, call: (key) => server.request('GET', '/api/v1/executions', { auth: key }) },
  {
    name: 'GET /api/v1/executions/:id',
    scope: 'executions:read',
    success: 200,
    call: (key, _c, s) => server.request('GET', `/api/v1/executions/${s.executionId}`, { auth: key }),
  },
  {
    name: 'POST /api/v1/executions/:id/cancel',
    scope: 'executions:write',
    success: 202,
    call: async (key, _c, s, allowed) => server.request('POST', `/api/v1/executions/${allowed ? await runningExecution() : s.runningId}/cancel`, { auth: key }),
  },
  {
    name: 'GET /api/v1/executions/:id/logs',
    scope: 'logs:read',
    success: 200,
    call: (key, _c, s) => server.request('GET', `/api/v1/executions/${s.executionId}/logs`, { auth: key }),
  },
  {
    // a finished execution: the stream sends its log and the end, then closes
    name: 'GET /api/v1/executions/:id/logs/stream',
    scope: 'logs:read',
    success: 200,
    call: (key, _c, s) => server.request('GET', `/api/v1/executions/${s.executionId}/logs/stream`, { auth: key }),
  },
  { name: 'GET /api/v1/api-keys', scope: 'api-keys:manage', success: 200, call: (key) => server.request('GET', '/api/v1/api-keys', { auth: key }) },
  {
    name: 'GET /api/v1/api-keys/:id',
    scope: 'api-keys:manage',
    success: 200,
    // a manager sees keys within its own authority (others are 404, tested in api-keys.e2e)
    call: async (key, caller, s, allowed) => server.request('GET', `/api/v1/api-keys/${allowed ? (await targetKey(caller)).id : s.keyId}`, { auth: key }),
  },
  {
    name: 'POST /api/v1/api-keys',
    scope: 'api-keys:manage',
    success: 201,
    // a caller may only grant what it holds: ask for its own scope
    call: (key, caller) =>
      server.request('POST', '/api/v1/api-keys', { body: { label: uniqueLabel('matrix'), scopes: [caller === 'static' ? 'admin' : caller] }, auth: key }),
  },
  {
    name: 'PATCH /api/v1/api-keys/:id',
    scope: 'api-keys:manage',
    success: 200,
    call: async (key, caller, s, allowed) =>
      server.request('PATCH', `/api/v1/api-keys/${allowed ? (await targetKey(caller)).id : s.keyId}`, { body: { label: uniqueLabel('renamed') }, auth: key }),
  },
  {
    name: 'DELETE /api/v1/api-keys/:id',
    scope: 'api-keys:manage',
    success: 204,
    call: async (key, caller, s, allowed) => server.request('DELETE', `/api/v1/api-keys/${allowed ? (await targetKey(caller)).id : s.keyId}`, { auth: key }),
  },
  {
    name: 'POST /api/v1/api-keys/:id/rotate',
    scope: 'api-keys:manage',
    success: 201,
    call: async (key, caller, s, allowed) =>
      server.request('POST', `/api/v1/api-keys/${allowed ? (await targetKey(caller)).id : s.keyId}/rotate`, { body: { graceSeconds: 0 }, auth: key }),
  },
  { name: 'GET /api/v1/audit', scope: 'audit:read', success: 200, call: (key) => server.request('GET', '/api/v1/audit', { auth: key }) },
];

/** A key the caller may manage: holding exactly the caller's own scope. */
function targetKey(caller: string): Promise<CreatedKey> {
  return createKey(server, { scopes: [caller === 'static' ? 'admin' : caller] });
}

const CALLERS: string[] = ['static', ...ALL_SCOPES];

function allowed(route: Route, caller: string): boolean {
  return caller === 'static' || caller === 'admin' || route.scope === null || route.scope === caller;
}

describe('route × scope matrix', () => {
  let shared: Shared;
  let sharedKey: CreatedKey;
  let sharedWorkflowBefore: any;

  beforeAll(async () => {
    for (const scope of ALL_SCOPES) keys.set(scope, await createKey(server, { label: uniqueLabel(`only-${scope.replace(':', '-')}`), scopes: [scope] }));
    const done = await finishedExecution();
    sharedKey = await createKey(server, { scopes: ['logs:read'] });
    shared = { workflowId: done.workflowId, executionId: done.executionId, runningId: await runningExecution(), keyId: sharedKey.id };
    sharedWorkflowBefore = (await admin('GET', `/api/v1/workflows/${shared.workflowId}`)).body;
  });

  it('uses keys that each hold exactly one scope', () => {
    for (const scope of ALL_SCOPES) expect(keys.get(scope)!.scopes).toEqual([scope]);
  });

  for (const route of ROUTES) {
    it(`${route.name}: ${route.scope ?? 'any key'} (or admin) passes with ${route.success}; every other scope is 403 FORBIDDEN`, async () => {
      const outcomes: string[] = [];
      const wrong: string[] = [];
      for (const caller of CALLERS) {
        const key = caller === 'static' ? server.key : keys.get(caller)!.key;
        const ok = allowed(route, caller);
        const res = await route.call(key, caller, shared, ok);
        outcomes.push(`${caller}=${res.status}`);
        if (ok) {
          if (res.status !== route.success) wrong.push(`${caller}: expected ${route.success}, got ${res.status} ${res.text}`);
        } else {
          const body = res.body;
          if (res.status !== 403 || body?.error?.code !== 'FORBIDDEN' || JSON.stringify(body?.error?.details?.requiredScopes) !== JSON.stringify([route.scope])) {
            wrong.push(`${caller}: expected 403 FORBIDDEN requiredScopes [${route.scope}], got ${res.status} ${res.text}`);
          } else {
            expectError(res, 403, 'FORBIDDEN');
          }
        }
      }
      expect(wrong, outcomes.join(' ')).toEqual([]);
    });
  }

  it('forbidden calls changed nothing: the shared workflow, execution and key are as they were', async () => {
    const workflow = await admin('GET', `/api/v1/workflows/${shared.workflowId}`);
    expect(workflow.status).toBe(200);
    expect(workflow.body).toEqual(sharedWorkflowBefore);
    const execution = await admin('GET', `/api/v1/executions/${shared.runningId}`);
    expect(['QUEUED', 'RUNNING']).toContain(execution.body.state);
    const key = await admin('GET', `/api/v1/api-keys/${shared.keyId}`);
    expect(key.body).toMatchObject({ prefix: sharedKey.prefix, label: sharedKey.label, enabled: true, revokedAt: null });
    expect((await server.request('GET', '/api/v1/status', { auth: sharedKey.key })).status).toBe(200);
    // no key was minted by a forbidden POST: every matrix key comes from an allowed caller
    const list = await admin('GET', '/api/v1/api-keys?limit=500');
    const minted = list.body.items.filter((k: any) => typeof k.label === 'string' && k.label.startsWith('matrix-'));
    expect(minted.length).toBe(CALLERS.filter((c) => allowed(ROUTES.find((r) => r.name === 'POST /api/v1/api-keys')!, c)).length);
  });

  it('a key with several scopes gets the union, and nothing more', async () => {
    const multi = await createKey(server, { scopes: ['workflows:read', 'executions:read'] });
    expect((await server.request('GET', '/api/v1/workflows', { auth: multi.key })).status).toBe(200);
    expect((await server.request('GET', '/api/v1/executions', { auth: multi.key })).status).toBe(200);
    const denied = await server.request('GET', `/api/v1/executions/${shared.executionId}/logs`, { auth: multi.key });
    expect(expectError(denied, 403, 'FORBIDDEN').details).toEqual({ requiredScopes: ['logs:read'] });
  });

  it('403 is decided before the resource is looked up: an unknown id is 403 for a key without the scope', async () => {
    const res = await server.request('GET', `/api/v1/workflows/${uniqueId('ghost')}`, { auth: keys.get('audit:read')!.key });
    expectError(res, 403, 'FORBIDDEN');
  });
});

// ---------------------------------------------------------------------------------------------
// Part 2: namespace-restricted keys × in/out-of-namespace resources
// ---------------------------------------------------------------------------------------------

const ALLOWED_NAMESPACES = ['team-a', 'ops.*'];
const INSIDE = ['team-a', 'ops', 'ops.x.y'];
const OUTSIDE = ['team-b', 'default', 'opsx', 'team-a.sub'];
const NS_SCOPES = ['workflows:read', 'workflows:write', 'executions:read', 'executions:write', 'logs:read', 'admin'] as const;

interface NsFixture {
  namespace: string;
  workflowId: string;
  executionId: string;
}

interface NsRoute {
  name: string;
  scope: Scope;
  success: number;
  call(key: string, namespace: string, fixture: NsFixture): Promise<TestResponse>;
  /** after an out-of-namespace call: the resource is untouched */
  unchanged?(fixture: NsFixture, before: any): Promise<void>;
}

const NS_ROUTES: NsRoute[] = [
  {
    name: 'GET /api/v1/workflows/:id',
    scope: 'workflows:read',
    success: 200,
    call: (key, _ns, f) => server.request('GET', `/api/v1/workflows/${f.workflowId}`, { auth: key }),
  },
  {
    name: 'PUT /api/v1/workflows/:id (new workflow in that namespace)',
    scope: 'workflows:write',
    success: 201,
    call: (key, ns) => {
      const id = uniqueId('ns-put');
      return server.request('PUT', `/api/v1/workflows/${id}`, { raw: workflowYaml(id, { namespace: ns }), contentType: 'application/yaml', auth: key });
    },
  },
  {
    name: 'PATCH /api/v1/workflows/:id',
    scope: 'workflows:write',
    success: 200,
    call: async (key, ns) => server.request('PATCH', `/api/v1/workflows/${await freshWorkflow(ns)}`, { body: { enabled: false }, auth: key }),
  },
  {
    name: 'DELETE /api/v1/workflows/:id',
    scope: 'workflows:write',
    success: 204,
    call: async (key, ns) => server.request('DELETE', `/api/v1/workflows/${await freshWorkflow(ns)}`, { auth: key }),
  },
  {
    name: 'POST /api/v1/workflows/:id/executions',
    scope: 'executions:write',
    success: 202,
    call: (key, _ns, f) => server.request('POST', `/api/v1/workflows/${f.workflowId}/executions`, { auth: key }),
  },
  {
    name: 'GET /api/v1/executions/:id',
    scope: 'executions:read',
    success: 200,
    call: (key, _ns, f) => server.request('GET', `/api/v1/executions/${f.executionId}`, { auth: key }),
  },
  {
    name: 'POST /api/v1/executions/:id/cancel',
    scope: 'executions:write',
    success: 202,
    call: async (key, ns) => server.request('POST', `/api/v1/executions/${await runningExecution(ns)}/cancel`, { auth: key }),
  },
  {
    name: 'GET /api/v1/executions/:id/logs',
    scope: 'logs:read',
    success: 200,
    call: (key, _ns, f) => server.request('GET', `/api/v1/executions/${f.executionId}/logs`, { auth: key }),
  },
];

describe('namespace-restricted keys (namespaces: team-a, ops.*)', () => {
  const nsKeys = new Map<string, CreatedKey>();
  const fixtures = new Map<string, NsFixture>();

  beforeAll(async () => {
    for (const scope of NS_SCOPES) nsKeys.set(scope, await createKey(server, { scopes: [scope], namespaces: ALLOWED_NAMESPACES }));
    for (const namespace of [...INSIDE, ...OUTSIDE]) {
      const done = await finishedExecution(namespace);
      fixtures.set(namespace, { namespace, ...done });
    }
  });

  for (const route of NS_ROUTES) {
    it(`${route.name}: with ${route.scope} inside → ${route.success}, outside → 404 NOT_FOUND; without the scope → 403 either way`, async () => {
      const wrong: string[] = [];
      for (const scope of NS_SCOPES) {
        const key = nsKeys.get(scope)!.key;
        const ok = scope === 'admin' || scope === route.scope;
        for (const namespace of [...INSIDE, ...OUTSIDE]) {
          const inside = INSIDE.includes(namespace);
          const res = await route.call(key, namespace, fixtures.get(namespace)!);
          const expected = !ok ? [403, 'FORBIDDEN'] : inside ? [route.success, undefined] : [404, 'NOT_FOUND'];
          if (res.status !== expected[0] || (expected[1] !== undefined && res.body?.error?.code !== expected[1])) {
            wrong.push(`${scope} on ${namespace}: expected ${expected.join(' ')}, got ${res.status} ${res.text}`);
          }
          if (res.status === 404) expectError(res, 404, 'NOT_FOUND');
        }
      }
      expect(wrong).toEqual([]);
    });
  }

  it('an out-of-namespace 404 looks exactly like the 404 of a workflow that does not exist', async () => {
    const key = nsKeys.get('workflows:read')!.key;
    const hiddenId = fixtures.get('team-b')!.workflowId;
    const ghostId = uniqueId('ghost');
    const hidden = await server.request('GET', `/api/v1/workflows/${hiddenId}`, { auth: key });
    const ghost = await server.request('GET', `/api/v1/workflows/${ghostId}`, { auth: key });
    expectError(hidden, 404, 'NOT_FOUND');
    expectError(ghost, 404, 'NOT_FOUND');
    expect(Object.keys(hidden.body.error).sort()).toEqual(Object.keys(ghost.body.error).sort());
    expect(hidden.text).not.toContain('team-b');
    expect(hidden.body.error.message.replaceAll(hiddenId, 'X')).toBe(ghost.body.error.message.replaceAll(ghostId, 'X'));
  });

  it('GET /api/v1/workflows lists only the workflows inside the key\'s namespaces', async () => {
    for (const scope of ['workflows:read', 'admin']) {
      const res = await server.request('GET', '/api/v1/workflows?limit=500', { auth: nsKeys.get(scope)!.key });
      expect(res.status, res.text).toBe(200);
      const ids = res.body.items.map((w: any) => w.id);
      for (const ns of INSIDE) expect(ids, ns).toContain(fixtures.get(ns)!.workflowId);
      for (const ns of OUTSIDE) expect(ids, ns).not.toContain(fixtures.get(ns)!.workflowId);
      for (const w of res.body.items) expect(w.namespace === 'team-a' || w.namespace === 'ops' || w.namespace.startsWith('ops.'), w.namespace).toBe(true);
    }
  });

  it('GET /api/v1/workflows?namespace=<outside> is empty, not 403', async () => {
    const res = await server.request('GET', '/api/v1/workflows?namespace=team-b', { auth: nsKeys.get('workflows:read')!.key });
    expect(res.status, res.text).toBe(200);
    expect(res.body.items).toEqual([]);
  });

  it('GET /api/v1/executions lists only executions inside the key\'s namespaces', async () => {
    const res = await server.request('GET', '/api/v1/executions?limit=500', { auth: nsKeys.get('executions:read')!.key });
    expect(res.status, res.text).toBe(200);
    const ids = res.body.items.map((e: any) => e.id);
    for (const ns of INSIDE) expect(ids, ns).toContain(fixtures.get(ns)!.executionId);
    for (const ns of OUTSIDE) expect(ids, ns).not.toContain(fixtures.get(ns)!.executionId);
    for (const e of res.body.items) expect(e.namespace === 'team-a' || e.namespace === 'ops' || e.namespace.startsWith('ops.'), e.namespace).toBe(true);
    const filtered = await server.request('GET', `/api/v1/executions?workflowId=${fixtures.get('team-b')!.workflowId}`, { auth: nsKeys.get('executions:read')!.key });
    expect(filtered.status).toBe(200);
    expect(filtered.body.items).toEqual([]);
  });

  it('applying a workflow into an outside namespace stores nothing', async () => {
    const id = uniqueId('ns-out');
    const res = await server.request('PUT', `/api/v1/workflows/${id}`, { raw: workflowYaml(id, { namespace: 'team-b' }), contentType: 'application/yaml', auth: nsKeys.get('workflows:write')!.key });
    expectError(res, 404, 'NOT_FOUND');
    expectError(await admin('GET', `/api/v1/workflows/${id}`), 404, 'NOT_FOUND');
  });

  it('cannot move an outside workflow inside by re-applying it (404, unchanged)', async () => {
    const f = fixtures.get('team-b')!;
    const before = (await admin('GET', `/api/v1/workflows/${f.workflowId}`)).body;
    const res = await server.request('PUT', `/api/v1/workflows/${f.workflowId}`, {
      raw: workflowYaml(f.workflowId, { namespace: 'team-a' }),
      contentType: 'application/yaml',
      auth: nsKeys.get('workflows:write')!.key,
    });
    expectError(res, 404, 'NOT_FOUND');
    expect((await admin('GET', `/api/v1/workflows/${f.workflowId}`)).body).toEqual(before);
  });

  it('cannot move an inside workflow outside by re-applying it (404, unchanged)', async () => {
    const f = fixtures.get('team-a')!;
    const before = (await admin('GET', `/api/v1/workflows/${f.workflowId}`)).body;
    const res = await server.request('PUT', `/api/v1/workflows/${f.workflowId}`, {
      raw: workflowYaml(f.workflowId, { namespace: 'team-b' }),
      contentType: 'application/yaml',
      auth: nsKeys.get('workflows:write')!.key,
    });
    expectError(res, 404, 'NOT_FOUND');
    expect((await admin('GET', `/api/v1/workflows/${f.workflowId}`)).body).toEqual(before);
  });

  it('out-of-namespace PATCH, DELETE, trigger and cancel change nothing', async () => {
    const f = fixtures.get('default')!;
    const wfBefore = (await admin('GET', `/api/v1/workflows/${f.workflowId}`)).body;
    const execsBefore = (await listAll(server, `workflowId=${f.workflowId}`)).length;
    const sleeper = await runningExecution('team-b');
    const writer = nsKeys.get('workflows:write')!.key;
    const runner = nsKeys.get('executions:write')!.key;
    expectError(await server.request('PATCH', `/api/v1/workflows/${f.workflowId}`, { body: { enabled: false }, auth: writer }), 404, 'NOT_FOUND');
    expectError(await server.request('DELETE', `/api/v1/workflows/${f.workflowId}`, { auth: writer }), 404, 'NOT_FOUND');
    expectError(await server.request('POST', `/api/v1/workflows/${f.workflowId}/executions`, { auth: runner }), 404, 'NOT_FOUND');
    expectError(await server.request('POST', `/api/v1/executions/${sleeper}/cancel`, { auth: runner }), 404, 'NOT_FOUND');
    expect((await admin('GET', `/api/v1/workflows/${f.workflowId}`)).body).toEqual(wfBefore);
    expect((await listAll(server, `workflowId=${f.workflowId}`)).length).toBe(execsBefore);
    const sleeping = await admin('GET', `/api/v1/executions/${sleeper}`);
    expect(['QUEUED', 'RUNNING']).toContain(sleeping.body.state);
  });

  it('an in-namespace cancel really cancels', async () => {
    const id = await runningExecution('ops.x.y');
    const res = await server.request('POST', `/api/v1/executions/${id}/cancel`, { auth: nsKeys.get('executions:write')!.key });
    expect(res.status, res.text).toBe(202);
    await waitFor(server, id, (e) => e.state === 'CANCELLED', 5000);
  });

  it('namespaces do not restrict GET /api/v1/status', async () => {
    for (const scope of NS_SCOPES) expect((await server.request('GET', '/api/v1/status', { auth: nsKeys.get(scope)!.key })).status).toBe(200);
  });
});
