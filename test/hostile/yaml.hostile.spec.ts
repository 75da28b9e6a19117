/**
 * Hostile workflow bodies (issue 7, "Linear parsing"; DESIGN §3/§5): every bad YAML or DSL body
 * answers 400 INVALID_WORKFLOW with details [{path, message, line?}]; bodies over the limit 413;
 * other media types 415; and whatever the shape of a body under 1 MiB (40k keys, alias bombs,
 * deep nesting, huge scalars) the answer comes within a second while /health/live keeps
 * answering within 100 ms. Nothing is stored for a refused body.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnTestServe, type ServeProcess } from '../support/cli';
import { httpClient, startTestServer, type TestServer } from '../support/server';
import { expectClientError, expectError, put, uniqueId, YAML } from '../e2e/helpers';
import { expectHealthy, MiB, probeWhile, timed } from './hostile-helpers';

/** What the issue asks of one apply, whatever the body's shape. */
const APPLY_BUDGET_MS = 1000;
/** What a probe may take while an apply runs. */
const PROBE_BUDGET_MS = 100;

/**
 * A real `autokestra serve` process: there, large sources are parsed on a worker thread (an
 * in-process test server, running from the TypeScript sources, parses inline), and the probes
 * below measure the server's event loop, not the test runner's.
 */
let serve: ServeProcess;
let server: TestServer;

beforeAll(async () => {
  const served = await spawnTestServe({}, 'autokestra-hostile-yaml-');
  serve = served;
  server = { url: serve.url, key: served.key, request: httpClient(serve.url, served.key) } as unknown as TestServer;
});

afterAll(() => {
  serve?.child.kill('SIGKILL');
});

/** Asserts the INVALID_WORKFLOW answer and the shape of every detail; returns the details. */
function expectInvalidWorkflow(res: Awaited<ReturnType<typeof put>>): Array<{ path: string; message: string; line?: number }> {
  const error = expectError(res, 400, 'INVALID_WORKFLOW');
  expect(Array.isArray(error.details), res.text).toBe(true);
  expect(error.details.length, res.text).toBeGreaterThan(0);
  for (const detail of error.details) {
    expect(typeof detail.path, res.text).toBe('string');
    expect(typeof detail.message, res.text).toBe('string');
    expect(detail.message.length).toBeGreaterThan(0);
    if (detail.line !== undefined) {
      expect(Number.isInteger(detail.line) && detail.line >= 1, res.text).toBe(true);
    }
    for (const key of Object.keys(detail)) expect(['path', 'message', 'line']).toContain(key);
  }
  return error.details;
}

async function expectNotStored(id: string): Promise<void> {
  const res = await server.request('GET', `/api/v1/workflows/${id}`);
  expectError(res, 404, 'NOT_FOUND');
}

const task = '  - {id: a, type: log, message: hello}';
const body = (id: string, ...lines: string[]) => [`id: ${id}`, ...lines].join('\n') + '\n';
const nestFlowSeq = (depth: number) => `${'['.repeat(depth)}1${']'.repeat(depth)}`;
const nestFlowMap = (depth: number) => `${'{a: '.repeat(depth)}1${'}'.repeat(depth)}`;
function nestBlock(depth: number): string {
  const lines: string[] = [];
  for (let i = 0; i < depth; i++) lines.push(`${'  '.repeat(i + 1)}k${i}:`);
  lines.push(`${'  '.repeat(depth + 1)}leaf`);
  return lines.join('\n');
}
function billionLaughs(levels: number, fanout: number): string {
  const lines = ['l0: &l0 "lol"'];
  for (let i = 1; i <= levels; i++) lines.push(`l${i}: &l${i} [${Array.from({ length: fanout }, () => `*l${i - 1}`).join(', ')}]`);
  return lines.map((l) => `  ${l}`).join('\n');
}

