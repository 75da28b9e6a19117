/**
 * Secrets (issue 3, DESIGN §5): `secret('NAME')` reads AUTOKESTRA_SECRET_<NAME>; the value is
 * replaced by `***` in every log line, output, error and API response, and never reaches the
 * server log.
 *
 * Note: startTestServer's `env` only feeds the config loader; the engine's SecretStore reads
 * process.env (engineOptionsFrom does not forward an env). So the variable is also set on this
 * worker's process.env (vitest runs each file in its own process). The last describe runs the
 * built CLI as a real process with the variable in its environment, as in production.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnServe, type ServeProcess } from '../support/cli';
import { applyWorkflow, startTestServer, TEST_CONFIG, tempDir, randomKey, type TestServer } from '../support/server';
import { expectError, uniqueId } from './helpers';
import { allLogs, apply, httpClient, inspect, listAll, runToEnd, runsOf, start, waitTerminal, type Api } from './engine-helpers';

const SECRET = 's3cr3t-value-xyz';

let server: TestServer;
let target: Server;
let targetUrl: string;
let receivedAuth: string | undefined;

beforeAll(async () => {
  process.env.AUTOKESTRA_SECRET_TOKEN = SECRET;
  target = createServer((req, res) => {
    receivedAuth = req.headers.authorization;
    res.writeHead(200, { 'content-type': 'application/json', 'x-echo': String(req.headers.authorization ?? '') });
    res.end(JSON.stringify({ youSent: req.headers.authorization ?? null }));
  });
  await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
  targetUrl = `http://127.0.0.1:${(target.address() as AddressInfo).port}`;
  server = await startTestServer({
    env: { AUTOKESTRA_SECRET_TOKEN: SECRET },
    configure: (c) => {
      c.engine.tasks.shell.enabled = true;
      c.engine.tasks.http.allowCidrs = ['127.0.0.1/32'];
    },
  });
});

afterAll(async () => {
  await server?.close();
  await new Promise((resolve) => target?.close(resolve));
  delete process.env.AUTOKESTRA_SECRET_TOKEN;
});

const leakyWorkflow = (wf: string, extraTasks = '') => `id: ${wf}
inputs:
  - {id: fail, type: boolean, default: true}
tasks:
  - {id: say, type: log, message: "token is {{ secret('TOKEN') }}"}
  - {id: warn, type: log, level: warn, message: "{{ secret('TOKEN') }}"}
  - id: out
    type: output
    values:
      t: "{{ secret('TOKEN') }}"
      nested: {list: ["x-{{ secret('TOKEN') }}-y"]}
${extraTasks}  - id: maybe
    type: if
    condition: "{{ inputs.fail }}"
    then: [{id: boom, type: fail, message: "failed with {{ secret('TOKEN') }}"}]
errors:
  - {id: alert, type: log, message: "error: {{ error.message }}"}
`;

/** Every API text about an execution: inspect, list, every log page. */
async function apiTexts(api: Api, id: string, workflowId: string): Promise<string> {
  const parts: string[] = [];
  parts.push((await api.request('GET', `/api/v1/executions/${id}`)).text);
  parts.push((await api.request('GET', `/api/v1/executions?workflowId=${workflowId}`)).text);
  parts.push((await api.request('GET', `/api/v1/executions/${id}/logs?limit=1000`)).text);
  parts.push((await api.request('GET', `/api/v1/executions/${id}/logs?limit=1000&level=ERROR`)).text);
  return parts.join('\n');
}

