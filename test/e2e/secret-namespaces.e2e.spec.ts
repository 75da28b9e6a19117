/**
 * Secrets belong to namespaces (issue 7, item 9). One server holds:
 *   FILE_TEAM_A   secrets file, namespaces [team.a, team.x.*]
 *   FILE_PLAIN    secrets file, no allow-list      -> secrets.defaultNamespaces ([default])
 *   ENV_TEAM_A    AUTOKESTRA_SECRET_ENV_TEAM_A, secrets.namespaces {ENV_TEAM_A: [team.a]}
 *   ENV_PLAIN     AUTOKESTRA_SECRET_ENV_PLAIN, no allow-list -> [default]
 * A literal secret('X') outside X's allow-list is refused at apply, a computed one fails the
 * task at run time (EXPRESSION_ERROR); in both cases the answer is the same as for a name that
 * does not exist. No value ever comes back in a response, a log line or the database file.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli';
import { randomKey, startTestServer, tempDir, type TestResponse, type TestServer } from '../support/server';
import { createKey } from './access-helpers';
import { expectError, uniqueId } from './helpers';
import { allLogs, runsOf, start, waitTerminal, type Api } from './engine-helpers';

const VALUES = {
  FILE_TEAM_A: 'file-team-a-value-4f1c9e',
  FILE_PLAIN: 'file-plain-value-7d2b10',
  ENV_TEAM_A: 'env-team-a-value-93aa51',
  ENV_PLAIN: 'env-plain-value-0c66e2',
};

let server: TestServer;
let target: Server;
let targetUrl: string;
/** X-Secret headers the target received, in order: proof that a granted secret resolved */
const received: string[] = [];
/** every response body seen by `api`, checked for values at the end */
const seen: string[] = [];
let secretsDir: string;

const api: Api = {
  async request(method, path, init) {
    const res = await server.request(method, path, init);
    seen.push(res.text);
    return res;
  },
};

beforeAll(async () => {
  target = createServer((req, res) => {
    received.push(String(req.headers['x-secret'] ?? ''));
    res.writeHead(204);
    res.end();
  });
  await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
  targetUrl = `http://127.0.0.1:${(target.address() as AddressInfo).port}`;
  secretsDir = tempDir('autokestra-secret-ns-');
  const file = join(secretsDir, 'secrets.yaml');
  writeFileSync(
    file,
    `FILE_TEAM_A: {value: "${VALUES.FILE_TEAM_A}", namespaces: ["team.a", "team.x.*"]}\nFILE_PLAIN: ${VALUES.FILE_PLAIN}\n`,
  );
  server = await startTestServer({
    env: { AUTOKESTRA_SECRET_ENV_TEAM_A: VALUES.ENV_TEAM_A, AUTOKESTRA_SECRET_ENV_PLAIN: VALUES.ENV_PLAIN },
    configure: (c) => {
      c.secrets.file = file;
      c.secrets.namespaces = { ENV_TEAM_A: ['team.a'], NOT_DEFINED_ANYWHERE: ['team.a'] };
      c.engine.tasks.http.allowCidrs = ['127.0.0.1/32'];
    },
  });
});

afterAll(async () => {
  await server?.close();
  await new Promise((resolve) => target?.close(resolve));
});

function put(id: string, yaml: string, as?: string): Promise<TestResponse> {
  return api.request('PUT', `/api/v1/workflows/${id}`, { raw: yaml, contentType: 'application/yaml', auth: as });
}

async function applyOk(id: string, yaml: string): Promise<void> {
  const res = await put(id, yaml);
  expect([200, 201], res.text).toContain(res.status);
}

/** A workflow that sends secret `name` (a literal) to the target and logs it. */
function staticUse(id: string, namespace: string | null, name: string): string {
  return `id: ${id}
${namespace ? `namespace: ${namespace}\n` : ''}tasks:
  - {id: send, type: http, url: "${targetUrl}/", headers: {X-Secret: "{{ secret('${name}') }}"}}
  - {id: say, type: log, message: "value {{ secret('${name}') }}"}
`;
}