/** [what, yaml(id)] — each must be refused with INVALID_WORKFLOW. */
const INVALID: Array<[string, (id: string) => string]> = [
  ['an unclosed double-quoted string', (id) => body(id, 'tasks:', '  - {id: a, type: log, message: "oops}')],
  ['an unclosed single-quoted string', (id) => body(id, 'description: \'never closed', 'tasks:', task)],
  ['an unclosed flow sequence', (id) => body(id, 'tasks: [{id: a, type: log, message: x}')],
  ['an unclosed flow mapping', (id) => body(id, 'tasks:', '  - {id: a, type: log, message: x')],
  ['tab indentation', (id) => body(id, 'tasks:', '\t- {id: a, type: log, message: x}')],
  ['inconsistent indentation', (id) => body(id, 'tasks:', '  - id: a', '     type: log', '    message: x')],
  ['a stray closing bracket', (id) => body(id, 'tasks: ]', task)],
  ['a mapping value where none is allowed', (id) => body(id, 'description: a: b: c', 'tasks:', task)],
  ['two YAML documents', (id) => body(id, 'tasks:', task, '---', `id: ${id}`, 'tasks:', task)],
  ['a duplicate top-level key', (id) => body(id, 'tasks:', task, 'tasks:', task)],
  ['a duplicate key inside a task', (id) => body(id, 'tasks:', '  - {id: a, type: log, message: x, message: y}')],
  ['a duplicate label key', (id) => body(id, 'labels: {team: a, team: b}', 'tasks:', task)],
  ['a duplicate key written once plain and once quoted', (id) => body(id, 'labels: {team: a, "team": b}', 'tasks:', task)],
  ['a duplicate key after 5,000 distinct ones', (id) => body(id, 'variables:', Array.from({ length: 5000 }, (_, i) => `  v${i}: x`).join('\n'), '  v17: again', 'tasks:', task)],
  ['a duplicate `id` key', (id) => body(id, `id: ${id}`, 'tasks:', task)],
  ['a custom tag', (id) => body(id, 'description: !custom x', 'tasks:', task)],
  ['a js/function tag', (id) => body(id, 'description: !!js/function "function () { return process.exit(1) }"', 'tasks:', task)],
  ['a binary tag', (id) => body(id, 'description: !!binary aGVsbG8=', 'tasks:', task)],
  ['a set tag', (id) => body(id, 'labels: !!set {a, b}', 'tasks:', task)],
  ['a __proto__ key at the top level', (id) => body(id, '__proto__: {polluted: true}', 'tasks:', task)],
  ['a __proto__ key in labels', (id) => body(id, 'labels: {__proto__: {polluted: "yes"}}', 'tasks:', task)],
  ['a __proto__ key in output values', (id) => body(id, 'tasks:', '  - {id: o, type: output, values: {__proto__: {polluted: 1}}}')],
  ['a constructor.prototype mapping in labels', (id) => body(id, 'labels: {constructor: {prototype: {polluted: "yes"}}}', 'tasks:', task)],
  ['a scalar document', () => 'just a string\n'],
  ['a sequence document', () => '- a\n- b\n'],
  ['a null document', () => '~\n'],
  ['a comment-only document', () => '# nothing here\n'],
  ['no tasks', (id) => body(id)],
  ['an empty task list', (id) => body(id, 'tasks: []')],
  ['a task list that is a mapping', (id) => body(id, 'tasks: {a: 1}')],
  ['an unknown task type', (id) => body(id, 'tasks:', '  - {id: a, type: nope}')],
  ['duplicate task ids', (id) => body(id, 'tasks:', task, task)],
  ['an unknown top-level key', (id) => body(id, 'taskz: []', 'tasks:', task)],
  ['a bare-number duration', (id) => body(id, 'tasks:', '  - {id: a, type: sleep, duration: 5}')],
  ['a negative duration', (id) => body(id, 'tasks:', '  - {id: a, type: sleep, duration: -5s}')],
  ['a cron that does not parse', (id) => body(id, 'tasks:', task, 'triggers:', '  - {id: t, type: schedule, cron: "61 * * * *"}')],
  ['an unknown time zone', (id) => body(id, 'tasks:', task, 'triggers:', '  - {id: t, type: schedule, cron: "0 2 * * *", timezone: Mars/Olympus}')],
  ['a task id with a space', (id) => body(id, 'tasks:', '  - {id: "a b", type: log, message: x}')],
  ['a namespace with path traversal', (id) => body(id, 'namespace: ../../etc', 'tasks:', task)],
  ['a non-finite number (.inf)', (id) => body(id, 'variables: {x: .inf}', 'tasks:', task)],
  ['a non-finite number (.nan)', (id) => body(id, 'variables: {x: .nan}', 'tasks:', task)],
  ['a billion-laughs alias bomb', (id) => body(id, 'variables:', billionLaughs(9, 10), 'tasks:', task)],
  ['a wide alias bomb (one anchor, 10,000 aliases)', (id) => body(id, 'variables:', '  a: &a [x, x, x, x, x, x, x, x, x, x]', `  b: [${Array.from({ length: 10_000 }, () => '*a').join(',')}]`, 'tasks:', task)],
  ['an alias to an undefined anchor', (id) => body(id, 'description: *nowhere', 'tasks:', task)],
  ['a merge-key bomb', (id) => body(id, 'variables:', '  base: &b {x: 1, y: 2}', `  merged: {<<: [${Array.from({ length: 500 }, () => '*b').join(', ')}]}`, 'tasks:', task)],
  ['65 levels of flow sequences', (id) => body(id, `variables: {x: ${nestFlowSeq(65)}}`, 'tasks:', task)],
  ['65 levels of flow mappings', (id) => body(id, `variables: {x: ${nestFlowMap(65)}}`, 'tasks:', task)],
  ['70 levels of block mappings', (id) => body(id, 'variables:', nestBlock(70), 'tasks:', task)],
  ['100,000 levels of flow sequences', (id) => body(id, `variables: {x: ${nestFlowSeq(100_000)}}`, 'tasks:', task)],
  ['100,000 levels of flow mappings', (id) => body(id, `variables: {x: ${nestFlowMap(100_000)}}`, 'tasks:', task)],
  ['an expression with a syntax error', (id) => body(id, 'tasks:', '  - {id: a, type: log, message: "{{ 1 + }}"}')],
  ['an expression with an unknown variable', (id) => body(id, 'tasks:', '  - {id: a, type: log, message: "{{ process.env }}"}')],
  ['an expression calling an unknown function', (id) => body(id, 'tasks:', '  - {id: a, type: log, message: "{{ require(\'fs\') }}"}')],
  ['a reference to the output of a later task', (id) => body(id, 'tasks:', '  - {id: a, type: log, message: "{{ outputs.b.x }}"}', '  - {id: b, type: output, values: {x: 1}}')],
  ['comprehensions nested three deep', (id) => body(id, 'tasks:', '  - {id: a, type: log, message: "{{ [1].map(a, [1].map(b, [1].map(c, c))) }}"}')],
  ['a matches() pattern that is not a literal', (id) => body(id, 'inputs: [{id: p, type: string}]', 'tasks:', '  - {id: a, type: log, message: "{{ \'x\'.matches(inputs.p) }}"}')],
  ['an expression longer than 64 KiB', (id) => body(id, 'tasks:', `  - {id: a, type: log, message: "{{ ${Array.from({ length: 14_000 }, () => '1').join(' + ')} }}"}`)],
  ['a list literal of 1,001 elements', (id) => body(id, 'tasks:', `  - {id: a, type: log, message: "{{ size([${Array.from({ length: 1001 }, (_, i) => i).join(',')}]) }}"}`)],
  ['an expression nested 100 parentheses deep', (id) => body(id, 'tasks:', `  - {id: a, type: log, message: "{{ ${'('.repeat(100)}1${')'.repeat(100)} }}"}`)],
  ['1,001 tasks', (id) => body(id, 'tasks:', Array.from({ length: 1001 }, (_, i) => `  - {id: t${i}, type: log, message: x}`).join('\n'))],
  ['an http task with a URL that does not parse', (id) => body(id, 'tasks:', '  - {id: a, type: http, url: "http://[::1"}')],
  ['a huge root scalar (900 KiB)', () => `${'x'.repeat(900 * 1024)}\n`],
];

