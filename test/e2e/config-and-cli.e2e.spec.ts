/**
 * Runs the BUILT command line (dist/cli.js): `npm run build` first (`npm test` does).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, spawnServe, type ServeProcess } from '../support/cli';
import { randomKey, startTestServer, TEST_CONFIG, tempDir, type TestServer } from '../support/server';
import { expectError, sha256hex, workflowYaml } from './helpers';

const FIXTURES = join(__dirname, '..', 'fixtures', 'workflows');

/** Problem lines of a ConfigError: "  - <problem>". */
function problemLines(stderr: string): string[] {
  return stderr.split('\n').filter((line) => line.startsWith('  - '));
}

function expectNoStackTrace(output: string): void {
  expect(output).not.toMatch(/\n\s+at\s+\S+.*\.(js|ts):\d+/);
}

describe.concurrent('fail-fast start (autokestra serve)', () => {
  let dir: string;
  let db: string;

  beforeAll(() => {
    dir = tempDir('autokestra-cli-');
    db = join(dir, 'never-created.db');
  });

  it('refuses to start without any API key, exits non-zero and says how to configure one (AUTOKESTRA_API_KEYS)', async () => {
    const res = await runCli(['serve'], { AUTOKESTRA_CONFIG: TEST_CONFIG, AUTOKESTRA_API_KEYS: undefined, AUTOKESTRA_DATABASE_URL: db });
    expect(res.code, res.stderr).not.toBe(0);
    expect(res.code).not.toBeNull();
    expect(res.stderr).toContain('AUTOKESTRA_API_KEYS');
    expect(res.stderr).toMatch(/server\.apiKeys|config\.yaml/);
    expect(res.stdout).not.toMatch(/listening/);
    expectNoStackTrace(res.stderr);
    expect(existsSync(db)).toBe(false);
  });

  it('refuses to start when AUTOKESTRA_API_KEYS is set but empty', async () => {
    const res = await runCli(['serve'], { AUTOKESTRA_CONFIG: TEST_CONFIG, AUTOKESTRA_API_KEYS: ' , ', AUTOKESTRA_DATABASE_URL: db });
    expect(res.code, res.stderr).not.toBe(0);
    expect(res.stderr).toContain('AUTOKESTRA_API_KEYS');
    expect(existsSync(db)).toBe(false);
  });

  it('refuses a plaintext key shorter than 32 characters with a message that does not echo the key', async () => {
    const short = 'short-key-0123456789';
    const res = await runCli(['serve'], { AUTOKESTRA_CONFIG: TEST_CONFIG, AUTOKESTRA_API_KEYS: short, AUTOKESTRA_DATABASE_URL: db });
    expect(res.code, res.stderr).not.toBe(0);
    const lines = problemLines(res.stderr);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/32/);
    expect(lines[0]).toMatch(/apiKeys\[0\]/);
    expect(res.stderr + res.stdout).not.toContain(short);
    expect(existsSync(db)).toBe(false);
  });

  it('refuses a 31-character key but names only the bad entry when another key is fine', async () => {
    const good = randomKey();
    const res = await runCli(['serve'], { AUTOKESTRA_CONFIG: TEST_CONFIG, AUTOKESTRA_API_KEYS: `${good},${'k'.repeat(31)}`, AUTOKESTRA_DATABASE_URL: db });
    expect(res.code, res.stderr).not.toBe(0);
    const lines = problemLines(res.stderr);
    expect(lines, res.stderr + res.stdout).toHaveLength(1);
    expect(lines[0]).toMatch(/apiKeys\[1\]/);
    expect(res.stderr).not.toContain(good);
  });

  it('refuses a malformed sha256: entry', async () => {
    const res = await runCli(['serve'], { AUTOKESTRA_CONFIG: TEST_CONFIG, AUTOKESTRA_API_KEYS: 'sha256:not-hex', AUTOKESTRA_DATABASE_URL: db });
    expect(res.code, res.stderr).not.toBe(0);
    const lines = problemLines(res.stderr);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/sha256/);
  });

  it('refuses AUTOKESTRA_PORT=abc with one line naming the variable', async () => {
    const res = await runCli(['serve'], { AUTOKESTRA_CONFIG: TEST_CONFIG, AUTOKESTRA_API_KEYS: randomKey(), AUTOKESTRA_PORT: 'abc', AUTOKESTRA_DATABASE_URL: db });
    expect(res.code, res.stderr).not.toBe(0);
    const lines = problemLines(res.stderr);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('AUTOKESTRA_PORT');
    expect(lines[0]).toContain('abc');
    expect(existsSync(db)).toBe(false);
  });

  it('refuses PORT=abc (the fallback variable) with one line naming PORT', async () => {
    const res = await runCli(['serve'], { AUTOKESTRA_CONFIG: TEST_CONFIG, AUTOKESTRA_API_KEYS: randomKey(), AUTOKESTRA_PORT: undefined, PORT: 'abc', AUTOKESTRA_DATABASE_URL: db });
    expect(res.code, res.stderr).not.toBe(0);
    const lines = problemLines(res.stderr);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/\bPORT\b/);
  });

  it('refuses a config file with an unknown setting, naming the setting', async () => {
    const file = join(dir, 'unknown.yaml');
    writeFileSync(file, 'server:\n  prot: 8080\n');
    const res = await runCli(['--config', file, 'serve'], { AUTOKESTRA_API_KEYS: randomKey(), AUTOKESTRA_DATABASE_URL: db });
    expect(res.code, res.stderr).not.toBe(0);
    const lines = problemLines(res.stderr);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('server.prot');
    expect(lines[0]).toMatch(/unknown/i);
    expect(existsSync(db)).toBe(false);
  });

  it('refuses a config file with a wrong-typed setting in exactly one line for that setting', async () => {
    const file = join(dir, 'wrong-type.yaml');
    writeFileSync(file, 'server:\n  port: "abc"\n');
    const res = await runCli(['--config', file, 'serve'], { AUTOKESTRA_API_KEYS: randomKey(), AUTOKESTRA_DATABASE_URL: db });
    expect(res.code, res.stderr).not.toBe(0);
    const lines = problemLines(res.stderr);
    expect(lines.filter((l) => l.includes('server.port')), res.stderr).toHaveLength(1);
    expect(lines).toHaveLength(1);
  });

  it('reports every invalid setting of a config file at once, one line per problem (via AUTOKESTRA_CONFIG)', async () => {
    const file = join(dir, 'many.yaml');
    writeFileSync(file, ['server:', '  bogus: 1', '  bodyLimitBytes: 12', 'logging:', '  level: loud', 'nonsense: true', ''].join('\n'));
    const res = await runCli(['serve'], { AUTOKESTRA_CONFIG: file, AUTOKESTRA_API_KEYS: randomKey(), AUTOKESTRA_DATABASE_URL: db });
    expect(res.code, res.stderr).not.toBe(0);
    const lines = problemLines(res.stderr);
    expect(lines.some((l) => l.includes('server.bogus'))).toBe(true);
    expect(lines.some((l) => l.includes('server.bodyLimitBytes'))).toBe(true);
    expect(lines.some((l) => l.includes('logging.level'))).toBe(true);
    expect(lines.some((l) => l.includes('nonsense'))).toBe(true);
    expect(lines).toHaveLength(4);
    expectNoStackTrace(res.stderr);
  });

  it('refuses a config file that is not valid YAML, naming the file', async () => {
    const file = join(dir, 'broken.yaml');
    writeFileSync(file, 'server: [\n');
    const res = await runCli(['--config', file, 'serve'], { AUTOKESTRA_API_KEYS: randomKey(), AUTOKESTRA_DATABASE_URL: db });
    expect(res.code, res.stderr).not.toBe(0);
    const lines = problemLines(res.stderr);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(file);
  });

  it('refuses a config file that does not exist, naming the file', async () => {
    const file = join(dir, 'missing.yaml');
    const res = await runCli(['--config', file, 'serve'], { AUTOKESTRA_API_KEYS: randomKey(), AUTOKESTRA_DATABASE_URL: db });
    expect(res.code, res.stderr).not.toBe(0);
    expect(problemLines(res.stderr)[0]).toContain(file);
    expect(existsSync(db)).toBe(false);
  });
});

