/**
 * `autokestra api-keys create|list|revoke|rotate`, the start-up check (a static key or an active
 * managed key), CLI audit events (actor 'cli') and `quickstart` (issue 4). Runs the BUILT CLI
 * (dist/cli.js): `npm run build` first.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, runCli, spawnServe, type ServeProcess } from '../support/cli';
import { legDatabaseUrl, PG_LEG } from '../support/postgres';
import { sleep, startTestServer, TEST_CONFIG, tempDir, type TestServer } from '../support/server';
import { KEY_IN_TEXT, KEY_SHAPE, tableRows, waitForAudit } from './access-helpers';
import { expectError, sha256hex, uniqueId, workflowYaml } from './helpers';
import { httpClient } from './engine-helpers';

/** A fresh store for the CLI: a SQLite file in a new directory, or (PG leg) a new PostgreSQL database. */
async function freshDb(prefix: string, file: string): Promise<string> {
  const dir = tempDir(prefix);
  return PG_LEG ? legDatabaseUrl(dir) : join(dir, file);
}

/** The CLI against one database (file or PostgreSQL URL), with no static key anywhere. */
function cliEnv(db: string): Record<string, string | undefined> {
  return { AUTOKESTRA_CONFIG: TEST_CONFIG, AUTOKESTRA_API_KEYS: undefined, AUTOKESTRA_DATABASE_URL: db };
}

/** `api-keys list` prints one pretty JSON object per key. */
function parseObjects(stdout: string): any[] {
  const text = stdout.trim();
  if (!text) return [];
  return JSON.parse(`[${text.replace(/\n}\n{/g, '\n},\n{')}]`);
}

async function cliCreate(db: string, args: string[]): Promise<any> {
  const res = await runCli(['api-keys', 'create', ...args], cliEnv(db));
  expect(res.code, res.stderr).toBe(0);
  const printed = JSON.parse(res.stdout);
  expect(printed.key).toMatch(KEY_SHAPE);
  return printed;
}