/** A workflow that reads the secret named by its input (a name only known at run time). */
function dynamicUse(id: string, namespace: string): string {
  return `id: ${id}
namespace: ${namespace}
inputs:
  - {id: name, type: string}
tasks:
  - {id: read, type: log, message: "value {{ secret(inputs.name) }}"}
`;
}

async function run(workflowId: string, inputs: Record<string, unknown> = {}): Promise<any> {
  const id = await start(api, workflowId, { inputs });
  return waitTerminal(api, id);
}

/** The parts of an answer that may differ between two secret names: the names themselves. */
function withoutName(text: string, name: string): string {
  return text.replaceAll(name, 'NAME');
}

describe('apply: a literal secret() name outside the allow-list', () => {
  it('is refused with INVALID_WORKFLOW, path and line, byte-identical to a name that does not exist', async () => {
    const foreignId = uniqueId('sec-foreign');
    const missingId = uniqueId('sec-missing');
    const foreign = await put(foreignId, staticUse(foreignId, 'team.b', 'FILE_TEAM_A'));
    const missing = await put(missingId, staticUse(missingId, 'team.b', 'NO_SUCH_SEC'));
    const error = expectError(foreign, 400, 'INVALID_WORKFLOW');
    expectError(missing, 400, 'INVALID_WORKFLOW');
    const message = "secret 'FILE_TEAM_A' is not available in namespace 'team.b': no secret of that name is granted to this namespace (define it, or add 'team.b' to its namespaces)";
    expect(error.details).toEqual([
      { path: 'tasks[0].headers.X-Secret', line: 4, message },
      { path: 'tasks[1].message', line: 5, message },
    ]);
    // Same body except for the names the caller chose itself (workflow id, secret name).
    expect(withoutName(withoutName(missing.text, missingId), 'NO_SUCH_SEC')).toBe(withoutName(withoutName(foreign.text, foreignId), 'FILE_TEAM_A'));
    for (const id of [foreignId, missingId]) expectError(await api.request('GET', `/api/v1/workflows/${id}`), 404, 'NOT_FOUND');
  });

  it('an environment secret granted elsewhere by secrets.namespaces is refused the same way', async () => {
    const id = uniqueId('sec-env-foreign');
    const res = await put(id, staticUse(id, 'team.b', 'ENV_TEAM_A'));
    const error = expectError(res, 400, 'INVALID_WORKFLOW');
    expect(error.details[0].message).toBe("secret 'ENV_TEAM_A' is not available in namespace 'team.b': no secret of that name is granted to this namespace (define it, or add 'team.b' to its namespaces)");
  });

  it('secrets without an allow-list are refused outside the default namespace', async () => {
    for (const name of ['FILE_PLAIN', 'ENV_PLAIN']) {
      const id = uniqueId('sec-plain-team');
      const error = expectError(await put(id, staticUse(id, 'team.a', name)), 400, 'INVALID_WORKFLOW');
      expect(error.details.map((d: any) => d.message)).toEqual([
        `secret '${name}' is not available in namespace 'team.a': no secret of that name is granted to this namespace (define it, or add 'team.a' to its namespaces)`,
        `secret '${name}' is not available in namespace 'team.a': no secret of that name is granted to this namespace (define it, or add 'team.a' to its namespaces)`,
      ]);
      expectError(await api.request('GET', `/api/v1/workflows/${id}`), 404, 'NOT_FOUND');
    }
  });

  it('a key restricted to other namespaces gets the same 404 whether or not the workflow names a secret', async () => {
    const teamA = await createKey(server, { scopes: ['workflows:write', 'workflows:read'], namespaces: ['team.a'] });
    const id = uniqueId('sec-outside-key');
    // Outside the key's namespaces the apply is NOT_FOUND; the secret check must not answer first
    // (it would tell a team.a key which secrets team.b can read).
    const granted = await put(id, staticUse(id, 'team.x.one', 'FILE_TEAM_A'), teamA.key);
    const notGranted = await put(id, staticUse(id, 'team.x.one', 'ENV_TEAM_A'), teamA.key);
    const missing = await put(id, staticUse(id, 'team.x.one', 'NO_SUCH_SEC'), teamA.key);
    for (const res of [granted, notGranted, missing]) expectError(res, 404, 'NOT_FOUND');
    expect(notGranted.body).toEqual(granted.body);
    expect(missing.body).toEqual(granted.body);
    expectError(await api.request('GET', `/api/v1/workflows/${id}`), 404, 'NOT_FOUND');
    // Inside its namespaces the same key gets the secret check.
    const inside = await put(id, staticUse(id, 'team.a', 'ENV_PLAIN'), teamA.key);
    expect(expectError(inside, 400, 'INVALID_WORKFLOW').details[0].path).toBe('tasks[0].headers.X-Secret');
  });
});

