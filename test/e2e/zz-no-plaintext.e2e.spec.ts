/**
 * The final secrets check of issue 4: one server goes through the whole key lifecycle (create,
 * idempotent create, conflicts, list, get, patch, disable, rotate with and without grace, revoke,
 * expiry) plus failures of every kind, while every response is recorded and every plaintext key
 * collected. Then no plaintext key (nor its random part, nor its SHA-256) may appear in the
 * captured server log, in any audit event (API and raw table), in any response other than the
 * one-time `key` field, or in the api_keys table.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sleep, startTestServer, type RequestOptions, type TestResponse, type TestServer } from '../support/server';
import { dumpTable, KEY_SHAPE, tableRows, uniqueLabel, unknownWellFormedKey } from './access-helpers';
import { sha256hex, uniqueId, workflowYaml } from './helpers';
import { waitTerminal } from './engine-helpers';

interface Recorded {
  method: string;
  path: string;
  status: number;
  headers: [string, string][];
  text: string;
  body: any;
}

let server: TestServer;
const recorded: Recorded[] = [];
/** every plaintext managed key this test ever saw */
const secrets = new Set<string>();
let closed = false;

/** The harness request, recording every response and collecting every plaintext it returns. */
async function call(method: string, path: string, init: RequestOptions = {}): Promise<TestResponse> {
  const res = await server.request(method, path, init);
  recorded.push({ method, path, status: res.status, headers: [...res.headers.entries()], text: res.text, body: res.body });
  if (res.body && typeof res.body.key === 'string') {
    expect(res.body.key).toMatch(KEY_SHAPE);
    secrets.add(res.body.key);
  }
  return res;
}

async function create(body: Record<string, unknown>, as?: string): Promise<any> {
  const res = await call('POST', '/api/v1/api-keys', { body: { label: uniqueLabel('zz'), ...body }, auth: as });
  expect(res.status, res.text).toBe(201);
  return res.body;
}

/** The parts of a secret that must never leak: the whole key, its random part, its hash. */
function needles(): { what: string; needle: string }[] {
  const out: { what: string; needle: string }[] = [];
  for (const key of secrets) {
    out.push({ what: `plaintext ${key.slice(0, 12)}…`, needle: key });
    out.push({ what: `random part of ${key.slice(0, 12)}…`, needle: key.slice(12, 35) });
    out.push({ what: `sha256 of ${key.slice(0, 12)}…`, needle: sha256hex(key) });
  }
  return out;
}

function leaksIn(text: string, options: { allowHash?: boolean } = {}): string[] {
  return needles()
    .filter(({ what }) => !(options.allowHash && what.startsWith('sha256')))
    .filter(({ needle }) => text.includes(needle))
    .map(({ what }) => what);
}

beforeAll(async () => {
  server = await startTestServer({
    configure: (c) => {
      c.auth.failedAttemptsLimit = 100_000;
      c.auth.failureAuditWindowMs = 1000;
      c.auth.lastUsedWriteIntervalMs = 0;
    },
  });
});
afterAll(async () => {
  if (!closed) await server?.close();
});