describe('autokestra api-keys (no server)', () => {
  let db: string;

  beforeAll(async () => {
    db = await freshDb('autokestra-keys-cli-', 'keys.db');
  });

  it('create prints the key once as JSON, with a warning on stderr, and stores only its SHA-256', async () => {
    const label = uniqueId('cli-label');
    const res = await runCli(['api-keys', 'create', '--label', label, '--scopes', 'workflows:read,executions:read'], cliEnv(db));
    expect(res.code, res.stderr).toBe(0);
    const printed = JSON.parse(res.stdout);
    expect(printed.key).toMatch(KEY_SHAPE);
    expect(printed).toMatchObject({ label, scopes: ['workflows:read', 'executions:read'], namespaces: null, enabled: true, revokedAt: null });
    expect(printed.prefix).toBe(printed.key.slice(0, 12));
    expect(res.stdout.match(KEY_IN_TEXT)).toHaveLength(1);
    expect(res.stderr).toMatch(/not shown again/i);
    expect(res.stderr).not.toContain(printed.key);
    expect(JSON.stringify(printed)).not.toMatch(/hash/i);
    const rows = await tableRows(db, 'api_keys');
    const row = rows.find((r) => r.id === printed.id)!;
    expect(row.key_hash).toBe(sha256hex(printed.key));
    expect(JSON.stringify(rows)).not.toContain(printed.key);
  });

  it('create --namespaces and --expires-in 30d set the allow-list and an expiry 30 days ahead', async () => {
    const before = Date.now();
    const printed = await cliCreate(db, ['--label', uniqueId('cli-ns'), '--scopes', 'logs:read', '--namespaces', 'team-a,ops.*', '--expires-in', '30d']);
    expect(printed.namespaces).toEqual(['team-a', 'ops.*']);
    const expiresAt = typeof printed.expiresAt === 'number' ? printed.expiresAt : Date.parse(printed.expiresAt);
    expect(expiresAt).toBeGreaterThanOrEqual(before + 30 * 86_400_000 - 1000);
    expect(expiresAt).toBeLessThanOrEqual(Date.now() + 30 * 86_400_000 + 1000);
  });

  it('create --rate-limit 100/1m stores the key\'s own request limit and prints it as {requests, window}', async () => {
    const printed = await cliCreate(db, ['--label', uniqueId('cli-limit'), '--scopes', 'logs:read', '--rate-limit', '100/60s']);
    expect(printed.rateLimit).toEqual({ requests: 100, window: '1m' });
    const row = (await tableRows(db, 'api_keys')).find((r) => r.id === printed.id)!;
    expect(JSON.parse(String(row.rate_limit))).toEqual({ requests: 100, windowSeconds: 60 });
    const plain = await cliCreate(db, ['--label', uniqueId('cli-nolimit'), '--scopes', 'logs:read']);
    expect(plain.rateLimit).toBeNull();
  });

  it('list prints every key without any plaintext or hash', async () => {
    const a = await cliCreate(db, ['--label', uniqueId('cli-list'), '--scopes', 'audit:read']);
    const res = await runCli(['api-keys', 'list'], cliEnv(db));
    expect(res.code, res.stderr).toBe(0);
    const items = parseObjects(res.stdout);
    expect(items.length).toBeGreaterThanOrEqual(3);
    expect(items.some((k) => k.id === a.id && k.prefix === a.prefix && k.label === a.label)).toBe(true);
    for (const item of items) expect(item.key).toBeUndefined();
    expect(res.stdout).not.toMatch(KEY_IN_TEXT);
    expect(res.stdout).not.toMatch(/[0-9a-f]{64}/);
    expect(res.stdout).not.toContain(a.key);
  });

  it.each([
    ['an unknown scope', ['--scopes', 'workflows:read,root']],
    ['an empty scope list', ['--scopes', ',']],
    ['a bad --expires-in', ['--scopes', 'logs:read', '--expires-in', 'soon']],
    ['a bad namespace', ['--scopes', 'logs:read', '--namespaces', 'not a namespace']],
    ['a --rate-limit without a window', ['--scopes', 'logs:read', '--rate-limit', '100']],
    ['a --rate-limit of 0 requests', ['--scopes', 'logs:read', '--rate-limit', '0/1m']],
    ['a --rate-limit with a sub-second window', ['--scopes', 'logs:read', '--rate-limit', '10/500ms']],
  ])('create refuses %s: non-zero exit, a message, no key printed, nothing stored', async (_name, args) => {
    const label = uniqueId('cli-bad');
    const res = await runCli(['api-keys', 'create', '--label', label, ...args], cliEnv(db));
    expect(res.code, res.stdout).not.toBe(0);
    expect(res.stderr.length).toBeGreaterThan(0);
    expect(res.stdout + res.stderr).not.toMatch(KEY_IN_TEXT);
    expect(res.stderr).not.toMatch(/\n\s+at\s+\S+.*\.(js|ts):\d+/);
    // SQLite: a refused first command may not even have created the file (PG: the database exists)
    if (PG_LEG || existsSync(db)) expect((await tableRows(db, 'api_keys')).some((r) => r.label === label)).toBe(false);
  });

  it('create refuses a taken label with CONFLICT and prints no key', async () => {
    const label = uniqueId('cli-dup');
    await cliCreate(db, ['--label', label, '--scopes', 'logs:read']);
    const res = await runCli(['api-keys', 'create', '--label', label, '--scopes', 'logs:read'], cliEnv(db));
    expect(res.code).not.toBe(0);
    expect(res.stderr).toMatch(/CONFLICT/);
    expect(res.stdout).not.toMatch(KEY_IN_TEXT);
    expect((await tableRows(db, 'api_keys')).filter((r) => r.label === label)).toHaveLength(1);
  });

  it('revoke ID marks the key revoked and keeps the row', async () => {
    const printed = await cliCreate(db, ['--label', uniqueId('cli-revoke'), '--scopes', 'logs:read']);
    const res = await runCli(['api-keys', 'revoke', printed.id], cliEnv(db));
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toContain(printed.id);
    expect(res.stdout).toContain(printed.prefix);
    expect(res.stdout).not.toContain(printed.key);
    const row = (await tableRows(db, 'api_keys')).find((r) => r.id === printed.id)!;
    expect(row.revoked_at).not.toBeNull();
    expect(Number(row.enabled)).toBe(0);
  });

  it('revoke of an unknown id exits non-zero with NOT_FOUND', async () => {
    const res = await runCli(['api-keys', 'revoke', uniqueId('nokey')], cliEnv(db));
    expect(res.code).not.toBe(0);
    expect(res.stderr).toMatch(/NOT_FOUND/);
  });

  it('rotate ID prints a new key once and stores only its hash', async () => {
    const printed = await cliCreate(db, ['--label', uniqueId('cli-rotate'), '--scopes', 'logs:read']);
    const res = await runCli(['api-keys', 'rotate', printed.id], cliEnv(db));
    expect(res.code, res.stderr).toBe(0);
    const rotated = JSON.parse(res.stdout);
    expect(rotated.id).toBe(printed.id);
    expect(rotated.key).toMatch(KEY_SHAPE);
    expect(rotated.key).not.toBe(printed.key);
    expect(res.stdout.match(KEY_IN_TEXT)).toHaveLength(1);
    const row = (await tableRows(db, 'api_keys')).find((r) => r.id === printed.id)!;
    expect(row.key_hash).toBe(sha256hex(rotated.key));
    expect(JSON.stringify(row)).not.toContain(rotated.key);
  });
});