describe('bad YAML and DSL bodies answer 400 INVALID_WORKFLOW and store nothing', () => {
  it.each(INVALID)('refuses %s', async (_what, make) => {
    const id = uniqueId('bad');
    const yaml = make(id);
    expect(Buffer.byteLength(yaml)).toBeLessThan(MiB);
    const { value: res, ms } = await timed(() => put(server, id, yaml));
    expectInvalidWorkflow(res);
    expect(ms, 'answered within the apply budget').toBeLessThan(APPLY_BUDGET_MS);
    await expectNotStored(id);
  });

  it('names the duplicate key with its line', async () => {
    const id = uniqueId('dup');
    const details = expectInvalidWorkflow(await put(server, id, body(id, 'labels:', '  team: a', '  team: b', 'tasks:', task)));
    const dup = details.find((d) => /duplicate|unique/i.test(d.message));
    expect(dup, JSON.stringify(details)).toBeDefined();
    expect(dup!.line).toBe(4);
  });

  it('leaves Object.prototype alone after __proto__ and constructor bodies', () => {
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.prototype.hasOwnProperty.call(Object.prototype, 'polluted')).toBe(false);
  });
});

describe('an id that differs from the path answers 400 WORKFLOW_ID_MISMATCH', () => {
  it.each([
    ['another id', (id: string) => body(`${id}-other`, 'tasks:', task)],
    ['the same id in another case', (id: string) => body(id.toUpperCase(), 'tasks:', task)],
    ['the same id with a trailing dot', (id: string) => body(`${id}.`, 'tasks:', task)],
  ])('refuses %s', async (_what, make) => {
    const id = uniqueId('mismatch');
    expectError(await put(server, id, make(id)), 400, 'WORKFLOW_ID_MISMATCH');
    await expectNotStored(id);
  });
});