describe('secret masking', () => {
  it('log lines, outputs, the execution error, task run outputs/errors and errors-handler lines show *** instead of the value', async () => {
    const wf = uniqueId('secret-mask');
    await applyWorkflow(
      server,
      wf,
      leakyWorkflow(
        wf,
        `  - {id: sh, type: shell, commands: ["echo shell says {{ secret('TOKEN') }}"]}
  - {id: call, type: http, url: "${targetUrl}/", headers: {Authorization: "Bearer {{ secret('TOKEN') }}"}}
`,
      ),
    );
    const done = await runToEnd(server, wf, {}, 'FAILED');

    // the secret really was used (the target received it) ...
    expect(receivedAuth).toBe(`Bearer ${SECRET}`);
    // ... but comes back masked everywhere
    expect(done.outputs.out).toEqual({ t: '***', nested: { list: ['x-***-y'] } });
    expect(done.outputs.sh.stdout).toBe('shell says ***');
    expect(done.outputs.call.body).toEqual({ youSent: 'Bearer ***' });
    expect(done.outputs.call.headers['x-echo']).toBe('Bearer ***');
    expect(done.error).toMatchObject({ message: 'failed with ***', taskId: 'boom' });
    expect(runsOf(done, 'out')[0].outputs).toEqual({ t: '***', nested: { list: ['x-***-y'] } });
    expect(runsOf(done, 'boom')[0].error.message).toBe('failed with ***');

    const logs = await allLogs(server, done.id);
    const byTask = (taskId: string) => logs.filter((l) => l.taskId === taskId).map((l) => l.message);
    expect(byTask('say')).toEqual(['token is ***']);
    expect(byTask('warn')).toEqual(['***']);
    expect(byTask('sh')).toContain('shell says ***');
    expect(byTask('alert')).toEqual(['error: failed with ***']);

    const text = await apiTexts(server, done.id, wf);
    expect(text).not.toContain(SECRET);
    expect(JSON.stringify(done)).not.toContain(SECRET);
    const serverLog = await server.logs();
    expect(serverLog.length).toBeGreaterThan(0);
    expect(serverLog).not.toContain(SECRET);
  });

  it('a runtime expression error involving the secret value does not reveal it', async () => {
    // both fail at run time with messages built from the value (a failed conversion, a missing key)
    for (const expr of ["{{ int(secret('TOKEN')) }}", "{{ {'a': 1}[secret('TOKEN')] }}"]) {
      const wf = uniqueId('secret-exprerr');
      await applyWorkflow(server, wf, `id: ${wf}\ntasks:\n  - {id: bad, type: log, message: "${expr}"}\n`);
      const done = await runToEnd(server, wf, {}, 'FAILED');
      expect(done.error.taskId).toBe('bad');
      expect(done.error.message.length).toBeGreaterThan(0);
      expect(runsOf(done, 'bad')[0].state).toBe('FAILED');
      expect(await apiTexts(server, done.id, wf)).not.toContain(SECRET);
    }
    expect(await server.logs()).not.toContain(SECRET);
  });

  it('an unknown secret named literally is refused at apply; one named at run time fails the task naming it', async () => {
    const refused = uniqueId('secret-missing-static');
    const res = await server.request('PUT', `/api/v1/workflows/${refused}`, {
      raw: `id: ${refused}\ntasks:\n  - {id: s, type: log, message: "{{ secret('NOPE_NOT_SET') }}"}\n`,
      contentType: 'application/yaml',
    });
    const error = expectError(res, 400, 'INVALID_WORKFLOW');
    expect(error.details).toEqual([{ path: 'tasks[0].message', line: 3, message: expect.stringContaining("secret 'NOPE_NOT_SET' is not available in namespace 'default'") }]);
    expect((await server.request('GET', `/api/v1/workflows/${refused}`)).status).toBe(404);

    const wf = uniqueId('secret-missing');
    await applyWorkflow(server, wf, `id: ${wf}\ninputs:\n  - {id: name, type: string}\ntasks:\n  - {id: s, type: log, message: "{{ secret(inputs.name) }}"}\n`);
    const done = await runToEnd(server, wf, { inputs: { name: 'NOPE_NOT_SET' } }, 'FAILED');
    expect(done.error).toMatchObject({ taskId: 's', kind: 'EXPRESSION_ERROR' });
    expect(done.error.message).toContain('NOPE_NOT_SET');
  });

  it('a secret value passed back in as an input is masked in the API response too', async () => {
    const wf = uniqueId('secret-input');
    await applyWorkflow(server, wf, `id: ${wf}\ninputs:\n  - {id: v, type: string}\ntasks:\n  - {id: say, type: log, message: "got {{ inputs.v }}"}\n`);
    const res = await server.request('POST', `/api/v1/workflows/${wf}/executions`, { body: { inputs: { v: `pre-${SECRET}` } } });
    expect(res.status, res.text).toBe(202);
    const done = await waitTerminal(server, res.body.id);
    expect(done.state).toBe('SUCCESS');
    const logs = await allLogs(server, done.id, '&taskId=say');
    expect(logs.map((l) => l.message)).toEqual(['got pre-***']);
    expect(res.text).not.toContain(SECRET);
    expect(await apiTexts(server, done.id, wf)).not.toContain(SECRET);
  });
});

describe('secret masking in a real `autokestra serve` process', () => {
  let proc: ServeProcess | undefined;

  afterAll(async () => {
    if (proc && proc.child.exitCode === null) {
      const exited = new Promise((resolve) => proc!.child.once('exit', resolve));
      proc.child.kill('SIGTERM');
      await exited;
    }
  });

  it('reads AUTOKESTRA_SECRET_TOKEN from its environment and never prints or returns the value', async () => {
    const dir = tempDir('autokestra-secret-');
    const key = randomKey();
    proc = await spawnServe({
      AUTOKESTRA_API_KEYS: key,
      AUTOKESTRA_DATABASE_URL: `${dir}/db.sqlite`,
      AUTOKESTRA_PORT: '0',
      AUTOKESTRA_CONFIG: TEST_CONFIG,
      AUTOKESTRA_LOG_LEVEL: 'debug',
      AUTOKESTRA_SECRET_TOKEN: SECRET,
    });
    const api = httpClient(proc.url, key);
    const wf = uniqueId('secret-proc');
    await apply(api, wf, leakyWorkflow(wf));
    const id = await start(api, wf, {});
    const done = await waitTerminal(api, id);
    expect(done.state).toBe('FAILED');
    expect(done.outputs.out).toEqual({ t: '***', nested: { list: ['x-***-y'] } });
    expect(done.error.message).toBe('failed with ***');
    const logs = await allLogs(api, id);
    expect(logs.filter((l) => l.taskId === 'say').map((l) => l.message)).toEqual(['token is ***']);
    expect(await apiTexts(api, id, wf)).not.toContain(SECRET);
    expect((await listAll(api, `workflowId=${wf}`)).length).toBe(1);
    expect(JSON.stringify(await inspect(api, id))).not.toContain(SECRET);
    await new Promise((r) => setTimeout(r, 200));
    expect(proc.output().length).toBeGreaterThan(0);
    expect(proc.output()).not.toContain(SECRET);
  });
});