describe('CLI and a running server on the same database (auth.keyCacheTtlMs: 500)', () => {
  let server: TestServer;
  let db: string;

  beforeAll(async () => {
    server = await startTestServer({ configure: (c) => (c.auth.keyCacheTtlMs = 500) });
    db = server.databaseUrl;
  });
  afterAll(async () => {
    await server?.close();
  });

  async function rejectedWithin(key: string, ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    for (;;) {
      const res = await server.request('GET', '/api/v1/status', { auth: key });
      if (res.status === 401) {
        expectError(res, 401, 'INVALID_API_KEY');
        return;
      }
      expect(res.status).toBe(200);
      if (Date.now() > deadline) throw new Error(`the server still accepts the key ${ms} ms after the CLI change`);
      await sleep(25);
    }
  }

  it('a key minted by the CLI authenticates on the server with its scopes, and the audit names the actor "cli"', async () => {
    const printed = await cliCreate(db, ['--label', uniqueId('cli-live'), '--scopes', 'workflows:read']);
    expect((await server.request('GET', '/api/v1/workflows', { auth: printed.key })).status).toBe(200);
    expectError(await server.request('GET', '/api/v1/audit', { auth: printed.key }), 403, 'FORBIDDEN');
    const events = await waitForAudit(server, 'actor=cli&action=api_key.create', (items) => items.some((e) => e.resourceId === printed.id));
    const event = events.find((e) => e.resourceId === printed.id);
    expect(event).toMatchObject({ actor: 'cli', action: 'api_key.create', resourceType: 'api-key', outcome: 'success' });
    expect(JSON.stringify(event)).not.toContain(printed.key);
  });

  it('revoke via the CLI: the server rejects the key within about a second, and the audit records it as "cli"', async () => {
    const printed = await cliCreate(db, ['--label', uniqueId('cli-live-revoke'), '--scopes', 'logs:read']);
    expect((await server.request('GET', '/api/v1/status', { auth: printed.key })).status).toBe(200);
    const res = await runCli(['api-keys', 'revoke', printed.id], cliEnv(db));
    expect(res.code, res.stderr).toBe(0);
    await rejectedWithin(printed.key, 1500);
    const events = await waitForAudit(server, 'actor=cli&action=api_key.revoke', (items) => items.some((e) => e.resourceId === printed.id));
    expect(events.some((e) => e.resourceId === printed.id)).toBe(true);
  });

  it('rotate --grace 5 keeps the old key working; rotate (no grace) stops it within about a second', async () => {
    const printed = await cliCreate(db, ['--label', uniqueId('cli-live-rotate'), '--scopes', 'logs:read']);
    const graceful = await runCli(['api-keys', 'rotate', printed.id, '--grace', '5'], cliEnv(db));
    expect(graceful.code, graceful.stderr).toBe(0);
    const second = JSON.parse(graceful.stdout).key;
    await sleep(600);
    expect((await server.request('GET', '/api/v1/status', { auth: printed.key })).status).toBe(200);
    expect((await server.request('GET', '/api/v1/status', { auth: second })).status).toBe(200);
    const hard = await runCli(['api-keys', 'rotate', printed.id], cliEnv(db));
    expect(hard.code, hard.stderr).toBe(0);
    const third = JSON.parse(hard.stdout).key;
    await rejectedWithin(second, 1500);
    await rejectedWithin(printed.key, 1500);
    expect((await server.request('GET', '/api/v1/status', { auth: third })).status).toBe(200);
    const events = await waitForAudit(server, 'actor=cli&action=api_key.rotate', (items) => items.filter((e) => e.resourceId === printed.id).length >= 2);
    expect(events.filter((e) => e.resourceId === printed.id)).toHaveLength(2);
  });

  it('workflows applied with the CLI are audited with actor "cli"', async () => {
    const id = uniqueId('cli-wf');
    const file = join(server.dir, `${id}.yaml`);
    writeFileSync(file, workflowYaml(id, { namespace: 'team-cli' }));
    const res = await runCli(['workflows', 'apply', file], cliEnv(db));
    expect(res.code, res.stderr).toBe(0);
    const events = await waitForAudit(server, 'actor=cli&action=workflow.apply', (items) => items.some((e) => e.resourceId === id));
    expect(events.find((e) => e.resourceId === id)).toMatchObject({ actor: 'cli', namespace: 'team-cli', resourceType: 'workflow' });
  });

  it('executions triggered with the CLI are audited (execution.trigger, actor "cli")', async () => {
    const id = uniqueId('cli-exec');
    const put = await server.request('PUT', `/api/v1/workflows/${id}`, { raw: workflowYaml(id), contentType: 'application/yaml' });
    expect(put.status).toBe(201);
    const res = await runCli(['executions', 'start', id], cliEnv(db));
    expect(res.code, res.stderr).toBe(0);
    const execution = JSON.parse(res.stdout);
    const events = await waitForAudit(server, 'actor=cli&action=execution.trigger', (items) => items.some((e) => e.resourceId === execution.id), 3000);
    expect(events.find((e) => e.resourceId === execution.id), `no execution.trigger event for ${execution.id} (CLI)`).toMatchObject({
      actor: 'cli',
      resourceType: 'execution',
      namespace: 'default',
    });
  });

  it('executions cancelled with the CLI are audited (execution.cancel, actor "cli")', async () => {
    const id = uniqueId('cli-cancel');
    await server.request('PUT', `/api/v1/workflows/${id}`, { raw: `id: ${id}\ntasks:\n  - {id: nap, type: sleep, duration: 30s}\n`, contentType: 'application/yaml' });
    const started = await server.request('POST', `/api/v1/workflows/${id}/executions`);
    expect(started.status).toBe(202);
    const res = await runCli(['executions', 'cancel', started.body.id], cliEnv(db));
    expect(res.code, res.stderr).toBe(0);
    const events = await waitForAudit(server, 'actor=cli&action=execution.cancel', (items) => items.some((e) => e.resourceId === started.body.id), 3000);
    expect(events.find((e) => e.resourceId === started.body.id), `no execution.cancel event for ${started.body.id} (CLI)`).toMatchObject({ actor: 'cli', resourceType: 'execution' });
  });
});

