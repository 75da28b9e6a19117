/**
 * The audit trail (issue 4, DESIGN §7): events for auth failures, key lifecycle, workflow
 * apply/delete/enable/disable and execution trigger/cancel; `GET /api/v1/audit` with filters,
 * newest first; auth failures aggregated so that a flood cannot fill the disk; retention.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sleep, startTestServer, tempDir, type TestServer } from '../support/server';
import {
  allAudit,
  audit,
  AUDIT_FIELDS,
  createKey,
  queryDb,
  tableRows,
  unknownWellFormedKey,
  waitForAudit,
} from './access-helpers';
import { expectError, uniqueId, workflowYaml } from './helpers';
import { waitFor } from './engine-helpers';

const IP = /^(::ffff:)?127\.0\.0\.1$/;

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer({
    configure: (c) => {
      c.auth.failedAttemptsLimit = 100_000;
      c.auth.failureAuditWindowMs = 1000;
    },
  });
});
afterAll(async () => {
  await server?.close();
});

function expectEventShape(event: any): void {
  expect(Object.keys(event).sort()).toEqual(AUDIT_FIELDS);
  expect(new Date(event.at).toISOString()).toBe(event.at);
  expect(['success', 'failure', 'denied']).toContain(event.outcome);
  expect(typeof event.id).toBe('string');
}

/** Events about one resource, oldest first. */
async function eventsFor(resourceId: string, expected: number): Promise<any[]> {
  const items = await waitForAudit(server, '', (all) => all.filter((e) => e.resourceId === resourceId).length >= expected);
  return items.filter((e) => e.resourceId === resourceId).reverse();
}

describe('key lifecycle events', () => {
  it('records api_key.create, update, rotate and revoke by the static key, with actor "static", the ip and no secret', async () => {
    const created = await createKey(server, { scopes: ['logs:read'] });
    expect((await server.request('PATCH', `/api/v1/api-keys/${created.id}`, { body: { enabled: false } })).status).toBe(200);
    const rotated = await server.request('POST', `/api/v1/api-keys/${created.id}/rotate`, { body: { graceSeconds: 5 } });
    expect(rotated.status).toBe(201);
    expect((await server.request('DELETE', `/api/v1/api-keys/${created.id}`)).status).toBe(204);

    const events = await eventsFor(created.id, 4);
    expect(events.map((e) => e.action)).toEqual(['api_key.create', 'api_key.update', 'api_key.rotate', 'api_key.revoke']);
    for (const e of events) {
      expectEventShape(e);
      expect(e).toMatchObject({ actor: 'static', resourceType: 'api-key', resourceId: created.id, outcome: 'success' });
      expect(e.ip).toMatch(IP);
      const text = JSON.stringify(e);
      expect(text).not.toContain(created.key);
      expect(text).not.toContain(rotated.body.key);
      expect(text).not.toMatch(/ak_[0-9A-Za-z]{38}/);
      expect(text).not.toMatch(/[0-9a-f]{64}/);
    }
    // the create event identifies the key by its prefix, the rotate event by both prefixes
    expect(JSON.stringify(events[0].details)).toContain(created.prefix);
    expect(JSON.stringify(events[2].details)).toContain(rotated.body.prefix);
  });

  it('names the managed key that acted by its prefix', async () => {
    const manager = await createKey(server, { scopes: ['api-keys:manage', 'logs:read'] });
    const created = await createKey(server, { scopes: ['logs:read'] }, manager.key);
    const [event] = await eventsFor(created.id, 1);
    expect(event).toMatchObject({ action: 'api_key.create', actor: manager.prefix });
    expect(event.actor).toHaveLength(12);
  });
});