describe('autokestra serve (real process)', () => {
  let serve: ServeProcess | undefined;
  const key = randomKey();
  let dir: string;

  beforeAll(async () => {
    dir = tempDir('autokestra-serve-');
    const config = join(dir, 'config.yaml');
    // the test profile plus a drain delay long enough to observe readiness turning 503
    writeFileSync(config, 'server:\n  host: 127.0.0.1\n  port: 0\n  drainDelayMs: 1500\nlogging:\n  level: silent\n');
    serve = await spawnServe(
      {
        AUTOKESTRA_API_KEYS: `sha256:${sha256hex(key)}`,
        AUTOKESTRA_DATABASE_URL: join(dir, 'serve.db'),
      },
      ['--config', config],
    );
  });
  afterAll(() => {
    if (serve && serve.child.exitCode === null && serve.child.signalCode === null) serve.child.kill('SIGKILL');
  });

  it('serves health publicly and the API with a sha256-configured key, and applies workflows', async () => {
    const ready = await fetch(`${serve!.url}/health/ready`);
    expect(ready.status).toBe(200);
    const denied = await fetch(`${serve!.url}/api/v1/status`);
    expect(denied.status).toBe(401);
    expect(((await denied.json()) as any).error.code).toBe('MISSING_API_KEY');
    const status = await fetch(`${serve!.url}/api/v1/status`, { headers: { authorization: `Bearer ${key}` } });
    expect(status.status).toBe(200);
    expect(((await status.json()) as any).state).toBe('ready');
    const put = await fetch(`${serve!.url}/api/v1/workflows/served`, {
      method: 'PUT',
      headers: { 'x-api-key': key, 'content-type': 'application/yaml' },
      body: workflowYaml('served'),
    });
    expect(put.status).toBe(201);
  });

  it('drains on SIGTERM: readiness 503 NOT_READY first while requests are still served, then the process ends and the data is on disk', async () => {
    const child = serve!.child;
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.once('exit', (code, signal) => resolve({ code, signal })),
    );
    child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    const ready = await fetch(`${serve!.url}/health/ready`);
    expect(ready.status).toBe(503);
    expect(((await ready.json()) as any).error.code).toBe('NOT_READY');
    const live = await fetch(`${serve!.url}/health/live`);
    expect(live.status).toBe(200);
    const got = await fetch(`${serve!.url}/api/v1/workflows/served`, { headers: { authorization: `Bearer ${key}` } });
    expect(got.status).toBe(200);

    const result = await Promise.race([exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 15_000))]);
    expect(result, serve!.output()).not.toBe('timeout');
    // Nest re-raises the signal after closing: either a clean 0 or "terminated by SIGTERM"
    const { code, signal } = result as { code: number | null; signal: NodeJS.Signals | null };
    expect(code === 0 || signal === 'SIGTERM', `code ${code} signal ${signal}: ${serve!.output()}`).toBe(true);
    await expect(fetch(`${serve!.url}/health/live`)).rejects.toThrow();
    const cli = await runCli(['workflows', 'get', 'served'], { AUTOKESTRA_DATABASE_URL: join(dir, 'serve.db') });
    expect(cli.code, cli.stderr).toBe(0);
    expect(JSON.parse(cli.stdout)).toMatchObject({ id: 'served', revision: 1 });
  });
});