describe('an empty body is refused in the error shape', () => {
  it.each([
    ['no bytes', ''],
    ['only whitespace', '   \n\n  '],
  ])('refuses %s', async (_what, raw) => {
    const id = uniqueId('empty');
    expectClientError(await put(server, id, raw), { 400: 'INVALID_WORKFLOW' });
    await expectNotStored(id);
  });
});

describe('bodies over server.bodyLimitBytes answer 413 PAYLOAD_TOO_LARGE', () => {
  const justOver = `description: "${'x'.repeat(MiB)}"\n`;
  it.each([
    ['application/yaml, 1 MiB + a few bytes', YAML, justOver],
    ['text/yaml, 1 MiB + a few bytes', 'text/yaml', justOver],
    ['application/x-yaml, 1 MiB + a few bytes', 'application/x-yaml', justOver],
    ['application/yaml, 5 MiB', YAML, 'x'.repeat(5 * MiB)],
    ['application/yaml; charset=utf-8, 2 MiB of keys', 'application/yaml; charset=utf-8', Array.from({ length: 200_000 }, (_, i) => `k${i}: v`).join('\n')],
  ])('refuses %s', async (_what, contentType, raw) => {
    // In-process: a separate process answers 413 from Content-Length and closes while fetch
    // still writes the body, and fetch then reports the EPIPE instead of the answer it got.
    const inProcess = await startTestServer();
    try {
      const id = uniqueId('big');
      expectError(await put(inProcess, id, raw, contentType), 413, 'PAYLOAD_TOO_LARGE');
      expectError(await inProcess.request('GET', `/api/v1/workflows/${id}`), 404, 'NOT_FOUND');
    } finally {
      await inProcess.close();
    }
  });
});