describe('workflow and execution events', () => {
  it('records workflow.apply, workflow.disable, workflow.enable and workflow.delete with the namespace', async () => {
    const writer = await createKey(server, { scopes: ['workflows:write'] });
    const id = uniqueId('audited');
    const yaml = workflowYaml(id, { namespace: 'team-audit' });
    expect((await server.request('PUT', `/api/v1/workflows/${id}`, { raw: yaml, contentType: 'application/yaml', auth: writer.key })).status).toBe(201);
    expect((await server.request('PATCH', `/api/v1/workflows/${id}`, { body: { enabled: false }, auth: writer.key })).status).toBe(200);
    expect((await server.request('PATCH', `/api/v1/workflows/${id}`, { body: { enabled: true }, auth: writer.key })).status).toBe(200);
    expect((await server.request('DELETE', `/api/v1/workflows/${id}`, { auth: writer.key })).status).toBe(204);
    const events = await eventsFor(id, 4);
    expect(events.map((e) => e.action)).toEqual(['workflow.apply', 'workflow.disable', 'workflow.enable', 'workflow.delete']);
    for (const e of events) {
      expectEventShape(e);
      expect(e).toMatchObject({ actor: writer.prefix, resourceType: 'workflow', resourceId: id, namespace: 'team-audit', outcome: 'success' });
      expect(e.ip).toMatch(IP);
    }
  });

  it('records a workflow.apply for every new revision, not only the first', async () => {
    const id = uniqueId('revisions');
    await server.request('PUT', `/api/v1/workflows/${id}`, { raw: workflowYaml(id), contentType: 'application/yaml' });
    await server.request('PUT', `/api/v1/workflows/${id}`, { raw: workflowYaml(id, { message: 'v2' }), contentType: 'application/yaml' });
    const events = await eventsFor(id, 2);
    expect(events.map((e) => e.action)).toEqual(['workflow.apply', 'workflow.apply']);
    expect(events.every((e) => e.actor === 'static')).toBe(true);
  });

  it('records execution.trigger and execution.cancel with the execution id and namespace', async () => {
    const runner = await createKey(server, { scopes: ['executions:write', 'executions:read'] });
    const wf = uniqueId('audit-exec');
    await server.request('PUT', `/api/v1/workflows/${wf}`, {
      raw: `id: ${wf}\nnamespace: team-exec\ntasks:\n  - {id: nap, type: sleep, duration: 30s}\n`,
      contentType: 'application/yaml',
    });
    const triggered = await server.request('POST', `/api/v1/workflows/${wf}/executions`, { auth: runner.key });
    expect(triggered.status, triggered.text).toBe(202);
    const executionId = triggered.body.id;
    await waitFor(server, executionId, (e) => e.state === 'RUNNING');
    expect((await server.request('POST', `/api/v1/executions/${executionId}/cancel`, { auth: runner.key })).status).toBe(202);
    const events = await eventsFor(executionId, 2);
    expect(events.map((e) => e.action)).toEqual(['execution.trigger', 'execution.cancel']);
    for (const e of events) {
      expectEventShape(e);
      expect(e).toMatchObject({ actor: runner.prefix, resourceType: 'execution', resourceId: executionId, namespace: 'team-exec', outcome: 'success' });
      expect(e.ip).toMatch(IP);
    }
    expect(JSON.stringify(events[0].details)).toContain(wf);
  });

  it('records nothing for a request refused with 403', async () => {
    const reader = await createKey(server, { scopes: ['workflows:read'] });
    const id = uniqueId('refused');
    expectError(await server.request('PUT', `/api/v1/workflows/${id}`, { raw: workflowYaml(id), contentType: 'application/yaml', auth: reader.key }), 403, 'FORBIDDEN');
    await sleep(250);
    expect((await allAudit(server)).filter((e) => e.resourceId === id && e.action === 'workflow.apply')).toEqual([]);
  });
});

