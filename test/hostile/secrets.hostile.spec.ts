/**
 * Hostile use of secrets (issue 7, "Masking that holds", "Secrets belong to namespaces"):
 *
 * - A secret's value and its encodings (JSON-escaped, percent-encoded in every flavour, base64)
 *   never appear in an API response, execution output, task error, log line (GET logs and the
 *   server log file), label or audit entry — including when the value is a map key, when a
 *   conversion function quotes it in its error, and when an http task's error names a URL that
 *   holds it.
 * - A workflow outside a secret's namespace allow-list cannot read it, and what it sees is
 *   identical to what it sees for a secret that does not exist.
 *
 * The value below contains characters that every encoding treats differently (space, `/`, `@`,
 * `+`, `&`, `=`, `"`, `\`, a non-ASCII letter), so a leak through any encoding is visible.
 */
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, tempDir, type TestServer } from '../support/server';
import { expectError, uniqueId } from '../e2e/helpers';
import { apply, inspect, start, waitTerminal } from '../e2e/engine-helpers';
import { expectHealthy, expectNoSecret, leakedForms, secretForms } from './hostile-helpers';

/** AUTOKESTRA_SECRET_TOKEN — no allow-list, so the `default` namespace only. */
const SECRET = 'S3cr3t v@lue/with+odd&chars="quoted"\\é';
/** secrets-file entries */
const TEAM_A_VALUE = 'team-a-secret-value-9f8e7d6c';
const DEFAULT_ONLY_VALUE = 'default-only-secret-value-1a2b3c';
const ALL_VALUES = [SECRET, TEAM_A_VALUE, DEFAULT_ONLY_VALUE];

/**
 * The secrets file in the shape of issue 7 §9: an entry is either a plain value (readable from
 * the `default` namespace only) or {value, namespaces} with an allow-list of namespace globs.
 */
const SECRETS_FILE = [
  `TEAM_A_TOKEN: {value: "${TEAM_A_VALUE}", namespaces: ["team.a", "shared.*"]}`,
  `DEFAULT_ONLY: "${DEFAULT_ONLY_VALUE}"`,
  '',
].join('\n');

let server: TestServer;
let target: Server;
let targetUrl: string;
let closedPortUrl: string;
const targetSaw: string[] = [];

beforeAll(async () => {
  target = createServer((req, res) => {
    targetSaw.push(req.url ?? '');
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end(`no such thing: ${req.url}`);
  });
  await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
  targetUrl = `http://127.0.0.1:${(target.address() as AddressInfo).port}`;
  // a port nothing listens on: bind, note, close
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  closedPortUrl = `http://127.0.0.1:${(probe.address() as AddressInfo).port}`;
  await new Promise((resolve) => probe.close(resolve));

  const dir = tempDir('autokestra-hostile-secrets-');
  const secretsFile = join(dir, 'secrets.yaml');
  writeFileSync(secretsFile, SECRETS_FILE, { mode: 0o600 });
  server = await startTestServer({
    dir,
    env: { AUTOKESTRA_SECRET_TOKEN: SECRET },
    configure: (c) => {
      c.secrets.file = secretsFile;
      c.engine.tasks.http.allowCidrs = ['127.0.0.1/32'];
    },
  });
});

afterAll(async () => {
  await server?.close();
  await new Promise((resolve) => target?.close(resolve));
});

/** Every API text about one execution: inspect, list, log pages, the audit trail. */
async function apiTexts(id: string, workflowId: string): Promise<string> {
  const parts = await Promise.all([
    server.request('GET', `/api/v1/executions/${id}`),
    server.request('GET', `/api/v1/executions?workflowId=${workflowId}`),
    server.request('GET', `/api/v1/executions/${id}/logs?limit=1000`),
    server.request('GET', `/api/v1/executions/${id}/logs?limit=1000&level=ERROR`),
    server.request('GET', '/api/v1/audit?limit=500'),
  ]);
  for (const p of parts) expect(p.status, p.text).toBe(200);
  return parts.map((p) => p.text).join('\n');
}

