/**
 * The contract walk (issue 11 §1): every documented operation is driven through its success
 * answers and every error status it documents that a client can provoke — missing key, a key
 * without the scope, a rate-limited key, malformed input, unknown ids, conflicts, oversized and
 * wrongly typed bodies, a protocol problem, a draining server — and each answer is checked
 * against the document's schema for that route and status (test/support/contract.ts does the
 * checking on every request of every suite; this file makes sure every route and status is
 * reached). The walk ends by listing what it could not reach, which must be only what no
 * client can cause (500).
 */
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contractOf, observed, type Contract } from '../support/contract';
import { applyWorkflow, eventually, startTestServer, type TestServer } from '../support/server';
import { createKey } from './access-helpers';

let server: TestServer;
let contract: Contract;
const S = Math.random().toString(36).slice(2, 7);
const WF = `contract-${S}`;
const SLOW = `contract-slow-${S}`;
const OFF = `contract-off-${S}`;
const TOOL = `contract_tool_${S}`;

const yaml = (id: string, extra = '', tasks = '  - {id: hello, type: log, message: "hi {{ inputs.who }}"}') =>
  `id: ${id}\nnamespace: contract\ninputs:\n  - {id: who, type: string, default: world}\n  - {id: count, type: integer, default: 1}\n${extra}tasks:\n${tasks}\n`;

/** A request sent with node:http so that it can carry a header twice (fetch merges them). */
function rawDuplicateHeader(method: string, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const url = new URL(server.url);
    const req = httpRequest(
      { host: url.hostname, port: url.port, method, path, headers: ['X-API-Key', server.key, 'X-API-Key', server.key] as unknown as Record<string, string> },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => {
          const headers = new Headers(Object.entries(res.headers).map(([k, v]) => [k, String(v)]));
          const problems = contract.check({ method, path, status: res.statusCode!, headers, text, body: text ? JSON.parse(text) : undefined });
          expect(res.statusCode, text).toBe(400);
          expect(problems).toEqual([]);
          resolve();
        });
      },
    );
    req.on('error', reject);
    req.end();
  });
}

beforeAll(async () => {
  server = await startTestServer({ configure: (config) => (config.server.bodyLimitBytes = 64 * 1024) });
  contract = (await contractOf(server.url))!;
  await applyWorkflow(server, WF, yaml(WF, `tool:\n  name: ${TOOL}\n  description: a tool for the contract walk\n  wait: 10s\n`));
  await applyWorkflow(server, SLOW, yaml(SLOW, '', '  - {id: nap, type: sleep, duration: 30s}'));
  await applyWorkflow(server, OFF, yaml(OFF));
  expect((await server.request('PATCH', `/api/v1/workflows/${OFF}`, { body: { enabled: false } })).status).toBe(200);
});

afterAll(async () => {
  await server?.close();
});