describe.concurrent('autokestra serve without a static key', () => {
  const killers: ChildProcess[] = [];
  afterAll(() => {
    for (const child of killers) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });

  it('refuses to start with no static key and no managed key, naming both ways to fix it', async () => {
    const db = await freshDb('autokestra-nokey-', 'none.db');
    for (const apiKeys of [undefined, '']) {
      const res = await runCli(['serve'], { ...cliEnv(db), AUTOKESTRA_API_KEYS: apiKeys });
      expect(res.code, res.stderr).not.toBe(0);
      expect(res.code).not.toBeNull();
      expect(res.stderr).toContain('api-keys create');
      expect(res.stderr).toContain('AUTOKESTRA_API_KEYS');
      expect(res.stdout).not.toMatch(/listening/);
      expect(res.stderr).not.toMatch(/\n\s+at\s+\S+.*\.(js|ts):\d+/);
    }
  });

  it('refuses to start when the only managed key is revoked', async () => {
    const db = await freshDb('autokestra-revoked-', 'revoked.db');
    const printed = await cliCreate(db, ['--label', 'only', '--scopes', 'admin']);
    expect((await runCli(['api-keys', 'revoke', printed.id], cliEnv(db))).code).toBe(0);
    const res = await runCli(['serve'], cliEnv(db));
    expect(res.code, res.stdout).not.toBe(0);
    expect(res.stderr).toContain('api-keys create');
  });

  it('refuses to start when the only managed key has expired', async () => {
    const db = await freshDb('autokestra-expired-', 'expired.db');
    await cliCreate(db, ['--label', 'short-lived', '--scopes', 'admin', '--expires-in', '1s']);
    await sleep(1100);
    const res = await runCli(['serve'], cliEnv(db));
    expect(res.code, res.stdout).not.toBe(0);
    expect(res.stderr).toContain('api-keys create');
  });

  it('starts after `api-keys create` with no static key configured, and the managed key works over HTTP', async () => {
    const db = await freshDb('autokestra-managed-serve-', 'managed.db');
    const printed = await cliCreate(db, ['--label', 'first-admin', '--scopes', 'admin']);
    const serve: ServeProcess = await spawnServe({ ...cliEnv(db), AUTOKESTRA_API_KEYS: '' });
    killers.push(serve.child);
    const api = httpClient(serve.url, printed.key);
    const status = await api.request('GET', '/api/v1/status');
    expect(status.status, status.text).toBe(200);
    expect(status.body.state).toBe('ready');
    expectError(await api.request('GET', '/api/v1/status', { auth: false }), 401, 'MISSING_API_KEY');
    const created = await api.request('POST', '/api/v1/api-keys', { body: { label: 'second', scopes: ['logs:read'] } });
    expect(created.status, created.text).toBe(201);
    expect(created.body.key).toMatch(KEY_SHAPE);
    expect(serve.output()).not.toContain(printed.key);
    expect(serve.output()).not.toContain(created.body.key);
    serve.child.kill('SIGTERM');
    await new Promise((resolve) => serve.child.once('exit', resolve));
  });
});