type Expect = { state: 'SUCCESS' | 'FAILED'; kind?: string };

/** [what, tasks (YAML), expected end] — every one runs in the `default` namespace. */
const MASKING: Array<[string, string, Expect]> = [
  ['a log line', `  - {id: t, type: log, message: "token {{ secret('TOKEN') }}"}`, { state: 'SUCCESS' }],
  ['an output value', `  - {id: t, type: output, values: {v: "{{ secret('TOKEN') }}"}}`, { state: 'SUCCESS' }],
  ['a map key in an output', `  - {id: t, type: output, values: {m: "{{ {secret('TOKEN'): 1} }}"}}`, { state: 'SUCCESS' }],
  ['a nested map key in an output', `  - {id: t, type: output, values: {m: "{{ [{'a': {secret('TOKEN'): [secret('TOKEN')]}}] }}"}}`, { state: 'SUCCESS' }],
  ['a map key rendered into a log line', `  - {id: t, type: log, message: "m={{ {secret('TOKEN'): 1} }}"}`, { state: 'SUCCESS' }],
  ['a map serialized into text (JSON-escaped)', `  - {id: t, type: log, message: "j={{ {'k': secret('TOKEN')} }}"}`, { state: 'SUCCESS' }],
  ['a list serialized into text', `  - {id: t, type: log, message: "l={{ [secret('TOKEN'), secret('TOKEN')] }}"}`, { state: 'SUCCESS' }],
  ['bytes() of the value (base64 in the output)', `  - {id: t, type: output, values: {b: "{{ bytes(secret('TOKEN')) }}"}}`, { state: 'SUCCESS' }],
  ['bytes() of the value in a log line', `  - {id: t, type: log, message: "b={{ bytes(secret('TOKEN')) }}"}`, { state: 'SUCCESS' }],
  ['string(bytes()) round trip', `  - {id: t, type: output, values: {s: "{{ string(bytes(secret('TOKEN'))) }}"}}`, { state: 'SUCCESS' }],
  ['a literal {{ }} output key (left as written)', `  - {id: t, type: output, values: {"{{ secret('TOKEN') }}": 1}}`, { state: 'SUCCESS' }],
  ['duration() quoting the value', `  - {id: t, type: output, values: {v: "{{ duration(secret('TOKEN')) }}"}}`, { state: 'FAILED', kind: 'EXPRESSION_ERROR' }],
  ['duration() arithmetic quoting the value', `  - {id: t, type: output, values: {v: "{{ duration('1s') + duration(secret('TOKEN')) }}"}}`, { state: 'FAILED', kind: 'EXPRESSION_ERROR' }],
  ['int() quoting the value', `  - {id: t, type: output, values: {v: "{{ int(secret('TOKEN')) }}"}}`, { state: 'FAILED', kind: 'EXPRESSION_ERROR' }],
  ['int() of the value with a suffix', `  - {id: t, type: output, values: {v: "{{ int(secret('TOKEN') + 'x') }}"}}`, { state: 'FAILED', kind: 'EXPRESSION_ERROR' }],
  ['double() quoting the value', `  - {id: t, type: output, values: {v: "{{ double(secret('TOKEN')) }}"}}`, { state: 'FAILED', kind: 'EXPRESSION_ERROR' }],
  ['uint() quoting the value', `  - {id: t, type: output, values: {v: "{{ uint(secret('TOKEN')) }}"}}`, { state: 'FAILED', kind: 'EXPRESSION_ERROR' }],
  ['timestamp() quoting the value', `  - {id: t, type: output, values: {v: "{{ timestamp(secret('TOKEN')) }}"}}`, { state: 'FAILED', kind: 'EXPRESSION_ERROR' }],
  ['bool() quoting the value', `  - {id: t, type: output, values: {v: "{{ bool(secret('TOKEN')) }}"}}`, { state: 'FAILED', kind: 'EXPRESSION_ERROR' }],
  ['a missing map key named by the value', `  - {id: t, type: output, values: {v: "{{ {'a': 1}[secret('TOKEN')] }}"}}`, { state: 'FAILED', kind: 'EXPRESSION_ERROR' }],
  ['a missing key of a value-keyed map', `  - {id: t, type: output, values: {v: "{{ {secret('TOKEN'): 1}['nope'] }}"}}`, { state: 'FAILED', kind: 'EXPRESSION_ERROR' }],
  ['a list index from the value', `  - {id: t, type: output, values: {v: "{{ [1, 2][int(secret('TOKEN'))] }}"}}`, { state: 'FAILED', kind: 'EXPRESSION_ERROR' }],
  ['a type error on the value', `  - {id: t, type: output, values: {v: "{{ secret('TOKEN') + 1 }}"}}`, { state: 'FAILED', kind: 'EXPRESSION_ERROR' }],
  ['a field of the value', `  - {id: t, type: output, values: {v: "{{ dyn(secret('TOKEN')).field }}"}}`, { state: 'FAILED', kind: 'EXPRESSION_ERROR' }],
  ['an if condition that is the value', `  - {id: t, type: if, condition: "{{ secret('TOKEN') }}", then: [{id: y, type: log, message: y}]}`, { state: 'FAILED' }],
  ['foreach items that are the value', `  - {id: t, type: foreach, items: "{{ secret('TOKEN') }}", tasks: [{id: one, type: log, message: x}]}`, { state: 'FAILED' }],
  ['an http method that is the value', `  - {id: t, type: http, method: "{{ secret('TOKEN') }}", url: "TARGET/x"}`, { state: 'FAILED' }],
  ['an http URL path holding the value (404 error)', `  - {id: t, type: http, url: "TARGET/{{ secret('TOKEN') }}"}`, { state: 'FAILED', kind: 'HTTP_ERROR' }],
  ['an http URL path holding the value (refused connection)', `  - {id: t, type: http, url: "CLOSED/{{ secret('TOKEN') }}", timeout: 5s}`, { state: 'FAILED' }],
  ['an http URL query holding the value', `  - {id: t, type: http, url: "TARGET/q?k={{ secret('TOKEN') }}"}`, { state: 'FAILED', kind: 'HTTP_ERROR' }],
  ['an http URL fragment holding the value', `  - {id: t, type: http, url: "TARGET/f#{{ secret('TOKEN') }}"}`, { state: 'FAILED', kind: 'HTTP_ERROR' }],
  ['an http URL user info holding the value', `  - {id: t, type: http, url: "http://u:{{ secret('TOKEN') }}@127.0.0.1:1/"}`, { state: 'FAILED' }],
  ['an http host that is the value', `  - {id: t, type: http, url: "http://{{ secret('TOKEN') }}/"}`, { state: 'FAILED' }],
  ['an http URL that is the value', `  - {id: t, type: http, url: "{{ secret('TOKEN') }}"}`, { state: 'FAILED' }],
  ['a fail message', `  - {id: t, type: fail, message: "failed with {{ secret('TOKEN') }}"}`, { state: 'FAILED' }],
];