describe('other media types on apply answer 415 UNSUPPORTED_MEDIA_TYPE', () => {
  it('refuses a JSON workflow sent as application/json', async () => {
    const id = uniqueId('media');
    const json = JSON.stringify({ id, tasks: [{ id: 'a', type: 'log', message: 'hello' }] });
    expectError(await put(server, id, json, 'application/json'), 415, 'UNSUPPORTED_MEDIA_TYPE');
    await expectNotStored(id);
  });

  it.each([
    'text/plain',
    'application/x-www-form-urlencoded',
    'multipart/form-data; boundary=x',
    'text/html',
    'application/octet-stream',
    'application/yaml-patch+json',
    'yaml',
  ])('refuses %s', async (contentType) => {
    const id = uniqueId('media');
    expectError(await put(server, id, body(id, 'tasks:', task), contentType), 415, 'UNSUPPORTED_MEDIA_TYPE');
    await expectNotStored(id);
  });
});

/** Bodies just under 1 MiB whose shapes made parsing superlinear. Each is refused (INVALID_WORKFLOW). */
const HEAVY: Array<[string, (id: string) => string]> = [
  ['40,000 keys in one mapping ending with a duplicate', (id) => body(id, 'labels:', Array.from({ length: 40_000 }, (_, i) => `  k${i}: v`).join('\n'), '  k0: again', 'tasks:', task)],
  ['40,000 keys in one flow mapping ending with a duplicate', (id) => body(id, `labels: {${Array.from({ length: 40_000 }, (_, i) => `k${i}: v`).join(', ')}, k1: again}`, 'tasks:', task)],
  ['40,000 unknown top-level keys', (id) => body(id, Array.from({ length: 40_000 }, (_, i) => `unknown${i}: v`).join('\n'), 'tasks:', task)],
  ['30,000 keys with long names ending with a duplicate', (id) => body(id, 'variables:', Array.from({ length: 30_000 }, (_, i) => `  key_with_a_long_name_${i}: 1`).join('\n'), '  key_with_a_long_name_5: 2', 'tasks:', task)],
  ['20,000 tasks', (id) => body(id, 'tasks:', Array.from({ length: 20_000 }, (_, i) => `  - {id: t${i}, type: log, message: x}`).join('\n'))],
  ['100,000 anchors and aliases', (id) => body(id, 'variables:', Array.from({ length: 50_000 }, (_, i) => `  a${i}: &a${i} x\n  b${i}: *a${i}`).join('\n').slice(0, 900 * 1024).replace(/\n[^\n]*$/, ''), 'tasks:', task)],
  ['a 900 KiB description next to an unknown task type', (id) => body(id, `description: "${'d'.repeat(900 * 1024)}"`, 'tasks:', '  - {id: a, type: nope}')],
  ['a 900 KiB comment and no tasks', (id) => body(id, `# ${'c'.repeat(900 * 1024)}`)],
  ['500,000 levels of flow nesting', (id) => body(id, `variables: {x: ${nestFlowSeq(500_000)}}`, 'tasks:', task)],
  ['200,000 one-character list items under an unknown key', (id) => body(id, `junk: [${Array.from({ length: 200_000 }, () => '1').join(',')}]`, 'tasks:', task)],
];

describe('any body under 1 MiB is answered within a second, and health answers meanwhile', () => {
  it.each(HEAVY)('refuses %s within the budget while /health/live answers', async (_what, make) => {
    const id = uniqueId('heavy');
    const yaml = make(id);
    expect(Buffer.byteLength(yaml)).toBeLessThanOrEqual(MiB);
    const { value, maxProbeMs, failed } = await probeWhile(server, () => timed(() => put(server, id, yaml)));
    expectInvalidWorkflow(value.value);
    expect(value.ms, 'apply answered within the budget').toBeLessThan(APPLY_BUDGET_MS);
    expect(failed, 'every probe answered 200').toBe(0);
    expect(maxProbeMs, 'the slowest /health/live probe during the apply').toBeLessThan(PROBE_BUDGET_MS);
    await expectNotStored(id);
  });

  it('still accepts a valid workflow afterwards', async () => {
    const id = uniqueId('ok');
    const res = await put(server, id, body(id, 'tasks:', task));
    expect(res.status, res.text).toBe(201);
  });
});

describe('after the hostile YAML cases', () => {
  it('the server still answers /health/live and /health/ready', async () => {
    await expectHealthy(server);
  });
});