describe('granted secrets', () => {
  it('a file secret is read in the namespaces of its allow-list, exact and glob, and masked', async () => {
    for (const namespace of ['team.a', 'team.x.one', 'team.x.one.two']) {
      const id = uniqueId('sec-file-ok');
      await applyOk(id, staticUse(id, namespace, 'FILE_TEAM_A'));
      const before = received.length;
      const done = await run(id);
      expect(done.state, JSON.stringify(done)).toBe('SUCCESS');
      expect(done.namespace).toBe(namespace);
      expect(received.slice(before)).toEqual([VALUES.FILE_TEAM_A]);
      expect((await allLogs(api, done.id, '&taskId=say')).map((l) => l.message)).toEqual(['value ***']);
    }
  });

  it('an environment secret is read in the namespaces secrets.namespaces grants it', async () => {
    const id = uniqueId('sec-env-ok');
    await applyOk(id, staticUse(id, 'team.a', 'ENV_TEAM_A'));
    const before = received.length;
    const done = await run(id);
    expect(done.state, JSON.stringify(done)).toBe('SUCCESS');
    expect(received.slice(before)).toEqual([VALUES.ENV_TEAM_A]);
  });

  it('secrets without an allow-list are read by workflows of the default namespace (explicit or implied)', async () => {
    for (const [name, namespace] of [['FILE_PLAIN', null], ['ENV_PLAIN', 'default']] as const) {
      const id = uniqueId('sec-default-ok');
      await applyOk(id, staticUse(id, namespace, name));
      const before = received.length;
      const done = await run(id);
      expect(done.state, JSON.stringify(done)).toBe('SUCCESS');
      expect(done.namespace).toBe('default');
      expect(received.slice(before)).toEqual([VALUES[name]]);
    }
  });

  it('a secrets.namespaces entry that names no secret is reported in the server log at startup', async () => {
    expect(await server.logs()).toContain('secrets.namespaces.NOT_DEFINED_ANYWHERE: no secret NOT_DEFINED_ANYWHERE is defined');
  });
});

describe('run time: a secret() name computed from data', () => {
  it('fails the task with EXPRESSION_ERROR, with the same message for a foreign secret and a missing one', async () => {
    const id = uniqueId('sec-dyn');
    await applyOk(id, dynamicUse(id, 'team.b'));
    const failures: Record<string, any> = {};
    for (const name of ['FILE_TEAM_A', 'ENV_TEAM_A', 'FILE_PLAIN', 'NO_SUCH_SEC']) {
      const done = await run(id, { name });
      expect(done.state, JSON.stringify(done)).toBe('FAILED');
      expect(done.error).toMatchObject({ taskId: 'read', kind: 'EXPRESSION_ERROR' });
      expect(done.error.message).toContain(`'${name}'`);
      expect(runsOf(done, 'read').map((r) => r.state)).toEqual(['FAILED']);
      failures[name] = done;
    }
    const shape = (name: string) => ({
      error: withoutName(JSON.stringify(failures[name].error), name),
      taskRun: withoutName(JSON.stringify(runsOf(failures[name], 'read')[0].error), name),
    });
    for (const name of ['FILE_TEAM_A', 'ENV_TEAM_A', 'FILE_PLAIN']) expect(shape(name)).toEqual(shape('NO_SUCH_SEC'));
    const logs = async (name: string) => (await allLogs(api, failures[name].id)).map((l) => withoutName(`${l.level} ${l.taskId} ${l.message}`, name));
    expect(await logs('FILE_TEAM_A')).toEqual(await logs('NO_SUCH_SEC'));
  });

  it('reads the secret when the workflow namespace is in its allow-list', async () => {
    const id = uniqueId('sec-dyn-ok');
    await applyOk(id, dynamicUse(id, 'team.a'));
    const done = await run(id, { name: 'FILE_TEAM_A' });
    expect(done.state, JSON.stringify(done)).toBe('SUCCESS');
    expect((await allLogs(api, done.id, '&taskId=read')).map((l) => l.message)).toEqual(['value ***']);
    const refused = await run(id, { name: 'FILE_PLAIN' });
    expect(refused.error).toMatchObject({ taskId: 'read', kind: 'EXPRESSION_ERROR' });
  });

  it('variables are evaluated in the namespace too (EXPRESSION_ERROR before any task)', async () => {
    const id = uniqueId('sec-dyn-vars');
    await applyOk(id, `id: ${id}\nnamespace: team.b\ninputs: [{id: name, type: string}]\nvariables: {v: "{{ secret(inputs.name) }}"}\ntasks:\n  - {id: t, type: log, message: "{{ vars.v }}"}\n`);
    const done = await run(id, { name: 'FILE_TEAM_A' });
    expect(done.state).toBe('FAILED');
    expect(done.error).toMatchObject({ taskId: null, kind: 'EXPRESSION_ERROR' });
    expect(done.taskRuns).toEqual([]);
  });
});