function workflow(id: string, tasks: string, namespace?: string): string {
  const filled = tasks.replaceAll('TARGET', targetUrl).replaceAll('CLOSED', closedPortUrl);
  return `id: ${id}\n${namespace ? `namespace: ${namespace}\n` : ''}tasks:\n${filled}\nerrors:\n  - {id: handler, type: log, level: error, message: "handler saw: {{ error.message }}"}\n`;
}

describe('secret values and their encodings never surface', () => {
  it('the forms checked differ from each other for this value', () => {
    expect(new Set(Object.values(secretForms(SECRET))).size).toBeGreaterThanOrEqual(7);
  });

  it.each(MASKING)('through %s', async (_what, tasks, expected) => {
    const id = uniqueId('mask');
    const applied = await server.request('PUT', `/api/v1/workflows/${id}`, { raw: workflow(id, tasks), contentType: 'application/yaml' });
    if (applied.status === 400) {
      // refused statically (e.g. a type error the checker sees): nothing ran, nothing to leak
      expectError(applied, 400, 'INVALID_WORKFLOW');
      expectNoSecret(applied.text, ALL_VALUES, 'the apply answer');
      return;
    }
    expect([200, 201], applied.text).toContain(applied.status);
    const done = await waitTerminal(server, await start(server, id, {}));
    expect(done.state, JSON.stringify(done.error)).toBe(expected.state);
    if (expected.state === 'FAILED') {
      expect(done.error.message.length).toBeGreaterThan(0);
      if (expected.kind) expect(done.error.kind).toBe(expected.kind);
      expect(done.error.taskId).toBe('t');
    }
    expectNoSecret(JSON.stringify(done), ALL_VALUES, 'the execution');
    expectNoSecret(await apiTexts(done.id, id), ALL_VALUES, 'the API');
  });

  it('a value-keyed output map shows a masked key', async () => {
    const id = uniqueId('mask-key');
    await apply(server, id, workflow(id, `  - {id: t, type: output, values: {m: "{{ {secret('TOKEN'): 1, 'plain': 2} }}"}}`));
    const done = await waitTerminal(server, await start(server, id, {}));
    expect(done.state).toBe('SUCCESS');
    expect(done.outputs.t.m.plain).toBe(2);
    expect(Object.keys(done.outputs.t.m)).toHaveLength(2);
    expectNoSecret(Object.keys(done.outputs.t.m).join('\n'), [SECRET], 'output keys');
  });

  it.each([
    ['the value', SECRET],
    ['its URL encoding', encodeURIComponent(SECRET)],
    ['its base64', Buffer.from(SECRET).toString('base64')],
    ['the value inside other text', `before-${SECRET}-after`],
  ])('labels and inputs holding %s are masked in every response', async (_what, value) => {
    const id = uniqueId('mask-in');
    await apply(server, id, `id: ${id}\ninputs: [{id: v, type: string}]\ntasks:\n  - {id: t, type: log, message: "got {{ inputs.v }}"}\n`);
    const res = await server.request('POST', `/api/v1/workflows/${id}/executions`, { body: { inputs: { v: value }, labels: { origin: value } } });
    expect(res.status, res.text).toBe(202);
    expect(leakedForms(res.text, SECRET)).toEqual([]);
    const done = await waitTerminal(server, res.body.id);
    expect(done.state).toBe('SUCCESS');
    expectNoSecret(JSON.stringify(await inspect(server, done.id)), [SECRET], 'inspect');
    expectNoSecret(await apiTexts(done.id, id), [SECRET], 'the API');
  });

  it('the target of the http tasks really received the value (masking is not refusal)', () => {
    expect(targetSaw.some((url) => url.includes(secretForms(SECRET).urlPath) || url.includes(encodeURIComponent(SECRET)))).toBe(true);
  });
});