describe('the contract walk: every route, every status a client can provoke, each answer checked against the document', () => {
  it('answers every operation without a key (401), with a key lacking the scope (403) and over its own rate limit (429)', async () => {
    const nobody = await createKey(server, { scopes: ['audit:read'] });
    const auditor = await createKey(server, { scopes: ['workflows:read'] });
    for (const [template, item] of Object.entries<Record<string, any>>(contract.document.paths)) {
      for (const [method, op] of Object.entries<any>(item)) {
        const path = template.replace('{id}', WF).replace('{name}', TOOL);
        const body = op.requestBody ? (method === 'put' ? { raw: yaml(WF), contentType: 'application/yaml' } : { body: {} }) : {};
        if (op.responses['401']) {
          const res = await server.request(method.toUpperCase(), path, { ...body, auth: false });
          expect(res.status, `${method} ${template}`).toBe(401);
        }
        if (op.responses['403']) {
          const key = template === '/api/v1/audit' ? auditor.key : nobody.key;
          const res = await server.request(method.toUpperCase(), path, { ...body, auth: key });
          expect(res.status, `${method} ${template} ${res.text}`).toBe(403);
        }
        if (op.responses['429']) {
          const limited = await createKey(server, { scopes: ['admin'], rateLimit: { requests: 1, window: '1h' } });
          await server.request('GET', '/api/v1/status', { auth: limited.key });
          const res = await server.request(method.toUpperCase(), path, { ...body, auth: limited.key });
          expect(res.status, `${method} ${template}`).toBe(429);
        }
      }
    }
  });

  it('answers 400 for a repeated singleton header on every operation, 413 for an oversized body and 415 for a wrong Content-Type on every body route', async () => {
    for (const [template, item] of Object.entries<Record<string, any>>(contract.document.paths)) {
      for (const [method, op] of Object.entries<any>(item)) {
        const path = template.replace('{id}', WF).replace('{name}', TOOL);
        await rawDuplicateHeader(method.toUpperCase(), path);
        if (!op.requestBody) continue;
        const huge = await server.request(method.toUpperCase(), path, { raw: `{"x":"${'a'.repeat(70 * 1024)}"}`, contentType: method === 'put' ? 'application/yaml' : 'application/json' });
        expect(huge.status, `${method} ${template}`).toBe(413);
        const wrongType = await server.request(method.toUpperCase(), path, { raw: 'x', contentType: 'text/plain' });
        expect(wrongType.status, `${method} ${template}`).toBe(415);
      }
    }
  });

  it('workflows: list, get, apply (201, 200), patch, delete (204), and their 400/404 answers', async () => {
    expect((await server.request('GET', '/api/v1/workflows?limit=2')).status).toBe(200);
    expect((await server.request('GET', '/api/v1/workflows?limit=0')).status).toBe(400);
    expect((await server.request('GET', `/api/v1/workflows/${WF}`)).status).toBe(200);
    expect((await server.request('GET', '/api/v1/workflows/bad%20id')).status).toBe(400);
    expect((await server.request('GET', `/api/v1/workflows/missing-${S}`)).status).toBe(404);
    const id = `contract-apply-${S}`;
    expect((await server.request('PUT', `/api/v1/workflows/${id}`, { raw: yaml(id), contentType: 'application/yaml' })).status).toBe(201);
    expect((await server.request('PUT', `/api/v1/workflows/${id}`, { raw: yaml(id), contentType: 'application/yaml' })).status).toBe(200);
    const invalid = await server.request('PUT', `/api/v1/workflows/${id}`, { raw: `id: ${id}\ntasks: 3\n`, contentType: 'application/yaml' });
    expect(invalid.body.error.code).toBe('INVALID_WORKFLOW');
    const mismatch = await server.request('PUT', `/api/v1/workflows/${id}`, { raw: yaml('another-id'), contentType: 'application/yaml' });
    expect(mismatch.body.error.code).toBe('WORKFLOW_ID_MISMATCH');
    const jsonString = await server.request('PUT', `/api/v1/workflows/${id}`, { raw: JSON.stringify(yaml(id)), contentType: 'application/yaml' });
    expect(jsonString.body.error.code).toBe('INVALID_WORKFLOW');
    const elsewhere = await createKey(server, { scopes: ['workflows:write'], namespaces: ['elsewhere'] });
    expect((await server.request('PUT', `/api/v1/workflows/${id}`, { raw: yaml(id), contentType: 'application/yaml', auth: elsewhere.key })).status).toBe(404);
    expect((await server.request('PATCH', `/api/v1/workflows/${id}`, { body: { enabled: true } })).status).toBe(200);
    expect((await server.request('PATCH', `/api/v1/workflows/${id}`, { body: { enabled: 'yes' } })).status).toBe(400);
    expect((await server.request('PATCH', `/api/v1/workflows/missing-${S}`, { body: { enabled: true } })).status).toBe(404);
    expect((await server.request('DELETE', `/api/v1/workflows/${id}`)).status).toBe(204);
    expect((await server.request('DELETE', `/api/v1/workflows/${id}`)).status).toBe(404);
    expect((await server.request('DELETE', '/api/v1/workflows/bad%20id')).status).toBe(400);
  });

  it('executions: trigger (202, 200 with wait, 200 replay), list, get, cancel (202, 409) and their 400/404/409 answers', async () => {
    const queued = await server.request('POST', `/api/v1/workflows/${WF}/executions`);
    expect(queued.status).toBe(202);
    const waited = await server.request('POST', `/api/v1/workflows/${WF}/executions?wait=10s`, { body: { inputs: { who: 'contract' }, labels: { a: 'b' } } });
    expect(waited.status).toBe(200);
    const key = `contract-${S}`;
    expect((await server.request('POST', `/api/v1/workflows/${WF}/executions`, { body: {}, headers: { 'idempotency-key': key } })).status).toBe(202);
    expect((await server.request('POST', `/api/v1/workflows/${WF}/executions`, { body: {}, headers: { 'idempotency-key': key } })).status).toBe(200);
    const reused = await server.request('POST', `/api/v1/workflows/${WF}/executions`, { body: { inputs: { who: 'x' } }, headers: { 'idempotency-key': key } });
    expect(reused.body.error.code).toBe('IDEMPOTENCY_KEY_REUSED');
    expect((await server.request('POST', `/api/v1/workflows/${OFF}/executions`)).body.error.code).toBe('WORKFLOW_DISABLED');
    expect((await server.request('POST', `/api/v1/workflows/${WF}/executions`, { body: { inputs: { count: 'many' } } })).body.error.code).toBe('INVALID_INPUTS');
    expect((await server.request('POST', `/api/v1/workflows/${WF}/executions`, { body: { nope: 1 } })).body.error.code).toBe('VALIDATION_ERROR');
    expect((await server.request('POST', `/api/v1/workflows/missing-${S}/executions`)).status).toBe(404);

    expect((await server.request('GET', '/api/v1/executions?limit=5')).status).toBe(200);
    expect((await server.request('GET', '/api/v1/executions?state=NOPE')).status).toBe(400);
    expect((await server.request('GET', `/api/v1/executions/${waited.body.id}`)).status).toBe(200);
    expect((await server.request('GET', '/api/v1/executions/missing')).status).toBe(404);

    const slow = await server.request('POST', `/api/v1/workflows/${SLOW}/executions`);
    await eventually(async () => (await server.request('GET', `/api/v1/executions/${slow.body.id}`)).body.state === 'RUNNING');
    expect((await server.request('POST', `/api/v1/executions/${slow.body.id}/cancel`)).status).toBe(202);
    expect((await server.request('POST', `/api/v1/executions/${waited.body.id}/cancel`)).body.error.code).toBe('EXECUTION_FINISHED');
    expect((await server.request('POST', '/api/v1/executions/missing/cancel')).status).toBe(404);

    expect((await server.request('GET', `/api/v1/executions/${waited.body.id}/logs?limit=10`)).status).toBe(200);
    expect((await server.request('GET', `/api/v1/executions/${waited.body.id}/logs?before=1&after=2`)).status).toBe(400);
    expect((await server.request('GET', '/api/v1/executions/missing/logs')).status).toBe(404);
    // a finished execution's stream: the backlog, `end`, and the server closes it
    const stream = await server.request('GET', `/api/v1/executions/${waited.body.id}/logs/stream`);
    expect(stream.status).toBe(200);
    expect(stream.text).toContain('event: end');
    expect((await server.request('GET', `/api/v1/executions/${waited.body.id}/logs/stream?after=x`)).status).toBe(400);
    expect((await server.request('GET', '/api/v1/executions/missing/logs/stream')).status).toBe(404);
  });

  it('api keys: create (201, idempotent 200), list, get, update, rotate (201), revoke (204) and their 400/404/409 answers', async () => {
    const label = `contract-${S}`;
    const created = await server.request('POST', '/api/v1/api-keys', { body: { label, scopes: ['workflows:read'] } });
    expect(created.status).toBe(201);
    expect(created.body.created).toBe(true);
    const again = await server.request('POST', '/api/v1/api-keys', { body: { label, scopes: ['workflows:read'], idempotent: true } });
    expect(again.status).toBe(200);
    expect(again.body.created).toBe(false);
    expect((await server.request('POST', '/api/v1/api-keys', { body: { label, scopes: ['workflows:read'] } })).status).toBe(409);
    expect((await server.request('POST', '/api/v1/api-keys', { body: { scopes: 'admin' } })).status).toBe(400);
    expect((await server.request('GET', '/api/v1/api-keys?limit=3')).status).toBe(200);
    expect((await server.request('GET', '/api/v1/api-keys?offset=-1')).status).toBe(400);
    const id = created.body.id;
    expect((await server.request('GET', `/api/v1/api-keys/${id}`)).status).toBe(200);
    expect((await server.request('GET', '/api/v1/api-keys/missing')).status).toBe(404);
    expect((await server.request('PATCH', `/api/v1/api-keys/${id}`, { body: { label: null, expiresAt: '2099-01-01T00:00:00Z', rateLimit: { requests: 5, window: '1m' } } })).status).toBe(200);
    expect((await server.request('PATCH', `/api/v1/api-keys/${id}`, { body: { enabled: 'no' } })).status).toBe(400);
    expect((await server.request('PATCH', '/api/v1/api-keys/missing', { body: { enabled: false } })).status).toBe(404);
    expect((await server.request('POST', `/api/v1/api-keys/${id}/rotate`)).status).toBe(201);
    expect((await server.request('POST', `/api/v1/api-keys/${id}/rotate`, { body: { graceSeconds: -1 } })).status).toBe(400);
    expect((await server.request('POST', '/api/v1/api-keys/missing/rotate')).status).toBe(404);
    expect((await server.request('DELETE', `/api/v1/api-keys/${id}`)).status).toBe(204);
    expect((await server.request('PATCH', `/api/v1/api-keys/${id}`, { body: { enabled: true } })).status).toBe(409);
    expect((await server.request('POST', `/api/v1/api-keys/${id}/rotate`)).status).toBe(409);
    expect((await server.request('DELETE', '/api/v1/api-keys/missing')).status).toBe(404);
  });

  it('tools, audit and status: list, describe, invoke (200, 202, dry run, built-in) and their 400/404/409 answers', async () => {
    expect((await server.request('GET', '/api/v1/tools?limit=5')).status).toBe(200);
    expect((await server.request('GET', '/api/v1/tools?limit=x')).status).toBe(400);
    expect((await server.request('GET', `/api/v1/tools/${TOOL}`)).status).toBe(200);
    const missing = await server.request('GET', `/api/v1/tools/${TOOL}x`);
    expect(missing.status).toBe(404);
    expect((await server.request('POST', `/api/v1/tools/${TOOL}`)).status).toBe(200);
    expect((await server.request('POST', `/api/v1/tools/${TOOL}`, { body: { inputs: { who: 'w' }, dryRun: true } })).status).toBe(200);
    expect((await server.request('POST', `/api/v1/tools/${TOOL}`, { body: { inputs: { count: 'many' } } })).body.error.code).toBe('INVALID_INPUTS');
    expect((await server.request('POST', `/api/v1/tools/${TOOL}`, { body: { wait: 'forever' } })).status).toBe(400);
    expect((await server.request('POST', `/api/v1/tools/${TOOL}x`)).status).toBe(404);
    const execution = await server.request('POST', `/api/v1/workflows/${WF}/executions?wait=10s`);
    expect((await server.request('POST', '/api/v1/tools/get_execution', { body: { inputs: { executionId: execution.body.id } } })).status).toBe(200);
    expect((await server.request('POST', '/api/v1/tools/cancel_execution', { body: { inputs: { executionId: execution.body.id } } })).body.error.code).toBe('EXECUTION_FINISHED');
    const slowTool = `contract_slow_${S}`;
    await applyWorkflow(server, `contract-slowtool-${S}`, yaml(`contract-slowtool-${S}`, `tool:\n  name: ${slowTool}\n  description: slow\n  wait: 1s\n`, '  - {id: nap, type: sleep, duration: 3s}'));
    expect((await server.request('POST', `/api/v1/tools/${slowTool}`)).status).toBe(202);
    const idem = `tool-${S}`;
    await server.request('POST', `/api/v1/tools/${TOOL}`, { body: { inputs: { who: 'a' } }, headers: { 'idempotency-key': idem } });
    expect((await server.request('POST', `/api/v1/tools/${TOOL}`, { body: { inputs: { who: 'b' } }, headers: { 'idempotency-key': idem } })).body.error.code).toBe('IDEMPOTENCY_KEY_REUSED');
    await applyWorkflow(server, `contract-offtool-${S}`, yaml(`contract-offtool-${S}`, `tool:\n  name: contract_off_${S}\n  description: off\n`));
    await server.request('PATCH', `/api/v1/workflows/contract-offtool-${S}`, { body: { enabled: false } });
    const off = await server.request('POST', `/api/v1/tools/contract_off_${S}`);
    expect([404, 409]).toContain(off.status);

    expect((await server.request('GET', '/api/v1/audit?limit=5')).status).toBe(200);
    expect((await server.request('GET', '/api/v1/audit?since=yesterday')).status).toBe(400);
    expect((await server.request('GET', '/api/v1/status')).status).toBe(200);
  });

  it('health: 200 while ready; 503 on readiness, overall health and a new log stream while draining', async () => {
    for (const path of ['/health', '/health/live', '/health/ready']) expect((await server.request('GET', path, { auth: false })).status).toBe(200);
    server.server.engine.beginDrain();
    expect((await server.request('GET', '/health/ready', { auth: false })).status).toBe(503);
    expect((await server.request('GET', '/health', { auth: false })).status).toBe(503);
    const execution = (await server.request('GET', '/api/v1/executions?limit=1')).body.items[0];
    expect((await server.request('GET', `/api/v1/executions/${execution.id}/logs/stream`)).status).toBe(503);
  });

  it('reached every documented status of every operation except what no client can cause', () => {
    const unreached: string[] = [];
    for (const [template, item] of Object.entries<Record<string, any>>(contract.document.paths)) {
      for (const [method, op] of Object.entries<any>(item)) {
        const seen = observed.get(`${method.toUpperCase()} ${template}`) ?? new Set<number>();
        for (const status of Object.keys(op.responses)) {
          if (status === '500') continue; // a bug, by definition not provokable
          if (!seen.has(Number(status))) unreached.push(`${method.toUpperCase()} ${template} ${status}`);
        }
      }
    }
    expect(unreached).toEqual([]);
  });
});