describe('auth failure events', () => {
  async function failureFor(actor: string, predicate: (e: any) => boolean = () => true): Promise<any> {
    const items = await waitForAudit(server, `action=auth.failure&actor=${encodeURIComponent(actor)}`, (all) => all.some(predicate));
    const event = items.find(predicate);
    expect(event, `no auth.failure for ${actor}: ${JSON.stringify(items)}`).toBeDefined();
    expectEventShape(event);
    expect(event.outcome).toBe('failure');
    expect(event.ip).toMatch(IP);
    return event;
  }

  it('records an unknown well-formed key with its prefix as actor and reason "unknown", never the key', async () => {
    const key = unknownWellFormedKey();
    expectError(await server.request('GET', '/api/v1/status', { auth: key }), 401, 'INVALID_API_KEY');
    const event = await failureFor(key.slice(0, 12));
    expect(event.details.reason).toBe('unknown');
    expect(JSON.stringify(event)).not.toContain(key);
    expect(JSON.stringify(event)).not.toContain(key.slice(12));
  });

  it('records a revoked key (reason "revoked"), a disabled key ("disabled") and an expired key ("expired")', async () => {
    const revoked = await createKey(server, { scopes: ['logs:read'] });
    await server.request('DELETE', `/api/v1/api-keys/${revoked.id}`);
    expectError(await server.request('GET', '/api/v1/status', { auth: revoked.key }), 401, 'INVALID_API_KEY');
    expect((await failureFor(revoked.prefix, (e) => e.details?.reason === 'revoked')).details.reason).toBe('revoked');

    const disabled = await createKey(server, { scopes: ['logs:read'] });
    await server.request('PATCH', `/api/v1/api-keys/${disabled.id}`, { body: { enabled: false } });
    expectError(await server.request('GET', '/api/v1/status', { auth: disabled.key }), 401, 'INVALID_API_KEY');
    expect((await failureFor(disabled.prefix, (e) => e.details?.reason === 'disabled')).details.reason).toBe('disabled');

    const expiresAt = Date.now() + 1000;
    const expired = await createKey(server, { scopes: ['logs:read'], expiresAt: new Date(expiresAt).toISOString() });
    await sleep(Math.max(0, expiresAt + 100 - Date.now()));
    expectError(await server.request('GET', '/api/v1/status', { auth: expired.key }), 401, 'API_KEY_EXPIRED');
    expect((await failureFor(expired.prefix, (e) => e.details?.reason === 'expired')).details.reason).toBe('expired');
  });

  it('records missing credentials without any key prefix (reason "missing")', async () => {
    const since = new Date(Date.now() - 1).toISOString();
    expectError(await server.request('GET', '/api/v1/status', { auth: false }), 401, 'MISSING_API_KEY');
    const items = await waitForAudit(server, `action=auth.failure&since=${since}`, (all) => all.some((e) => e.details?.reason === 'missing'));
    const event = items.find((e) => e.details?.reason === 'missing');
    expect(event, JSON.stringify(items)).toBeDefined();
    expect(event.actor).not.toMatch(/^ak_/);
    expect(event.ip).toMatch(IP);
  });

  it('records a malformed non-managed key without echoing any part of it', async () => {
    const since = new Date(Date.now() - 1).toISOString();
    const junk = `zz${Math.random().toString(36).slice(2)}${Math.random().toString(36).slice(2)}`;
    expectError(await server.request('GET', '/api/v1/status', { auth: junk }), 401, 'INVALID_API_KEY');
    const items = await waitForAudit(server, `action=auth.failure&since=${since}`, (all) => all.some((e) => e.details?.reason === 'malformed'));
    expect(items.some((e) => e.details?.reason === 'malformed'), JSON.stringify(items)).toBe(true);
    expect(JSON.stringify(items)).not.toContain(junk);
    expect(JSON.stringify(items)).not.toContain(junk.slice(0, 12));
  });
});