// ---- namespaces -----------------------------------------------------------------------------
// Adapt here if the allow-list shape differs: SECRETS_FILE above holds the configuration.

interface Outcome {
  phase: 'apply' | 'run';
  status?: number;
  code?: string;
  messages?: string[];
  state?: string;
  kind?: string;
  message?: string;
}

/** What a workflow in `namespace` sees when it evaluates `expr`, with `name` blanked out. */
async function outcome(namespace: string, expr: string, name: string, inputs: Record<string, unknown> = {}): Promise<Outcome> {
  const id = uniqueId('ns-secret');
  const yaml = `id: ${id}\nnamespace: ${namespace}\ninputs: [{id: name, type: string, required: false}]\ntasks:\n  - {id: t, type: output, values: {v: "${expr}"}}\n`;
  const res = await server.request('PUT', `/api/v1/workflows/${id}`, { raw: yaml, contentType: 'application/yaml' });
  const blank = (s: string) => s.replaceAll(name, 'NAME');
  if (res.status === 400) {
    const error = expectError(res, 400, 'INVALID_WORKFLOW');
    return { phase: 'apply', status: 400, code: error.code, messages: (error.details ?? []).map((d: { message: string }) => blank(d.message)) };
  }
  expect([200, 201], res.text).toContain(res.status);
  const done = await waitTerminal(server, await start(server, id, { inputs }));
  expectNoSecret(JSON.stringify(done), ALL_VALUES, 'the execution');
  return { phase: 'run', state: done.state, kind: done.error?.kind, message: done.error ? blank(done.error.message) : undefined };
}