describe('subflows', () => {
  it('a parent cannot start a workflow of another namespace: the target is "not found", like a missing one', async () => {
    const child = uniqueId('sec-child-b');
    const parent = uniqueId('sec-parent-a');
    const missing = uniqueId('sec-parent-missing');
    await applyOk(child, dynamicUse(child, 'team.b'));
    await applyOk(parent, `id: ${parent}\nnamespace: team.a\ntasks:\n  - {id: own, type: log, message: "{{ secret('FILE_TEAM_A') }}"}\n  - {id: call, type: subflow, workflowId: ${child}, inputs: {name: FILE_TEAM_A}}\n`);
    await applyOk(missing, `id: ${missing}\nnamespace: team.a\ntasks:\n  - {id: call, type: subflow, workflowId: no-such-${child}}\n`);
    const done = await run(parent);
    expect(done.state, JSON.stringify(done)).toBe('FAILED');
    expect(runsOf(done, 'own')[0].state).toBe('SUCCESS');
    expect(done.error).toMatchObject({ taskId: 'call', kind: 'SUBFLOW_FAILED' });
    expect(done.error.message).toBe(`workflow '${child}' not found (a subflow starts workflows of its own namespace 'team.a' or below it)`);
    const other = await run(missing);
    expect(other.error.message).toBe(`workflow 'no-such-${child}' not found (a subflow starts workflows of its own namespace 'team.a' or below it)`);
    const children = (await api.request('GET', `/api/v1/executions?workflowId=${child}`)).body.items;
    expect(children).toHaveLength(0);
  });

  it("a child in the parent's namespace tree reads its own namespace's secrets", async () => {
    const child = uniqueId('sec-child-a');
    const parent = uniqueId('sec-parent-a');
    await applyOk(child, staticUse(child, 'team.a', 'FILE_TEAM_A'));
    await applyOk(parent, `id: ${parent}\nnamespace: team.a\ntasks:\n  - {id: call, type: subflow, workflowId: ${child}}\n`);
    const before = received.length;
    const done = await run(parent);
    expect(done.state, JSON.stringify(done)).toBe('SUCCESS');
    expect(received.slice(before)).toEqual([VALUES.FILE_TEAM_A]);
  });
});