describe('autokestra migrate and workflows commands', () => {
  let dir: string;
  let env: Record<string, string>;

  beforeAll(() => {
    dir = tempDir('autokestra-cli-');
    env = { AUTOKESTRA_DATABASE_URL: join(dir, 'cli.db') };
  });

  it('migrate creates the schema, and running it again is a no-op (idempotent)', async () => {
    const first = await runCli(['migrate'], env);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/applied/i);
    expect(existsSync(env.AUTOKESTRA_DATABASE_URL)).toBe(true);
    const second = await runCli(['migrate'], env);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toMatch(/up to date/i);
    const list = await runCli(['workflows', 'list'], env);
    expect(list.code, list.stderr).toBe(0);
    expect(JSON.parse(list.stdout)).toEqual({ items: [], hasMore: false });
  });

  it('workflows apply creates, then updates with a new revision; get and list print JSON', async () => {
    const file = join(dir, 'cli-flow.yaml');
    writeFileSync(file, workflowYaml('cli-flow', { namespace: 'team.cli', description: 'from the CLI' }));
    const created = await runCli(['workflows', 'apply', file], env);
    expect(created.code, created.stderr).toBe(0);
    expect(created.stdout).toMatch(/created cli-flow \(revision 1\)/);

    const v2 = workflowYaml('cli-flow', { namespace: 'team.cli', description: 'from the CLI', message: 'v2' });
    writeFileSync(file, v2);
    const updated = await runCli(['workflows', 'apply', file], env);
    expect(updated.code, updated.stderr).toBe(0);
    expect(updated.stdout).toMatch(/updated cli-flow \(revision 2\)/);

    const got = await runCli(['workflows', 'get', 'cli-flow'], env);
    expect(got.code, got.stderr).toBe(0);
    const record = JSON.parse(got.stdout);
    expect(record).toMatchObject({ id: 'cli-flow', namespace: 'team.cli', description: 'from the CLI', enabled: true, revision: 2, source: v2 });
    expect(record.definition.tasks[0].message).toBe('v2');

    const list = await runCli(['workflows', 'list', '--namespace', 'team.cli'], env);
    expect(list.code, list.stderr).toBe(0);
    const page = JSON.parse(list.stdout);
    expect(page.items.map((w: { id: string }) => w.id)).toEqual(['cli-flow']);
    expect(page.items[0]).not.toHaveProperty('source');
    expect(page.hasMore).toBe(false);
  });

  it('workflows list honours --limit and --offset', async () => {
    for (const id of ['cli-page-a', 'cli-page-b']) {
      const file = join(dir, `${id}.yaml`);
      writeFileSync(file, workflowYaml(id, { namespace: 'team.page' }));
      expect((await runCli(['workflows', 'apply', file], env)).code).toBe(0);
    }
    const first = JSON.parse((await runCli(['workflows', 'list', '--namespace', 'team.page', '--limit', '1'], env)).stdout);
    expect(first.items.map((w: { id: string }) => w.id)).toEqual(['cli-page-b']);
    expect(first.hasMore).toBe(true);
    const second = JSON.parse((await runCli(['workflows', 'list', '--namespace', 'team.page', '--limit', '1', '--offset', '1'], env)).stdout);
    expect(second.items.map((w: { id: string }) => w.id)).toEqual(['cli-page-a']);
    expect(second.hasMore).toBe(false);
  });

  it('workflows apply of an invalid file exits non-zero, prints every diagnostic with its path, and stores nothing', async () => {
    const file = join(FIXTURES, 'invalid', 'multiple-problems.yaml');
    const expected = readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('# expect: '))
      .map((l) => /^# expect: (\S+) @/.exec(l)?.[1])
      .filter((p): p is string => !!p);
    const res = await runCli(['workflows', 'apply', file], env);
    expect(res.code).not.toBe(0);
    expect(res.stderr).toContain('INVALID_WORKFLOW');
    const diagnosticLines = problemLines(res.stderr);
    expect(diagnosticLines).toHaveLength(expected.length);
    expected.forEach((path, i) => expect(diagnosticLines[i]).toContain(`- ${path} (line `));
    expectNoStackTrace(res.stderr);
    const list = JSON.parse((await runCli(['workflows', 'list'], env)).stdout);
    expect(list.items.map((w: { id: string }) => w.id)).not.toContain('many problems');
  });

  it('workflows apply of an invalid update keeps the previous revision', async () => {
    const file = join(dir, 'cli-keep.yaml');
    writeFileSync(file, workflowYaml('cli-keep'));
    expect((await runCli(['workflows', 'apply', file], env)).code).toBe(0);
    writeFileSync(file, 'id: cli-keep\ntasks:\n  - {id: a, type: nope}\n');
    const res = await runCli(['workflows', 'apply', file], env);
    expect(res.code).not.toBe(0);
    expect(res.stderr).toContain('tasks[0].type');
    const got = JSON.parse((await runCli(['workflows', 'get', 'cli-keep'], env)).stdout);
    expect(got).toMatchObject({ revision: 1, source: workflowYaml('cli-keep') });
  });

  it('workflows apply of a missing file exits non-zero with a one-line message', async () => {
    const res = await runCli(['workflows', 'apply', join(dir, 'nope.yaml')], env);
    expect(res.code).not.toBe(0);
    expect(res.stderr).toMatch(/nope\.yaml/);
    expectNoStackTrace(res.stderr);
  });

  it('workflows delete removes the workflow; get and delete then exit non-zero with NOT_FOUND', async () => {
    const file = join(dir, 'cli-del.yaml');
    writeFileSync(file, workflowYaml('cli-del'));
    expect((await runCli(['workflows', 'apply', file], env)).code).toBe(0);
    const deleted = await runCli(['workflows', 'delete', 'cli-del'], env);
    expect(deleted.code, deleted.stderr).toBe(0);
    expect(deleted.stdout).toMatch(/deleted cli-del/);
    const got = await runCli(['workflows', 'get', 'cli-del'], env);
    expect(got.code).not.toBe(0);
    expect(got.stderr).toContain('NOT_FOUND');
    const again = await runCli(['workflows', 'delete', 'cli-del'], env);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toContain('NOT_FOUND');
    // re-applying continues the revision count, as over HTTP
    const revived = await runCli(['workflows', 'apply', file], env);
    expect(revived.stdout).toMatch(/created cli-del \(revision 2\)/);
  });

  it('workflows get rejects a hostile id with VALIDATION_ERROR', async () => {
    const res = await runCli(['workflows', 'get', '../../etc/passwd'], env);
    expect(res.code).not.toBe(0);
    expect(res.stderr).toContain('VALIDATION_ERROR');
    expect(res.stdout).toBe('');
  });

  it('rejects an unknown command with a non-zero exit and usage help', async () => {
    const res = await runCli(['frobnicate'], env);
    expect(res.code).not.toBe(0);
    expect(res.stderr).toMatch(/unknown command/i);
  });
});