describe('no plaintext key anywhere but the one-time `key` field', () => {
  it('runs the whole key lifecycle with failures of every kind', async () => {
    // --- creation, conflicts, validation -------------------------------------------------------
    const admin = await create({ scopes: ['admin'] });
    const manager = await create({ scopes: ['api-keys:manage', 'workflows:read', 'workflows:write', 'executions:write', 'executions:read', 'logs:read', 'audit:read'] });
    const scoped = await create({ scopes: ['workflows:read'], namespaces: ['team-a', 'ops.*'] }, manager.key);
    const label = uniqueLabel('zz-idem');
    const labelled = await create({ label, scopes: ['logs:read'] }, admin.key);
    expect((await call('POST', '/api/v1/api-keys', { body: { label, scopes: ['logs:read'], idempotent: true } })).status).toBe(200);
    expect((await call('POST', '/api/v1/api-keys', { body: { label, scopes: ['logs:read'] } })).status).toBe(409);
    expect((await call('POST', '/api/v1/api-keys', { body: { scopes: ['nope'] } })).status).toBe(400);
    expect((await call('POST', '/api/v1/api-keys', { body: { scopes: [] } })).status).toBe(400);
    expect((await call('POST', '/api/v1/api-keys', { body: { scopes: ['admin'] }, auth: manager.key })).status).toBe(403);
    expect((await call('POST', '/api/v1/api-keys', { body: { scopes: ['workflows:read'] }, auth: scoped.key })).status).toBe(403);

    // --- use every key, both headers, on several routes ----------------------------------------
    for (const k of [admin, manager, scoped, labelled]) {
      await call('GET', '/api/v1/status', { auth: k.key });
      await call('GET', '/api/v1/status', { headers: { 'x-api-key': k.key } });
      await call('GET', '/api/v1/workflows', { auth: k.key });
      await call('GET', '/api/v1/audit?limit=5', { auth: k.key });
    }
    const wf = uniqueId('zz-wf');
    expect((await call('PUT', `/api/v1/workflows/${wf}`, { raw: workflowYaml(wf, { namespace: 'team-a' }), contentType: 'application/yaml', auth: manager.key })).status).toBe(201);
    expect((await call('PUT', `/api/v1/workflows/${wf}`, { raw: workflowYaml(wf, { namespace: 'team-b' }), contentType: 'application/yaml', auth: scoped.key })).status).toBe(403);
    expect((await call('PATCH', `/api/v1/workflows/${wf}`, { body: { enabled: false }, auth: manager.key })).status).toBe(200);
    expect((await call('PATCH', `/api/v1/workflows/${wf}`, { body: { enabled: true }, auth: manager.key })).status).toBe(200);
    const triggered = await call('POST', `/api/v1/workflows/${wf}/executions`, { auth: manager.key, body: { labels: { who: manager.prefix } } });
    expect(triggered.status).toBe(202);
    await waitTerminal(server, triggered.body.id);
    await call('GET', `/api/v1/executions/${triggered.body.id}`, { auth: manager.key });
    await call('GET', `/api/v1/executions/${triggered.body.id}/logs`, { auth: manager.key });
    expect((await call('POST', `/api/v1/executions/${triggered.body.id}/cancel`, { auth: manager.key })).status).toBe(409);
    await call('GET', `/api/v1/workflows/${wf}`, { auth: scoped.key });
    expect((await call('DELETE', `/api/v1/workflows/${wf}`, { auth: manager.key })).status).toBe(204);

    // --- list, get, patch ----------------------------------------------------------------------
    await call('GET', '/api/v1/api-keys?limit=500');
    await call('GET', '/api/v1/api-keys?limit=500', { auth: manager.key });
    for (const k of [admin, manager, scoped, labelled]) await call('GET', `/api/v1/api-keys/${k.id}`);
    expect((await call('PATCH', `/api/v1/api-keys/${labelled.id}`, { body: { enabled: false } })).status).toBe(200);
    expect((await call('GET', '/api/v1/status', { auth: labelled.key })).status).toBe(401);
    expect((await call('PATCH', `/api/v1/api-keys/${labelled.id}`, { body: { enabled: true, label: uniqueLabel('zz-renamed'), expiresAt: new Date(Date.now() + 86_400_000).toISOString() } })).status).toBe(200);
    expect((await call('PATCH', `/api/v1/api-keys/${scoped.id}`, { body: { namespaces: null }, auth: scoped.key })).status).toBe(403);
    // an admin key lies outside a non-admin manager's authority: it does not exist for it
    expect((await call('PATCH', `/api/v1/api-keys/${admin.id}`, { body: { enabled: false }, auth: manager.key })).status).toBe(404);
    expect((await call('PATCH', `/api/v1/api-keys/${labelled.id}`, { body: { key: labelled.key } })).status).toBe(400);

    // --- rotation ------------------------------------------------------------------------------
    const hard = await call('POST', `/api/v1/api-keys/${scoped.id}/rotate`, { body: { graceSeconds: 0 }, auth: manager.key });
    expect(hard.status).toBe(201);
    expect((await call('GET', '/api/v1/status', { auth: scoped.key })).status).toBe(401);
    expect((await call('GET', '/api/v1/status', { auth: hard.body.key })).status).toBe(200);
    const soft = await call('POST', `/api/v1/api-keys/${labelled.id}/rotate`, { body: { graceSeconds: 60 } });
    expect(soft.status).toBe(201);
    expect((await call('GET', '/api/v1/status', { auth: labelled.key })).status).toBe(200);
    expect((await call('GET', '/api/v1/status', { auth: soft.body.key })).status).toBe(200);
    expect((await call('POST', `/api/v1/api-keys/${admin.id}/rotate`, { body: {}, auth: manager.key })).status).toBe(404);

    // --- expiry --------------------------------------------------------------------------------
    const expiring = await create({ scopes: ['logs:read'], expiresAt: new Date(Date.now() + 1000).toISOString() });
    expect((await call('GET', '/api/v1/status', { auth: expiring.key })).status).toBe(200);
    await sleep(1100);
    expect((await call('GET', '/api/v1/status', { auth: expiring.key })).status).toBe(401);

    // --- failures of every kind ----------------------------------------------------------------
    for (const k of [...secrets]) {
      const mistyped = k.slice(0, -1) + (k.at(-1) === 'A' ? 'B' : 'A');
      await call('GET', '/api/v1/status', { auth: mistyped });
      await call('GET', '/api/v1/status', { auth: k.slice(0, -3) });
      await call('GET', '/api/v1/status', { auth: `${k}x` });
      await call('GET', '/api/v1/status', { headers: { authorization: `Basic ${Buffer.from(`user:${k}`).toString('base64')}` } });
      await call('GET', '/api/v1/status', { headers: { authorization: `Token ${k}` } });
      await call('GET', `/api/v1/status?api_key=${k}`, { auth: false });
      await call('GET', `/api/v1/workflows?token=${k}&limit=1`);
    }
    for (let i = 0; i < 30; i++) await call('GET', '/api/v1/status', { auth: unknownWellFormedKey() });
    await call('GET', '/api/v1/status', { auth: false });

    // --- revocation ----------------------------------------------------------------------------
    for (const k of [labelled, expiring]) expect((await call('DELETE', `/api/v1/api-keys/${k.id}`)).status).toBe(204);
    expect((await call('GET', '/api/v1/status', { auth: labelled.key })).status).toBe(401);
    expect((await call('GET', '/api/v1/status', { auth: soft.body.key })).status).toBe(401);
    expect((await call('PATCH', `/api/v1/api-keys/${labelled.id}`, { body: { enabled: true } })).status).toBe(409);
    expect((await call('POST', `/api/v1/api-keys/${labelled.id}/rotate`, { body: {} })).status).toBe(409);
    await call('GET', `/api/v1/api-keys/${labelled.id}`);
    await call('GET', '/api/v1/api-keys?limit=500');

    expect(secrets.size).toBeGreaterThanOrEqual(7);
    // let the aggregated auth-failure events of the window be written
    await sleep(1300);
  });

  it('no response carries a plaintext key, a random part or a hash, except the one-time `key` field of creation and rotation', async () => {
    expect(recorded.length).toBeGreaterThan(100);
    const offenders: string[] = [];
    for (const r of recorded) {
      const { key: oneTime, ...rest } = r.body && typeof r.body === 'object' && !Array.isArray(r.body) ? r.body : ({} as any);
      const mayCarryKey = r.method === 'POST' && /^\/api\/v1\/api-keys(\/[^/]+\/rotate)?$/.test(r.path) && r.status === 201;
      if (oneTime !== undefined && !mayCarryKey) offenders.push(`${r.method} ${r.path} ${r.status}: has a \`key\` field`);
      const visible = r.body && typeof r.body === 'object' ? JSON.stringify(rest) : r.text;
      const leaks = [...leaksIn(visible), ...leaksIn(JSON.stringify(r.headers))];
      // the one-time key's own text, once removed, must not appear elsewhere in the raw text either
      if (mayCarryKey) leaks.push(...leaksIn(r.text.replace(oneTime, '<one-time key>')));
      else leaks.push(...leaksIn(r.text));
      if (leaks.length) offenders.push(`${r.method} ${r.path} ${r.status}: ${[...new Set(leaks)].join(', ')}`);
    }
    expect(offenders).toEqual([]);
  });

  it('no audit event (GET /api/v1/audit) carries a secret', async () => {
    const items: any[] = [];
    for (let offset = 0; ; offset += 500) {
      const res = await call('GET', `/api/v1/audit?limit=500&offset=${offset}`);
      expect(res.status).toBe(200);
      items.push(...res.body.items);
      if (!res.body.hasMore) break;
    }
    expect(items.length).toBeGreaterThan(20);
    expect(items.some((e) => e.action === 'auth.failure')).toBe(true);
    expect(items.some((e) => e.action === 'api_key.rotate')).toBe(true);
    const text = JSON.stringify(items);
    expect(leaksIn(text)).toEqual([]);
    expect(text).not.toMatch(/ak_[0-9A-Za-z]{38}/);
  });

  it('nothing in the captured server log, the audit_events table or the api_keys table (hashes only in key_hash)', async () => {
    closed = true;
    // shutdown writes the last audit events and flushes the log
    await server.close();
    const logs = await server.logs();
    expect(logs.length).toBeGreaterThan(1000);
    expect(leaksIn(logs)).toEqual([]);
    expect(logs).not.toMatch(/ak_[0-9A-Za-z]{38}/);

    const audit = await dumpTable(server.databaseUrl, 'audit_events');
    expect(audit.length).toBeGreaterThan(0);
    expect(leaksIn(audit)).toEqual([]);
    expect(audit).not.toMatch(/ak_[0-9A-Za-z]{38}/);

    // api_keys: no plaintext, no random part; a hash only in key_hash / previous_key_hash
    const rows = await tableRows(server.databaseUrl, 'api_keys');
    const keyTable = rows.map((row) => Object.values(row).map(String).join('\u0001')).join('\n');
    expect(leaksIn(keyTable, { allowHash: true })).toEqual([]);
    const hashColumns = new Set(['key_hash', 'previous_key_hash']);
    const hashes = new Set([...secrets].map(sha256hex));
    for (const row of rows) {
      for (const [column, value] of Object.entries(row)) {
        if (hashColumns.has(column)) continue;
        for (const hash of hashes) expect(String(value), `api_keys.${column}`).not.toContain(hash);
      }
    }
  });
});