describe('secrets belong to namespaces', () => {
  it.each([
    ['TEAM_A_TOKEN', 'team.a'],
    ['TEAM_A_TOKEN', 'shared'],
    ['TEAM_A_TOKEN', 'shared.eu'],
    ['DEFAULT_ONLY', 'default'],
    ['TOKEN', 'default'],
  ])('%s is readable from %s (and masked)', async (name, namespace) => {
    const got = await outcome(namespace, `{{ secret('${name}') }}`, name);
    expect(got).toEqual({ phase: 'run', state: 'SUCCESS', kind: undefined, message: undefined });
  });

  it.each([
    ['TEAM_A_TOKEN', 'team.b'],
    ['TEAM_A_TOKEN', 'team.ab'],
    ['TEAM_A_TOKEN', 'team'],
    ['TEAM_A_TOKEN', 'default'],
    ['TEAM_A_TOKEN', 'sharedx'],
    ['DEFAULT_ONLY', 'team.a'],
    ['DEFAULT_ONLY', 'default.sub'],
    ['TOKEN', 'team.a'],
    ['TOKEN', 'shared'],
  ])('a static secret(%s) from %s is refused exactly like a missing secret', async (name, namespace) => {
    const missing = `NOPE_${name}`;
    const foreign = await outcome(namespace, `{{ secret('${name}') }}`, name);
    const absent = await outcome(namespace, `{{ secret('${missing}') }}`, missing);
    expect(foreign.state === 'SUCCESS', 'the foreign secret was read').toBe(false);
    expect(foreign).toEqual(absent);
  });

  it.each([
    ['TEAM_A_TOKEN', 'team.b'],
    ['DEFAULT_ONLY', 'team.a'],
    ['TOKEN', 'team.a'],
  ])('a dynamic secret(inputs.name) = %s from %s fails at run time exactly like a missing secret', async (name, namespace) => {
    const missing = 'NO_SUCH_SECRET_AT_ALL';
    const foreign = await outcome(namespace, '{{ secret(inputs.name) }}', name, { name });
    const absent = await outcome(namespace, '{{ secret(inputs.name) }}', missing, { name: missing });
    expect(foreign.phase).toBe('run');
    expect(foreign.state).toBe('FAILED');
    expect(foreign).toEqual(absent);
  });

  it('a dynamic name built by concatenation is refused like a missing one', async () => {
    const foreign = await outcome('team.b', "{{ secret('TEAM_A' + '_TOKEN') }}", 'TEAM_A_TOKEN');
    const absent = await outcome('team.b', "{{ secret('NO_SUC' + 'H_THING') }}", 'NO_SUCH_THING');
    expect(foreign.state === 'SUCCESS').toBe(false);
    // the two sources differ, so compare what follows the quoted expression: the reason
    const reason = (o: Outcome) => ({ ...o, message: o.message?.replace(/^expression '.*?}}': /, '') });
    expect(reason(foreign)).toEqual(reason(absent));
    expect(reason(foreign).message).toBe("secret 'NAME' is not defined");
  });
});

describe('after the hostile secret cases', () => {
  it('the server log and the audit trail hold no form of any secret', async () => {
    const log = await server.logs();
    expect(log.length).toBeGreaterThan(0);
    expectNoSecret(log, ALL_VALUES, 'the server log');
    const audit = await server.request('GET', '/api/v1/audit?limit=500');
    expectNoSecret(audit.text, ALL_VALUES, 'the audit trail');
  });

  it('the server still answers /health/live and /health/ready', async () => {
    await expectHealthy(server);
  });
});