describe('the CLI and the HTTP server share one database', () => {
  let dir: string;
  let env: Record<string, string>;
  let server: TestServer | undefined;

  beforeAll(() => {
    dir = tempDir('autokestra-shared-');
    env = { AUTOKESTRA_DATABASE_URL: join(dir, 'autokestra.db') };
  });
  afterAll(async () => {
    await server?.close();
  });

  it('serves over HTTP what the CLI applied, and the CLI sees what HTTP changed, while the server runs', async () => {
    const file = join(dir, 'shared.yaml');
    const source = workflowYaml('shared', { description: 'applied by the CLI' });
    writeFileSync(file, source);
    const applied = await runCli(['workflows', 'apply', file], env);
    expect(applied.code, applied.stderr).toBe(0);

    server = await startTestServer({ dir });
    expect(server.dbPath).toBe(env.AUTOKESTRA_DATABASE_URL);
    const got = await server.request('GET', '/api/v1/workflows/shared');
    expect(got.status).toBe(200);
    expect(got.body).toMatchObject({ id: 'shared', revision: 1, description: 'applied by the CLI', source });

    const put = await server.request('PUT', '/api/v1/workflows/shared', { raw: workflowYaml('shared', { message: 'http' }), contentType: 'application/yaml' });
    expect(put.status).toBe(200);
    expect(put.body.revision).toBe(2);
    const patched = await server.request('PATCH', '/api/v1/workflows/shared', { body: { enabled: false } });
    expect(patched.status).toBe(200);

    const cliGet = await runCli(['workflows', 'get', 'shared'], env);
    expect(cliGet.code, cliGet.stderr).toBe(0);
    expect(JSON.parse(cliGet.stdout)).toMatchObject({ revision: 2, enabled: false, source: workflowYaml('shared', { message: 'http' }) });

    // the CLI applies again while the server holds the database open
    writeFileSync(file, workflowYaml('shared', { message: 'cli again' }));
    const again = await runCli(['workflows', 'apply', file], env);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/revision 3/);
    const afterCli = await server.request('GET', '/api/v1/workflows/shared');
    expect(afterCli.body.revision).toBe(3);
    expect(afterCli.body.definition.tasks[0].message).toBe('cli again');

    const deleted = await runCli(['workflows', 'delete', 'shared'], env);
    expect(deleted.code, deleted.stderr).toBe(0);
    expectError(await server.request('GET', '/api/v1/workflows/shared'), 404, 'NOT_FOUND');
  });
});