describe('GET /api/v1/audit', () => {
  it('answers {items, limit, offset, hasMore}, newest first', async () => {
    for (let i = 0; i < 3; i++) await createKey(server, { scopes: ['logs:read'] });
    const res = await server.request('GET', '/api/v1/audit?limit=20');
    expect(res.status, res.text).toBe(200);
    expect(Object.keys(res.body).sort()).toEqual(['hasMore', 'items', 'limit', 'offset']);
    expect(res.body).toMatchObject({ limit: 20, offset: 0 });
    const items = res.body.items;
    for (const e of items) expectEventShape(e);
    for (let i = 1; i < items.length; i++) {
      expect(Date.parse(items[i - 1].at)).toBeGreaterThanOrEqual(Date.parse(items[i].at));
      expect(items[i - 1].id > items[i].id).toBe(true);
    }
  });

  it('defaults to 50 items and pages with limit and offset', async () => {
    const all = await allAudit(server);
    expect(all.length).toBeGreaterThan(4);
    const def = await server.request('GET', '/api/v1/audit');
    expect(def.body.limit).toBe(50);
    const first = await server.request('GET', '/api/v1/audit?limit=2&offset=0');
    const second = await server.request('GET', '/api/v1/audit?limit=2&offset=2');
    expect(first.body.items).toHaveLength(2);
    expect(first.body.hasMore).toBe(true);
    expect(second.body.items).toHaveLength(2);
    expect(second.body.items[0].id < first.body.items[1].id).toBe(true);
  });

  it('filters by action', async () => {
    await createKey(server, { scopes: ['logs:read'] });
    const items = await audit(server, 'action=api_key.create');
    expect(items.length).toBeGreaterThan(0);
    expect(items.every((e) => e.action === 'api_key.create')).toBe(true);
  });

  it('filters by actor', async () => {
    const manager = await createKey(server, { scopes: ['api-keys:manage', 'logs:read'] });
    await createKey(server, { scopes: ['logs:read'] }, manager.key);
    await createKey(server, { scopes: ['logs:read'] }, manager.key);
    const items = await waitForAudit(server, `actor=${manager.prefix}`, (all) => all.length >= 2);
    expect(items).toHaveLength(2);
    expect(items.every((e) => e.actor === manager.prefix && e.action === 'api_key.create')).toBe(true);
    const statics = await audit(server, 'actor=static');
    expect(statics.length).toBeGreaterThan(0);
    expect(statics.every((e) => e.actor === 'static')).toBe(true);
  });

  it('filters by since (inclusive lower bound on at)', async () => {
    await sleep(5);
    const since = new Date().toISOString();
    const created = await createKey(server, { scopes: ['logs:read'] });
    const items = await audit(server, `since=${encodeURIComponent(since)}`);
    expect(items.some((e) => e.resourceId === created.id)).toBe(true);
    expect(items.every((e) => Date.parse(e.at) >= Date.parse(since))).toBe(true);
    const future = await audit(server, `since=${encodeURIComponent(new Date(Date.now() + 3_600_000).toISOString())}`);
    expect(future).toEqual([]);
  });

  it('combines filters', async () => {
    const since = new Date(Date.now() - 60_000).toISOString();
    const items = await audit(server, `action=api_key.create&actor=static&since=${encodeURIComponent(since)}`);
    expect(items.length).toBeGreaterThan(0);
    expect(items.every((e) => e.action === 'api_key.create' && e.actor === 'static')).toBe(true);
  });

  it.each(['limit=0', 'limit=501', 'offset=-1', 'since=yesterday', 'since=2026-13-45T00:00:00Z', 'colour=red'])('rejects ?%s with 400 VALIDATION_ERROR', async (query) => {
    expectError(await server.request('GET', `/api/v1/audit?${query}`), 400, 'VALIDATION_ERROR');
  });

  it('requires audit:read: 403 FORBIDDEN for other scopes, 200 for audit:read', async () => {
    const other = await createKey(server, { scopes: ['api-keys:manage'] });
    expect(expectError(await server.request('GET', '/api/v1/audit', { auth: other.key }), 403, 'FORBIDDEN').details).toEqual({ requiredScopes: ['audit:read'] });
    const reader = await createKey(server, { scopes: ['audit:read'] });
    const res = await server.request('GET', '/api/v1/audit', { auth: reader.key });
    expect(res.status, res.text).toBe(200);
  });
});

