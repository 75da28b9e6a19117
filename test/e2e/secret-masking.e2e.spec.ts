/**
 * Masking that holds (issue 7 §4): a secret's value and its common encodings never leave the
 * server — not as a map key, not quoted by a function's error, not URL-encoded in an http
 * task's error, not base64-encoded in outputs or logs.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyWorkflow, startTestServer, type TestServer } from '../support/server';
import { allLogs, runToEnd, start, waitTerminal } from './engine-helpers';

const SECRET = 'Tok en"é{x}!-s3cr3t';
let server: TestServer;
let target: Server;
let targetUrl: string;

/** every spelling of the secret that must not appear anywhere */
function spellings(value: string): string[] {
  const b64 = Buffer.from(value).toString('base64');
  return [
    value,
    encodeURIComponent(value),
    encodeURI(value),
    Object.assign(new URL('http://x/'), { pathname: value }).pathname.slice(1),
    new URLSearchParams({ v: value }).toString().slice(2),
    JSON.stringify(value).slice(1, -1),
    b64,
    b64.replace(/=+$/, ''),
    b64.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, ''),
    's3cr3t',
  ];
}

function expectNoSecret(text: string, where: string): void {
  for (const s of spellings(SECRET)) expect(text.includes(s), `${where} contains ${s}: ${text.slice(0, 500)}`).toBe(false);
}

async function everythingAbout(executionId: string): Promise<string> {
  const execution = await server.request('GET', `/api/v1/executions/${executionId}`);
  const logs = await allLogs(server, executionId);
  const list = await server.request('GET', `/api/v1/executions?limit=500`);
  const audit = await server.request('GET', '/api/v1/audit?limit=500');
  return [execution.text, JSON.stringify(logs), list.text, audit.text, await server.logs()].join('\n');
}

beforeAll(async () => {
  target = createServer((req, res) => {
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end(`no such thing: ${req.url}`);
  });
  await new Promise<void>((r) => target.listen(0, '127.0.0.1', r));
  targetUrl = `http://127.0.0.1:${(target.address() as AddressInfo).port}`;
  server = await startTestServer({
    env: { AUTOKESTRA_SECRET_TOKEN: SECRET },
    configure: (c) => {
      c.engine.tasks.http.allowCidrs = ['127.0.0.1/32'];
    },
  });
});

afterAll(async () => {
  await server?.close();
  await new Promise((r) => target?.close(r));
});

describe('secret masking', () => {
  it.each([
    ['as a map key in outputs', "{id: o, type: output, values: {m: \"{{ {secret('TOKEN'): 1, 'plain': 2} }}\"}}", 'SUCCESS'],
    ['as a map key in a log line', "{id: l, type: log, message: \"{{ {secret('TOKEN'): [secret('TOKEN')]} }}\"}", 'SUCCESS'],
    ['base64-encoded (bytes) in outputs', "{id: o, type: output, values: {b: \"{{ bytes(secret('TOKEN')) }}\", b2: \"{{ bytes('user:' + secret('TOKEN')) }}\"}}", 'SUCCESS'],
    ['quoted by duration()', "{id: l, type: log, message: \"{{ duration(secret('TOKEN')) }}\"}", 'FAILED'],
    ['quoted by int() on a derived value', "{id: l, type: log, message: \"{{ int(secret('TOKEN').substring(3)) }}\"}", 'FAILED'],
    ['quoted by timestamp()', "{id: l, type: log, message: \"{{ timestamp(secret('TOKEN').upperAscii()) }}\"}", 'FAILED'],
    ['as a missing key', "{id: l, type: log, message: \"{{ inputs[secret('TOKEN').substring(1)] }}\"}", 'FAILED'],
  ])('hides a secret used %s', async (name, task, expected) => {
    const id = `mask-${name.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}`;
    await applyWorkflow(server, id, `id: ${id}\ntasks:\n  - ${task}\n`);
    const done = await runToEnd(server, id, undefined, expected);
    if (expected === 'FAILED') {
      expect(done.error.kind).toBe('EXPRESSION_ERROR');
      expect(done.error.message).toMatch(/withheld because the expression reads a secret/);
    }
    expectNoSecret(await everythingAbout(done.id), name);
  });

  it('keeps both values when two map keys mask to the same text', async () => {
    await applyWorkflow(server, 'mask-collide', "id: mask-collide\ntasks:\n  - {id: o, type: output, values: {m: \"{{ {secret('TOKEN'): 1, secret('TOKEN') + '': 2} }}\"}}\n");
    const done = await runToEnd(server, 'mask-collide');
    expect(Object.keys(done.outputs.o.m).every((k) => k.startsWith('***'))).toBe(true);
  });

  it('hides a secret URL-encoded in an http task error (path, query and fragment encodings differ)', async () => {
    const id = 'mask-http';
    await applyWorkflow(
      server,
      id,
      `id: ${id}\ntasks:\n  - {id: call, type: http, url: "${targetUrl}/p/{{ secret('TOKEN') }}?q={{ secret('TOKEN') }}"}\n  - {id: call2, type: log, message: never}\n`,
    );
    const done = await runToEnd(server, id, undefined, 'FAILED');
    expect(done.error.kind).toBe('HTTP_ERROR');
    expect(done.error.message).toMatch(/HTTP 404 from GET http:\/\/\*\*\* \(a URL built from a secret\)/);
    expectNoSecret(await everythingAbout(done.id), 'http error');
  });

  it('hides a secret passed back in labels and inputs by a caller', async () => {
    await applyWorkflow(server, 'mask-echo', 'id: mask-echo\ninputs:\n  - {id: v, type: string}\ntasks:\n  - {id: l, type: log, message: "{{ inputs.v }}"}\n');
    const id = await start(server, 'mask-echo', { inputs: { v: `x ${encodeURIComponent(SECRET)} y` }, labels: { token: SECRET } });
    const done = await waitTerminal(server, id);
    expect(done.state).toBe('SUCCESS');
    expect(done.labels.token).toBe('***');
    expect(done.inputs.v).toBe('x *** y');
    expectNoSecret(await everythingAbout(id), 'echo');
  });
});