describe('the run-time check does not depend on the apply-time one', () => {
  it('a workflow applied while a secret was granted fails at run time once the grant is gone (after a restart)', async () => {
    const dir = tempDir('autokestra-secret-regrant-');
    const key = randomKey();
    const env = { AUTOKESTRA_SECRET_ENV_PLAIN: VALUES.ENV_PLAIN };
    const first = await startTestServer({ dir, key, env });
    const id = uniqueId('sec-regrant');
    try {
      const res = await first.request('PUT', `/api/v1/workflows/${id}`, { raw: staticUse(id, null, 'ENV_PLAIN'), contentType: 'application/yaml' });
      expect(res.status, res.text).toBe(201);
    } finally {
      await first.close();
    }
    const second = await startTestServer({ dir, key, env, configure: (c) => (c.secrets.defaultNamespaces = []) });
    try {
      const started = await second.request('POST', `/api/v1/workflows/${id}/executions`, { body: {} });
      expect(started.status, started.text).toBe(202);
      const done = await waitTerminal(second, started.body.id);
      expect(done.state).toBe('FAILED');
      expect(done.error).toMatchObject({ taskId: 'send', kind: 'EXPRESSION_ERROR' });
      expect(done.error.message).toContain("'ENV_PLAIN'");
      const texts = [JSON.stringify(done), await second.logs()].join('\n');
      expect(texts).not.toContain(VALUES.ENV_PLAIN);
    } finally {
      await second.close();
    }
  });
});

describe('startup refuses a bad secrets configuration, one line per problem', () => {
  it('exits 2 naming each bad entry of the secrets file and of secrets.namespaces, never a value', async () => {
    const dir = tempDir('autokestra-secret-badcfg-');
    const file = join(dir, 'secrets.yaml');
    writeFileSync(file, 'GOOD: fine\nLIST: [leaked-value-a]\nGLOBS: {value: leaked-value-b, namespaces: ["no spaces"]}\n');
    const config = join(dir, 'config.yaml');
    writeFileSync(config, `secrets:\n  file: ${file}\n  namespaces: {GOOD: ["team.*"]}\n`);
    const result = await runCli(['serve'], { AUTOKESTRA_CONFIG: config, AUTOKESTRA_API_KEYS: randomKey(), AUTOKESTRA_DATABASE_URL: join(dir, 'db.sqlite'), AUTOKESTRA_PORT: '0' });
    expect(result.code, result.stderr).toBe(2);
    expect(result.stderr).toBe(
      [
        'autokestra: invalid secrets configuration:',
        `  - secrets file ${file}: LIST: must be a value or a mapping {value: "...", namespaces: [...]}`,
        `  - secrets file ${file}: GLOBS.namespaces: invalid namespace glob(s) 'no spaces'; use names like 'team-a' or globs like 'ops.*' or '*'`,
        '',
      ].join('\n'),
    );
    expect(existsSync(join(dir, 'db.sqlite'))).toBe(false);
  });

  it('exits 2 on a bad secrets.namespaces or defaultNamespaces setting', async () => {
    const dir = tempDir('autokestra-secret-badcfg2-');
    const config = join(dir, 'config.yaml');
    writeFileSync(config, 'secrets:\n  namespaces: {TOKEN: []}\n  defaultNamespaces: ["bad glob"]\n');
    const result = await runCli(['serve'], { AUTOKESTRA_CONFIG: config, AUTOKESTRA_API_KEYS: randomKey(), AUTOKESTRA_DATABASE_URL: join(dir, 'db.sqlite'), AUTOKESTRA_PORT: '0' });
    expect(result.code, result.stderr).toBe(2);
    expect(result.stderr).toContain("  - secrets.defaultNamespaces: invalid namespace glob(s) 'bad glob'");
    expect(result.stderr).toContain('  - secrets.namespaces.TOKEN: must be a non-empty list of namespace globs');
  });
});

describe('no secret value anywhere', () => {
  it('never appears in a response, the server log or the database file (the suite above used every one)', async () => {
    expect(seen.length).toBeGreaterThan(20);
    const responses = seen.join('\n');
    const log = await server.logs();
    expect(log.length).toBeGreaterThan(0);
    const db = [server.dbPath, `${server.dbPath}-wal`].filter(existsSync).map((p) => readFileSync(p).toString('latin1')).join('');
    for (const value of Object.values(VALUES)) {
      expect(responses).not.toContain(value);
      expect(log).not.toContain(value);
      expect(db).not.toContain(value);
    }
    // The values were really used: the target received each of them.
    expect(new Set(received)).toEqual(new Set(Object.values(VALUES)));
  });
});