describe('auth failure aggregation (auth.failureAuditWindowMs: 1000)', () => {
  let quiet: TestServer;
  beforeAll(async () => {
    quiet = await startTestServer({
      configure: (c) => {
        c.auth.failedAttemptsLimit = 100_000;
        c.auth.failureAuditWindowMs = 1000;
      },
    });
  });
  afterAll(async () => {
    await quiet?.close();
  });

  it('50 failures from one address: one event at once, one aggregated event with the count when the window closes — not 50 rows', async () => {
    const key = unknownWellFormedKey();
    const prefix = key.slice(0, 12);
    const started = Date.now();
    for (let i = 0; i < 50; i++) expectError(await quiet.request('GET', '/api/v1/status', { auth: key }), 401, 'INVALID_API_KEY');
    expect(Date.now() - started, 'the 50 failures must fit in one window').toBeLessThan(800);

    // the first one is written at once (within the 100 ms write batch)
    const early = await waitForAudit(quiet, `action=auth.failure&actor=${prefix}`, (items) => items.length >= 1, 700);
    expect(early).toHaveLength(1);
    expect(early[0].details).toMatchObject({ reason: 'unknown', count: 1 });
    expect(early[0].ip).toMatch(IP);

    // after the window: exactly one more event that carries the rest of the count
    const late = await waitForAudit(quiet, `action=auth.failure&actor=${prefix}`, (items) => items.length >= 2, 3000);
    expect(late).toHaveLength(2);
    const [aggregated, first] = late;
    expect(first.id).toBe(early[0].id);
    expect(aggregated.details.reason).toBe('unknown');
    expect(aggregated.ip).toMatch(IP);
    expect(aggregated.outcome).toBe('failure');
    const total = late.reduce((sum, e) => sum + Number(e.details.count), 0);
    expect(total).toBe(50);
    expect(aggregated.details.count).toBeGreaterThan(1);
    const rows = (await tableRows(quiet.databaseUrl, 'audit_events')).filter((r) => r.actor === prefix);
    expect(rows).toHaveLength(2);
    expect(JSON.stringify(rows)).not.toContain(key);
  });

  it('a new window after a quiet one starts with a fresh immediate event', async () => {
    const key = unknownWellFormedKey();
    const prefix = key.slice(0, 12);
    await quiet.request('GET', '/api/v1/status', { auth: key });
    await waitForAudit(quiet, `action=auth.failure&actor=${prefix}`, (items) => items.length >= 1);
    await sleep(1300);
    await quiet.request('GET', '/api/v1/status', { auth: key });
    const items = await waitForAudit(quiet, `action=auth.failure&actor=${prefix}`, (all) => all.length >= 2);
    expect(items).toHaveLength(2);
    expect(items.map((e) => e.details.count)).toEqual([1, 1]);
  });
});

describe('auth failure flood from many addresses', () => {
  it('1100 failures from 1100 addresses in one window write far fewer than 1100 events, and none is lost from the count', async () => {
    const flood = await startTestServer({
      configure: (c) => {
        c.server.trustProxy = true;
        c.auth.failedAttemptsLimit = 100_000;
        c.auth.failureAuditWindowMs = 600_000;
      },
    });
    const key = unknownWellFormedKey();
    const N = 1100;
    try {
      for (let batch = 0; batch < N; batch += 50) {
        await Promise.all(
          Array.from({ length: Math.min(50, N - batch) }, (_, i) => {
            const n = batch + i;
            return flood.request('GET', '/api/v1/status', { auth: key, headers: { 'x-forwarded-for': `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}` } });
          }),
        );
      }
    } finally {
      // shutdown closes the failure window and writes what is pending
      await flood.close();
    }
    const rows = (await tableRows(flood.databaseUrl, 'audit_events')).filter((r) => r.action === 'auth.failure');
    const total = rows.reduce((sum, r) => sum + Number(JSON.parse(String(r.details)).count), 0);
    expect(total).toBe(N);
    expect(rows.length).toBeLessThanOrEqual(1001);
    expect(JSON.stringify(rows)).not.toContain(key);
  }, 60_000);
});

describe('retention', () => {
  it('purges audit events older than retention.days at start-up and keeps newer ones', async () => {
    const dir = tempDir('autokestra-audit-retention-');
    const first = await startTestServer({ dir });
    const key = first.key;
    await first.close();
    // rows from the past, written straight into the store (same SQL on SQLite and PostgreSQL)
    const day = 86_400_000;
    const insert = 'insert into audit_events (id, at, actor, action, resource_type, resource_id, namespace, outcome, ip, details) values (?, ?, ?, ?, null, null, null, ?, null, null)';
    await queryDb(first.databaseUrl, insert, ['00000000000000000000OLD001', Date.now() - 31 * day, 'static', 'test.old', 'success'], { write: true });
    await queryDb(first.databaseUrl, insert, ['00000000000000000000NEW001', Date.now() - 29 * day, 'static', 'test.recent', 'success'], { write: true });
    const second = await startTestServer({ dir, key, configure: (c) => (c.retention.days = 30) });
    try {
      const deadline = Date.now() + 5000;
      let rows = await tableRows(second.databaseUrl, 'audit_events');
      while (rows.some((r) => r.action === 'test.old') && Date.now() < deadline) {
        await sleep(50);
        rows = await tableRows(second.databaseUrl, 'audit_events');
      }
      expect(rows.map((r) => r.action)).not.toContain('test.old');
      expect(rows.map((r) => r.action)).toContain('test.recent');
    } finally {
      await second.close();
    }
  });
});