describe('autokestra quickstart', () => {
  interface Running {
    child: ChildProcess;
    url: string;
    output: () => string;
  }

  /** `databaseUrl` '' = quickstart's default, ./data/autokestra.db (the PG leg passes its database) */
  function quickstart(cwd: string, databaseUrl: string): Promise<Running> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [CLI, 'quickstart'], {
        cwd,
        env: { ...process.env, AUTOKESTRA_CONFIG: '', AUTOKESTRA_API_KEYS: '', AUTOKESTRA_PORT: '0', AUTOKESTRA_HOST: '127.0.0.1', AUTOKESTRA_DATABASE_URL: databaseUrl },
      });
      let out = '';
      const onData = (d: Buffer) => {
        out += d.toString();
        const match = /listening on (http:\/\/[^\s]+)/.exec(out);
        if (match) resolve({ child, url: match[1], output: () => out });
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', onData);
      child.on('exit', (code) => reject(new Error(`quickstart exited with ${code}: ${out}`)));
      setTimeout(() => reject(new Error(`quickstart did not start: ${out}`)), 30_000);
    });
  }

  async function stop(running: Running): Promise<void> {
    if (running.child.exitCode !== null || running.child.signalCode !== null) return;
    const exited = new Promise((resolve) => running.child.once('exit', resolve));
    running.child.kill('SIGTERM');
    await Promise.race([exited, sleep(10_000)]);
    if (running.child.exitCode === null && running.child.signalCode === null) running.child.kill('SIGKILL');
  }

  it('mints a managed admin key on the first run (printed, working), and none on the second', async () => {
    const cwd = tempDir('autokestra-quickstart-');
    mkdirSync(join(cwd, 'data'), { recursive: true });
    const databaseUrl = PG_LEG ? await legDatabaseUrl(cwd) : '';
    const first = await quickstart(cwd, databaseUrl);
    let key: string;
    try {
      const keys = [...new Set(first.output().match(KEY_IN_TEXT) ?? [])];
      expect(keys, first.output()).toHaveLength(1);
      key = keys[0];
      const api = httpClient(first.url, key);
      const status = await api.request('GET', '/api/v1/status');
      expect(status.status, status.text).toBe(200);
      const admin = await api.request('GET', '/api/v1/audit?limit=1');
      expect(admin.status, 'the quickstart key holds admin').toBe(200);
      // the key is never in a structured log line
      for (const line of first.output().split('\n').filter((l) => l.startsWith('{'))) expect(line).not.toContain(key);
    } finally {
      await stop(first);
    }
    const db = PG_LEG ? databaseUrl : join(cwd, 'data', 'autokestra.db');
    if (!PG_LEG) expect(existsSync(db)).toBe(true);
    expect(JSON.stringify(await tableRows(db, 'api_keys'))).not.toContain(key!);

    const second = await quickstart(cwd, databaseUrl);
    try {
      expect(second.output()).not.toMatch(KEY_IN_TEXT);
      expect(second.output()).toMatch(/already exists|no new key/i);
      const status = await httpClient(second.url, key!).request('GET', '/api/v1/status');
      expect(status.status, status.text).toBe(200);
    } finally {
      await stop(second);
    }
    expect(await tableRows(db, 'api_keys')).toHaveLength(1);
  }, 90_000);
});
