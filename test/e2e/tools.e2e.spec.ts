/**
 * The REST face of the tool surface (issue 8 §1–3 and §5, docs/tools.md): `/api/v1/tools` list,
 * describe and invoke (with dryRun, wait, Idempotency-Key), the built-in tools, the scope ×
 * namespace matrix (invisible = NOT_FOUND, never FORBIDDEN, never suggested), the `tool.invoke`
 * audit trail, argument values kept out of every log line and audit entry, and every generated
 * schema checked with Ajv's 2020-12 mode. Real server, real SQLite file; keys minted through
 * the admin API.
 */
import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sleep, startTestServer, type RequestOptions, type TestResponse, type TestServer } from '../support/server';
import { allAudit, createKey, dumpTable, expectForbidden, KEY_IN_TEXT, waitForAudit, type CreatedKey } from './access-helpers';
import { expectClientError, expectError, rawRequest } from './helpers';
import { waitFor } from './engine-helpers';

let server: TestServer;

/** one suffix per run: tool names are unique across workflows */
const S = Math.random().toString(36).slice(2, 7);
const NS_A = 'agents.a';
const NS_B = 'agents.b';

const BUILTINS = ['get_execution', 'get_execution_logs', 'cancel_execution', 'dry_run_tool'];
const BUILTIN_SCOPE: Record<string, string | null> = {
  get_execution: 'executions:read',
  get_execution_logs: 'logs:read',
  cancel_execution: 'executions:write',
  dry_run_tool: null,
};

const DESCRIPTOR_KEYS = ['name', 'title', 'description', 'inputSchema', 'outputSchema', 'annotations', 'workflowId', 'namespace'];
const RESULT_KEYS = ['durationMs', 'error', 'executionId', 'outputs', 'status'];

/** workflow id → tool name, for each fixture */
const T = {
  fast: { wf: `tt-fast-${S}`, name: `tt_fast_${S}` },
  noout: { wf: `tt-noout-${S}`, name: `tt-noout-${S}` }, // no tool.name: the workflow id is the name
  slow: { wf: `tt-slow-${S}`, name: `tt_slow_${S}` },
  clamp: { wf: `tt-clamp-${S}`, name: `tt_clamp_${S}` },
  fail: { wf: `tt-fail-${S}`, name: `tt_fail_${S}` },
  idem: { wf: `tt-idem-${S}`, name: `tt_idem_${S}` },
  dry: { wf: `tt-dry-${S}`, name: `tt_dry_${S}` },
  secret: { wf: `tt-secret-${S}`, name: `tt_secret_${S}` },
  report: { wf: `tt-report-${S}`, name: `tt_report_${S}` }, // agents.a
  reporx: { wf: `tt-reporx-${S}`, name: `tt_reporx_${S}` }, // agents.b, one edit away from report
  bfast: { wf: `tt-bfast-${S}`, name: `tt_bfast_${S}` }, // agents.b
  off: { wf: `tt-off-${S}`, name: `tt_off_${S}` }, // disabled
  plain: { wf: `tt-plain-${S}` }, // not a tool
};

const FAST_YAML = `id: ${T.fast.wf}
namespace: ${NS_A}
description: The workflow's own description
inputs:
  - {id: day, type: datetime, required: true, description: "The day to total (UTC)"}
  - {id: limit, type: integer, default: 10, description: "How many top products"}
  - {id: note, type: string, required: true}
  - {id: ratio, type: number}
  - {id: flag, type: boolean, default: false}
  - {id: payload, type: json, schema: {type: object, properties: {k: {type: string}}, required: [k], additionalProperties: false}}
  - {id: blob, type: json}
outputs:
  - {id: total, type: integer, value: "{{ outputs.sum.total }}", description: "Twice the limit"}
  - {id: echo, type: string, value: "{{ outputs.sum.note }}"}
tool:
  name: ${T.fast.name}
  title: Fast tool
  description: Doubles the limit and echoes the note
  annotations: {readOnlyHint: true, idempotentHint: true, destructiveHint: false, openWorldHint: false}
  wait: 10s
tasks:
  - {id: sum, type: output, values: {total: "{{ inputs.limit * 2 }}", note: "{{ inputs.note }}"}}
  - {id: say, type: log, message: summed}
`;

const NOOUT_YAML = `id: ${T.noout.wf}
namespace: ${NS_A}
description: No outputs declared, tool description defaulted
tool:
  wait: 10s
tasks:
  - {id: t, type: output, values: {x: "{{ 20 + 22 }}"}}
  - {id: say, type: log, message: done}
`;

const simpleTool = (f: { wf: string; name: string }, namespace: string, extra = '', tasks = '  - {id: t, type: output, values: {x: "1"}}\n') =>
  `id: ${f.wf}\nnamespace: ${namespace}\n${extra}tool:\n  name: ${f.name}\n  description: Tool ${f.name}\n  wait: 10s\ntasks:\n${tasks}`;

const SLOW_YAML = `id: ${T.slow.wf}
namespace: ${NS_A}
tool: {name: ${T.slow.name}, description: Sleeps two seconds, wait: 30s}
tasks:
  - {id: nap, type: sleep, duration: 2s}
  - {id: t, type: output, values: {x: "slept"}}
`;

const CLAMP_YAML = `id: ${T.clamp.wf}
namespace: ${NS_A}
tool: {name: ${T.clamp.name}, description: Sleeps longer than its own wait, wait: 1s}
tasks:
  - {id: nap, type: sleep, duration: 4s}
`;

const FAIL_YAML = `id: ${T.fail.wf}
namespace: ${NS_A}
tool: {name: ${T.fail.name}, description: Always fails, wait: 10s}
tasks:
  - {id: explode, type: fail, message: "boom by design"}
`;

const IDEM_YAML = `id: ${T.idem.wf}
namespace: ${NS_A}
inputs:
  - {id: n, type: integer, required: true}
tool: {name: ${T.idem.name}, description: Idempotency fixture, wait: 10s}
tasks:
  - {id: t, type: output, values: {n: "{{ inputs.n }}"}}
`;

const DRY_YAML = `id: ${T.dry.wf}
namespace: ${NS_A}
inputs:
  - {id: day, type: datetime, required: true}
  - {id: limit, type: integer, default: 7}
tool: {name: ${T.dry.name}, description: Dry-run fixture, wait: 3s}
tasks:
  - {id: first, type: output, values: {x: "1"}}
  - {id: second, type: log, message: second}
`;

/** The tasks never touch the arguments: any copy of a value in a log line comes from the surface. */
const SECRET_YAML = `id: ${T.secret.wf}
namespace: ${NS_A}
inputs:
  - {id: token, type: string, required: true}
  - {id: count, type: integer, default: 1}
tool: {name: ${T.secret.name}, description: Takes an argument it never logs, wait: 10s}
tasks:
  - {id: say, type: log, message: constant message}
  - {id: t, type: output, values: {ok: "yes"}}
`;

const PLAIN_YAML = `id: ${T.plain.wf}
namespace: ${NS_A}
tasks:
  - {id: t, type: log, message: not a tool}
`;

async function apply(id: string, yaml: string): Promise<void> {
  const res = await server.request('PUT', `/api/v1/workflows/${id}`, { raw: yaml, contentType: 'application/yaml' });
  expect([200, 201], `apply ${id}: ${res.status} ${res.text}`).toContain(res.status);
}

function call(method: string, path: string, auth?: string, init: RequestOptions = {}): Promise<TestResponse> {
  return server.request(method, path, { ...init, auth: auth ?? init.auth });
}

function invoke(name: string, body?: unknown, auth?: string, headers: Record<string, string> = {}): Promise<TestResponse> {
  return call('POST', `/api/v1/tools/${encodeURIComponent(name)}`, auth, { body, headers });
}

/** Every tool visible to `auth` (pages with the maximum limit). */
async function listAll(auth?: string, query = ''): Promise<any[]> {
  const items: any[] = [];
  for (let offset = 0; ; offset += 200) {
    const res = await call('GET', `/api/v1/tools?limit=200&offset=${offset}${query}`, auth);
    expect(res.status, res.text).toBe(200);
    items.push(...res.body.items);
    if (!res.body.hasMore) return items;
  }
}

const names = (items: any[]) => items.map((t) => t.name);

/** The id of the newest execution of a workflow, once there is one created in the last 5 s. */
async function eventuallyNewestOf(workflowId: string): Promise<string> {
  const since = new Date(Date.now() - 5000).toISOString();
  for (let i = 0; i < 200; i++) {
    const items = await executionsOf(workflowId);
    if (items.length > 0 && items[0].createdAt >= since) return items[0].id;
    await sleep(20);
  }
  throw new Error(`no new execution of ${workflowId}`);
}

async function executionsOf(workflowId: string): Promise<any[]> {
  const res = await server.request('GET', `/api/v1/executions?workflowId=${workflowId}&limit=500`);
  expect(res.status, res.text).toBe(200);
  return res.body.items;
}

/** Walks a schema: no `type` arrays anywhere (several LLM clients reject them). */
function typeArrays(schema: unknown, path = '$'): string[] {
  if (!schema || typeof schema !== 'object') return [];
  const found: string[] = [];
  if (Array.isArray((schema as any).type)) found.push(path);
  for (const [k, v] of Object.entries(schema as object)) {
    if (v && typeof v === 'object') found.push(...typeArrays(v, `${path}.${k}`));
  }
  return found;
}

function newAjv(): Ajv2020 {
  const ajv = new Ajv2020({ strict: true, allErrors: true });
  addFormats(ajv);
  return ajv;
}

/** Asserts the JSON Schema rules of issue 8 §2 for one object schema and returns it compiled. */
function checkObjectSchema(schema: any, context: string) {
  expect(schema, context).toBeTypeOf('object');
  expect(schema.type, context).toBe('object');
  expect(schema, context).not.toHaveProperty('anyOf');
  expect(schema, context).not.toHaveProperty('oneOf');
  expect(typeArrays(schema), context).toEqual([]);
  const ajv = newAjv();
  expect(ajv.validateSchema(schema), `${context}: ${ajv.errorsText(ajv.errors)}`).toBe(true);
  return ajv.compile(schema);
}

const keys: Record<string, CreatedKey> = {};

beforeAll(async () => {
  server = await startTestServer({
    configure: (c) => {
      c.engine.workers = 32;
    },
  });
  await apply(T.fast.wf, FAST_YAML);
  await apply(T.noout.wf, NOOUT_YAML);
  await apply(T.slow.wf, SLOW_YAML);
  await apply(T.clamp.wf, CLAMP_YAML);
  await apply(T.fail.wf, FAIL_YAML);
  await apply(T.idem.wf, IDEM_YAML);
  await apply(T.dry.wf, DRY_YAML);
  await apply(T.secret.wf, SECRET_YAML);
  await apply(T.report.wf, simpleTool(T.report, NS_A));
  await apply(T.reporx.wf, simpleTool(T.reporx, NS_B));
  await apply(T.bfast.wf, simpleTool(T.bfast, NS_B));
  await apply(T.off.wf, simpleTool(T.off, NS_A));
  await apply(T.plain.wf, PLAIN_YAML);

  keys.admin = await createKey(server, { scopes: ['admin'] });
  keys.invokeOnly = await createKey(server, { scopes: ['tools:invoke'] });
  keys.invokeRead = await createKey(server, { scopes: ['tools:invoke', 'executions:read'] });
  keys.invokeAll = await createKey(server, { scopes: ['tools:invoke', 'executions:read', 'executions:write', 'logs:read'] });
  keys.nsA = await createKey(server, { scopes: ['tools:invoke', 'executions:read'], namespaces: [NS_A] });
  keys.noInvoke = await createKey(server, { scopes: ['workflows:read', 'executions:read', 'executions:write', 'logs:read', 'audit:read'] });
});

afterAll(async () => {
  await server?.close();
});

// ---------------------------------------------------------------------------------------------
describe('GET /api/v1/tools (list)', () => {
  it('lists built-ins first, then workflow tools ordered by name, with the descriptor fields', async () => {
    const items = await listAll();
    const list = names(items);
    expect(list.slice(0, 4).sort()).toEqual([...BUILTINS].sort());
    const workflowTools = items.slice(4);
    expect(workflowTools.length).toBeGreaterThan(0);
    for (const t of workflowTools) expect(t.workflowId, t.name).not.toBeNull();
    expect(names(workflowTools)).toEqual([...names(workflowTools)].sort());
    for (const t of items) {
      for (const k of Object.keys(t)) expect(DESCRIPTOR_KEYS, `${t.name}: ${k}`).toContain(k);
      expect(typeof t.name).toBe('string');
      expect(t.name).toMatch(/^[A-Za-z0-9_-]{1,64}$/);
      expect(typeof t.description, t.name).toBe('string');
      expect(t.description.length, t.name).toBeGreaterThan(0);
      expect(t.annotations, t.name).toBeTypeOf('object');
      expect(t, t.name).toHaveProperty('workflowId');
      expect(t, t.name).toHaveProperty('namespace');
    }
    for (const b of items.slice(0, 4)) {
      expect(b.workflowId, b.name).toBeNull();
      expect(b.namespace, b.name).toBeNull();
    }
    for (const f of [T.fast, T.noout, T.slow, T.clamp, T.fail, T.idem, T.dry, T.secret, T.report, T.reporx, T.bfast]) expect(list).toContain(f.name);
  });

  it('maps the workflow to its descriptor: name, title, description, annotations, workflowId, namespace', async () => {
    const fast = (await listAll()).find((t) => t.name === T.fast.name);
    expect(fast).toMatchObject({
      name: T.fast.name,
      title: 'Fast tool',
      description: 'Doubles the limit and echoes the note',
      annotations: { readOnlyHint: true, idempotentHint: true, destructiveHint: false, openWorldHint: false },
      workflowId: T.fast.wf,
      namespace: NS_A,
    });
  });

  it('defaults the tool name to the workflow id and the description to the workflow description', async () => {
    const res = await call('GET', `/api/v1/tools/${T.noout.wf}`);
    expect(res.status, res.text).toBe(200);
    expect(res.body.name).toBe(T.noout.wf);
    expect(res.body.description).toBe('No outputs declared, tool description defaulted');
    expect(res.body.workflowId).toBe(T.noout.wf);
  });

  it('builds the inputSchema of issue 8 §2 (types, required, defaults, descriptions, json schema)', async () => {
    const res = await call('GET', `/api/v1/tools/${T.fast.name}`);
    expect(res.status, res.text).toBe(200);
    const schema = res.body.inputSchema;
    expect(schema.type).toBe('object');
    expect(schema.additionalProperties).toBe(false);
    expect([...schema.required].sort()).toEqual(['day', 'note']);
    expect(schema.properties).toEqual({
      day: { type: 'string', format: 'date-time', description: 'The day to total (UTC)' },
      limit: { type: 'integer', default: 10, description: 'How many top products' },
      note: { type: 'string' },
      ratio: { type: 'number' },
      flag: { type: 'boolean', default: false },
      payload: { type: 'object', properties: { k: { type: 'string' } }, required: ['k'], additionalProperties: false },
      blob: {},
    });
    const validate = checkObjectSchema(schema, 'fast inputSchema');
    expect(validate({ day: '2026-01-31T00:00:00Z', note: 'n', payload: { k: 'v' }, blob: [1, 'x'] }), JSON.stringify(validate.errors)).toBe(true);
    expect(validate({ note: 'n' })).toBe(false); // day missing
    expect(validate({ day: '2026-01-31T00:00:00Z', note: 'n', extra: 1 })).toBe(false); // additionalProperties
    expect(validate({ day: '2026-01-31T00:00:00Z', note: 'n', limit: 1.5 })).toBe(false); // integer
    expect(validate({ day: '2026-01-31T00:00:00Z', note: 'n', payload: { k: 5 } })).toBe(false); // the declared json schema
  });

  it('has an outputSchema only when the workflow declares outputs:', async () => {
    const fast = (await call('GET', `/api/v1/tools/${T.fast.name}`)).body;
    expect(fast.outputSchema).toBeTypeOf('object');
    expect(fast.outputSchema.type).toBe('object');
    // docs/tools.md: the outputSchema describes the whole answer; `outputs` holds the declared outputs
    const outputs = fast.outputSchema.properties.outputs;
    expect(outputs.type).toBe('object');
    expect(outputs.properties.total).toMatchObject({ type: 'integer', description: 'Twice the limit' });
    expect(outputs.properties.echo).toMatchObject({ type: 'string' });
    expect(Object.keys(outputs.properties).sort()).toEqual(['echo', 'total']);
    checkObjectSchema(fast.outputSchema, 'fast outputSchema');
    const noout = await call('GET', `/api/v1/tools/${T.noout.name}`);
    expect(noout.status, noout.text).toBe(200);
    expect(noout.body).not.toHaveProperty('outputSchema');
  });

  it('every listed inputSchema and outputSchema is valid JSON Schema 2020-12 (Ajv) with the root rules', async () => {
    const items = await listAll();
    expect(items.length).toBeGreaterThan(4);
    for (const t of items) {
      const validate = checkObjectSchema(t.inputSchema, `${t.name} inputSchema`);
      expect(validate).toBeTypeOf('function');
      if (t.workflowId !== null) expect(t.inputSchema.additionalProperties, t.name).toBe(false);
      if (t.outputSchema !== undefined) checkObjectSchema(t.outputSchema, `${t.name} outputSchema`);
    }
  });

  it('pages with limit/offset/hasMore: defaults 50/0, maximum 500 (as every list)', async () => {
    const all = await listAll();
    const def = await call('GET', '/api/v1/tools');
    expect(def.status, def.text).toBe(200);
    expect(Object.keys(def.body).sort()).toEqual(['hasMore', 'items', 'limit', 'offset']);
    expect(def.body.limit).toBe(50);
    expect(def.body.offset).toBe(0);
    const first = await call('GET', '/api/v1/tools?limit=2&offset=0');
    expect(first.body.items.map((t: any) => t.name)).toEqual(names(all).slice(0, 2));
    expect(first.body.hasMore).toBe(true);
    const second = await call('GET', '/api/v1/tools?limit=2&offset=3');
    expect(second.body.items.map((t: any) => t.name)).toEqual(names(all).slice(3, 5));
    const last = await call('GET', `/api/v1/tools?limit=2&offset=${all.length - 1}`);
    expect(last.body.items.map((t: any) => t.name)).toEqual(names(all).slice(-1));
    expect(last.body.hasMore).toBe(false);
    const past = await call('GET', `/api/v1/tools?limit=2&offset=${all.length + 10}`);
    expect(past.status).toBe(200);
    expect(past.body.items).toEqual([]);
    expect(past.body.hasMore).toBe(false);
    const queries = ['limit=501', 'limit=0', 'offset=-1', 'limit=abc', 'bogus=1'];
    const answers: string[] = [];
    for (const q of queries) {
      const res = await call('GET', `/api/v1/tools?${q}`);
      answers.push(`${q}: ${res.status} ${res.body?.error?.code ?? `limit=${res.body?.limit}`}`);
      if (res.status === 400) expectError(res, 400, 'VALIDATION_ERROR');
    }
    expect(answers).toEqual(queries.map((q) => `${q}: 400 VALIDATION_ERROR`));
  });

  it('hasMore counts the built-ins too: a key with four built-ins and no workflow tool, limit 2', async () => {
    const lonely = await createKey(server, { scopes: ['tools:invoke', 'executions:read', 'executions:write', 'logs:read'], namespaces: ['nobody.here'] });
    const all = await listAll(lonely.key);
    expect(names(all).sort()).toEqual([...BUILTINS].sort());
    const first = await call('GET', '/api/v1/tools?limit=2', lonely.key);
    expect(first.status, first.text).toBe(200);
    expect(first.body.items.length).toBe(2);
    expect(first.body.hasMore, first.text).toBe(true);
    const second = await call('GET', '/api/v1/tools?limit=2&offset=2', lonely.key);
    expect(second.body.items.map((t: any) => t.name)).toEqual(names(all).slice(2, 4));
    expect(second.body.hasMore, second.text).toBe(false);
  });

  it('?namespace=x lists only the workflow tools of namespace x', async () => {
    const b = await listAll(undefined, `&namespace=${NS_B}`);
    expect(names(b).sort()).toEqual([T.bfast.name, T.reporx.name].sort());
    const a = await listAll(undefined, `&namespace=${NS_A}`);
    for (const t of a) expect(t.namespace, t.name).toBe(NS_A);
    for (const b2 of BUILTINS) expect(names(a)).not.toContain(b2);
    expect(names(a)).toContain(T.fast.name);
  });

  it('a workflow without tool: is not a tool', async () => {
    expect(names(await listAll())).not.toContain(T.plain.wf);
    const res = await call('GET', `/api/v1/tools/${T.plain.wf}`);
    expectError(res, 404, 'NOT_FOUND');
    expectError(await invoke(T.plain.wf, {}), 404, 'NOT_FOUND');
  });

  it('a disabled workflow is not listed, not described, and 404 on invoke; re-enabled it is back', async () => {
    expect(names(await listAll())).toContain(T.off.name);
    const patch = await call('PATCH', `/api/v1/workflows/${T.off.wf}`, undefined, { body: { enabled: false } });
    expect(patch.status, patch.text).toBe(200);
    expect(names(await listAll())).not.toContain(T.off.name);
    expect(names(await listAll(undefined, `&namespace=${NS_A}`))).not.toContain(T.off.name);
    expectError(await call('GET', `/api/v1/tools/${T.off.name}`), 404, 'NOT_FOUND');
    const inv = await invoke(T.off.name, {});
    expectError(inv, 404, 'NOT_FOUND');
    expect(inv.body.error.details?.suggestions ?? []).not.toContain(T.off.name);
    expect(await executionsOf(T.off.wf)).toEqual([]);
    const back = await call('PATCH', `/api/v1/workflows/${T.off.wf}`, undefined, { body: { enabled: true } });
    expect(back.status, back.text).toBe(200);
    expect(names(await listAll())).toContain(T.off.name);
  });
});

// ---------------------------------------------------------------------------------------------
describe('GET /api/v1/tools/:name (describe) and suggestions', () => {
  it('describes a tool exactly as the list shows it', async () => {
    const fromList = (await listAll()).find((t) => t.name === T.fast.name);
    const res = await call('GET', `/api/v1/tools/${T.fast.name}`);
    expect(res.status, res.text).toBe(200);
    expect(res.body).toEqual(fromList);
  });

  it('an unknown name is 404 NOT_FOUND with up to 5 nearest visible names, nearest first', async () => {
    const res = await call('GET', `/api/v1/tools/${T.fast.name}x`);
    const error = expectError(res, 404, 'NOT_FOUND');
    const suggestions = error.details?.suggestions;
    expect(Array.isArray(suggestions), res.text).toBe(true);
    expect(suggestions.length).toBeGreaterThan(0);
    expect(suggestions.length).toBeLessThanOrEqual(5);
    expect(suggestions[0]).toBe(T.fast.name);
    const visible = names(await listAll());
    for (const s of suggestions) expect(visible).toContain(s);
  });

  it('odd names (too long, not in the name alphabet, encoded) are a 4xx in the error shape, never a 5xx', async () => {
    for (const name of ['a'.repeat(300), 'bad name!', 'tt_fast_%00', '%2e%2e', 'ünïcode', `${T.fast.name}%2F..`]) {
      const path = `/api/v1/tools/${name.includes('%') ? name : encodeURIComponent(name)}`;
      const described = await rawRequest(server.url, 'GET', path, { headers: { authorization: `Bearer ${server.key}` } });
      expectClientError(described, { 400: 'VALIDATION_ERROR', 404: 'NOT_FOUND' });
      const invoked = await rawRequest(server.url, 'POST', path, { headers: { authorization: `Bearer ${server.key}`, 'content-type': 'application/json' }, body: '{}' });
      expectClientError(invoked, { 400: 'VALIDATION_ERROR', 404: 'NOT_FOUND' });
    }
  });

  it('POST to an unknown tool is 404 with suggestions too', async () => {
    const error = expectError(await invoke(`tt_slwo_${S}`, { inputs: {} }), 404, 'NOT_FOUND');
    expect(error.details?.suggestions).toContain(T.slow.name);
    expect(error.details.suggestions.length).toBeLessThanOrEqual(5);
  });
});

// ---------------------------------------------------------------------------------------------
describe('POST /api/v1/tools/:name (invoke)', () => {
  it('finished within the wait: 200 {executionId, status, outputs (declared), error, durationMs}', async () => {
    const res = await invoke(T.fast.name, { inputs: { day: '2026-01-31T12:00:00+02:00', note: 'hello', payload: { k: 'v' } } });
    expect(res.status, res.text).toBe(200);
    expect(Object.keys(res.body).sort()).toEqual(RESULT_KEYS);
    expect(res.body.status).toBe('SUCCESS');
    expect(res.body.error).toBeNull();
    expect(res.body.outputs).toEqual({ total: 20, echo: 'hello' });
    expect(typeof res.body.durationMs).toBe('number');
    expect(res.body.durationMs).toBeGreaterThanOrEqual(0);
    // the answer matches the declared outputSchema (which documents error as absent rather than null)
    const descriptor = (await call('GET', `/api/v1/tools/${T.fast.name}`)).body;
    const validate = newAjv().compile(descriptor.outputSchema);
    const answer = Object.fromEntries(Object.entries(res.body).filter(([, v]) => v !== null));
    expect(validate(answer), JSON.stringify(validate.errors)).toBe(true);
    expect(validate({ ...answer, outputs: { total: 'twenty', echo: 'hello' } })).toBe(false);

    const execution = await call('GET', `/api/v1/executions/${res.body.executionId}`);
    expect(execution.status, execution.text).toBe(200);
    expect(execution.body.workflowId).toBe(T.fast.wf);
    expect(execution.body.state).toBe('SUCCESS');
    expect(execution.body.trigger).toMatchObject({ type: 'tool', tool: T.fast.name, transport: 'rest' });
    // coerced inputs, defaults filled (the same rules as triggers)
    expect(execution.body.inputs).toMatchObject({ day: '2026-01-31T10:00:00.000Z', limit: 10, note: 'hello', flag: false, payload: { k: 'v' } });
  });

  it('without outputs: declared, outputs are taskId → task outputs; no body at all is no inputs', async () => {
    const res = await call('POST', `/api/v1/tools/${T.noout.name}`);
    expect(res.status, res.text).toBe(200);
    expect(res.body.status).toBe('SUCCESS');
    expect(res.body.outputs).toBeTypeOf('object');
    expect(res.body.outputs.t).toMatchObject({ x: 42 });
  });

  it('a FAILED execution is 200 with status FAILED and error {message, taskId, kind}', async () => {
    const res = await invoke(T.fail.name, {});
    expect(res.status, res.text).toBe(200);
    expect(Object.keys(res.body).sort()).toEqual(RESULT_KEYS);
    expect(res.body.status).toBe('FAILED');
    expect(res.body.error).toMatchObject({ taskId: 'explode', kind: 'FAIL_TASK' });
    expect(res.body.error.message).toContain('boom by design');
    expect(typeof res.body.executionId).toBe('string');
  });

  it('still running after a short wait: 202 with the same fields; the execution later succeeds', async () => {
    const started = Date.now();
    const res = await invoke(T.slow.name, { wait: '300ms' });
    const elapsed = Date.now() - started;
    expect(res.status, res.text).toBe(202);
    expect(Object.keys(res.body).sort()).toEqual(RESULT_KEYS);
    expect(['RUNNING', 'QUEUED']).toContain(res.body.status);
    expect(res.body.error).toBeNull();
    expect(elapsed).toBeGreaterThanOrEqual(250);
    expect(elapsed).toBeLessThan(1800);
    const done = await waitFor(server, res.body.executionId, (e) => e.state === 'SUCCESS' || e.state === 'FAILED', 15_000);
    expect(done.state).toBe('SUCCESS');
    expect(done.trigger).toMatchObject({ type: 'tool', tool: T.slow.name, transport: 'rest' });
  });

  it('an execution cancelled during the wait answers 200 with status CANCELLED at once', async () => {
    const pending = invoke(T.slow.name, { wait: '10s' });
    const running = await waitFor(server, await eventuallyNewestOf(T.slow.wf), (e) => e.state === 'RUNNING', 5000);
    const cancel = await server.request('POST', `/api/v1/executions/${running.id}/cancel`);
    expect([200, 202], cancel.text).toContain(cancel.status);
    const started = Date.now();
    const res = await pending;
    expect(res.status, res.text).toBe(200);
    expect(res.body.executionId).toBe(running.id);
    expect(res.body.status).toBe('CANCELLED');
    expect(res.body.error).toMatchObject({ kind: 'CANCELLED' });
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('wait is clamped to the tool\'s own wait (1s tool, caller asks 20s → 202 after about 1 s)', async () => {
    const started = Date.now();
    const res = await invoke(T.clamp.name, { wait: '20s' });
    const elapsed = Date.now() - started;
    expect(res.status, res.text).toBe(202);
    expect(['RUNNING', 'QUEUED']).toContain(res.body.status);
    expect(elapsed).toBeGreaterThanOrEqual(900);
    expect(elapsed).toBeLessThan(3500);
  });

  it('bad arguments: 400 INVALID_INPUTS with one {field: inputs.<id>, message} per bad field', async () => {
    const res = await invoke(T.fast.name, { inputs: { limit: 'many', payload: { k: 5 }, unknown_arg: 1 } });
    const error = expectError(res, 400, 'INVALID_INPUTS');
    expect(Array.isArray(error.details), res.text).toBe(true);
    const fields = error.details.map((d: any) => d.field).sort();
    // day and note are required and missing; limit is not an integer; payload breaks its schema; unknown_arg is unknown
    expect(fields).toEqual(['inputs.day', 'inputs.limit', 'inputs.note', 'inputs.payload', 'inputs.unknown_arg'].sort());
    for (const d of error.details) {
      expect(Object.keys(d).sort(), JSON.stringify(d)).toEqual(['field', 'message']);
      expect(typeof d.message).toBe('string');
      expect(d.message.length).toBeGreaterThan(0);
    }
    expect(await executionsOf(T.fast.wf).then((items) => items.filter((e) => e.inputs?.limit === 'many'))).toEqual([]);
  });

  it('the body is validated: unknown field, bad wait, non-object inputs → 400 VALIDATION_ERROR', async () => {
    const cases: [string, unknown][] = [
      ['unknown body field', { inputs: {}, bogus: true }],
      ['bad wait', { wait: 'five parsecs' }],
      ['inputs an array', { inputs: [1, 2] }],
      ['dryRun a string', { dryRun: 'yes' }],
      ['wait a number', { wait: 5 }],
    ];
    const answers: string[] = [];
    for (const [label, body] of cases) {
      const res = await invoke(T.noout.name, body);
      answers.push(`${label}: ${res.status} ${res.body?.error?.code ?? res.body?.status}`);
    }
    expect(answers).toEqual(cases.map(([label]) => `${label}: 400 VALIDATION_ERROR`));
  });

  it('413 on a body over server.bodyLimitBytes, 415 on a non-JSON body', async () => {
    const limit = server.config.server.bodyLimitBytes;
    const big = JSON.stringify({ inputs: { note: 'x'.repeat(limit + 1024) } });
    expectError(await call('POST', `/api/v1/tools/${T.fast.name}`, undefined, { raw: big, contentType: 'application/json' }), 413, 'PAYLOAD_TOO_LARGE');
    expectError(await call('POST', `/api/v1/tools/${T.fast.name}`, undefined, { raw: 'inputs=1', contentType: 'text/plain' }), 415, 'UNSUPPORTED_MEDIA_TYPE');
    expectError(
      await call('POST', `/api/v1/tools/${T.fast.name}`, undefined, { raw: 'inputs: {}', contentType: 'application/x-www-form-urlencoded' }),
      415,
      'UNSUPPORTED_MEDIA_TYPE',
    );
  });
});

// ---------------------------------------------------------------------------------------------
describe('dryRun', () => {
  it('answers DRY_RUN with the coerced inputs (defaults filled) and the plan, and creates no execution', async () => {
    const res = await invoke(T.dry.name, { inputs: { day: '2026-02-03T00:00:00Z' }, dryRun: true });
    expect(res.status, res.text).toBe(200);
    expect(res.body.status).toBe('DRY_RUN');
    expect(res.body.inputs).toEqual({ day: '2026-02-03T00:00:00.000Z', limit: 7 });
    expect(res.body.plan).toEqual({
      workflowId: T.dry.wf,
      namespace: NS_A,
      revision: 1,
      tasks: [
        { id: 'first', type: 'output' },
        { id: 'second', type: 'log' },
      ],
      waitMs: 3000,
    });
    expect(res.body).not.toHaveProperty('executionId');
    // a shorter wait the caller asks for is what the plan would use
    const shorter = await invoke(T.dry.name, { inputs: { day: '2026-02-03T00:00:00Z' }, dryRun: true, wait: '500ms' });
    expect(shorter.status, shorter.text).toBe(200);
    expect(shorter.body.plan.waitMs).toBe(500);
    await sleep(300); // an execution, had one been created, would be listed by now
    expect(await executionsOf(T.dry.wf)).toEqual([]);
  });

  it('a dry run with bad arguments is 400 INVALID_INPUTS, and still creates nothing', async () => {
    const error = expectError(await invoke(T.dry.name, { inputs: { limit: 'x' }, dryRun: true }), 400, 'INVALID_INPUTS');
    expect(error.details.map((d: any) => d.field).sort()).toEqual(['inputs.day', 'inputs.limit']);
    expect(await executionsOf(T.dry.wf)).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------
describe('Idempotency-Key', () => {
  it('same key + same body → the same executionId; a different body → 409 IDEMPOTENCY_KEY_REUSED', async () => {
    const key = `idem-${S}-1`;
    const first = await invoke(T.idem.name, { inputs: { n: 1 } }, undefined, { 'idempotency-key': key });
    expect(first.status, first.text).toBe(200);
    expect(first.body.status).toBe('SUCCESS');
    const again = await invoke(T.idem.name, { inputs: { n: 1 } }, undefined, { 'idempotency-key': key });
    expect(again.status, again.text).toBe(200);
    expect(again.body.executionId).toBe(first.body.executionId);
    expect(again.body.status).toBe('SUCCESS');
    expectError(await invoke(T.idem.name, { inputs: { n: 2 } }, undefined, { 'idempotency-key': key }), 409, 'IDEMPOTENCY_KEY_REUSED');
    const executions = await executionsOf(T.idem.wf);
    expect(executions.map((e) => e.id)).toEqual([first.body.executionId]);
    // another key is another execution
    const other = await invoke(T.idem.name, { inputs: { n: 1 } }, undefined, { 'idempotency-key': `idem-${S}-2` });
    expect(other.status, other.text).toBe(200);
    expect(other.body.executionId).not.toBe(first.body.executionId);
  });

  it('a replay while the execution still runs answers 202 with the same executionId; the key is per tool', async () => {
    const key = `idem-${S}-running`;
    const first = await invoke(T.slow.name, { wait: '0s' }, undefined, { 'idempotency-key': key });
    expect(first.status, first.text).toBe(202);
    const again = await invoke(T.slow.name, { wait: '0s' }, undefined, { 'idempotency-key': key });
    expect(again.status, again.text).toBe(202);
    expect(again.body.executionId).toBe(first.body.executionId);
    // the same key on another tool (another workflow) is another execution
    const other = await invoke(T.noout.name, {}, undefined, { 'idempotency-key': key });
    expect(other.status, other.text).toBe(200);
    expect(other.body.executionId).not.toBe(first.body.executionId);
    const done = await waitFor(server, first.body.executionId, (e) => e.state === 'SUCCESS', 15_000);
    expect(done.state).toBe('SUCCESS');
    // once finished, the replay answers the finished execution with 200
    const late = await invoke(T.slow.name, { wait: '0s' }, undefined, { 'idempotency-key': key });
    expect(late.status, late.text).toBe(200);
    expect(late.body).toMatchObject({ executionId: first.body.executionId, status: 'SUCCESS' });
  });

  it('a bad Idempotency-Key is 400 VALIDATION_ERROR', async () => {
    expectError(await invoke(T.idem.name, { inputs: { n: 1 } }, undefined, { 'idempotency-key': 'x'.repeat(256) }), 400, 'VALIDATION_ERROR');
  });
});

// ---------------------------------------------------------------------------------------------
describe('built-in tools over REST', () => {
  it('get_execution → 200 {status: OK, result: the execution}', async () => {
    const run = await invoke(T.noout.name, {});
    expect(run.status, run.text).toBe(200);
    const res = await invoke('get_execution', { inputs: { executionId: run.body.executionId } }, keys.invokeRead.key);
    expect(res.status, res.text).toBe(200);
    expect(res.body.status).toBe('OK');
    // docs/tools.md: status, outputs, workflowOutputs, error, timeline, task runs
    expect(res.body.result).toMatchObject({ executionId: run.body.executionId, workflowId: T.noout.wf, namespace: NS_A, status: 'SUCCESS' });
    expect(res.body.result.outputs.t).toMatchObject({ x: 42 });
    expect(res.body.result.taskRuns.map((r: any) => r.taskId).sort()).toEqual(['say', 't']);
    const descriptor = await call('GET', '/api/v1/tools/get_execution', keys.invokeRead.key);
    const validate = newAjv().compile(descriptor.body.outputSchema);
    expect(validate(res.body.result), JSON.stringify(validate.errors)).toBe(true);
  });

  it('get_execution of an unknown execution → 404 NOT_FOUND', async () => {
    expectError(await invoke('get_execution', { inputs: { executionId: '01JZZZZZZZZZZZZZZZZZZZZZZZ' } }, keys.invokeRead.key), 404, 'NOT_FOUND');
  });

  it('get_execution_logs returns the execution\'s log lines', async () => {
    const run = await invoke(T.noout.name, {});
    expect(run.body.status).toBe('SUCCESS');
    // log lines are written in batches: poll
    let res: TestResponse | undefined;
    for (let i = 0; i < 100; i++) {
      res = await invoke('get_execution_logs', { inputs: { executionId: run.body.executionId } }, keys.invokeAll.key);
      if (res.status !== 200 || res.body.result.lines.length > 0) break;
      await sleep(50);
    }
    expect(res!.status, res!.text).toBe(200);
    expect(res!.body.status).toBe('OK');
    expect(res!.body.result.executionId).toBe(run.body.executionId);
    expect(res!.body.result.lines.map((l: any) => l.message)).toContain('done');
  });

  it('cancel_execution cancels a running one; a finished one → 409 EXECUTION_FINISHED', async () => {
    const slow = await invoke(T.slow.name, { wait: '100ms' });
    expect(slow.status, slow.text).toBe(202);
    const cancel = await invoke('cancel_execution', { inputs: { executionId: slow.body.executionId } }, keys.invokeAll.key);
    expect(cancel.status, cancel.text).toBe(200);
    expect(cancel.body.status).toBe('OK');
    const done = await waitFor(server, slow.body.executionId, (e) => e.state === 'CANCELLED' || e.state === 'SUCCESS', 15_000);
    expect(done.state).toBe('CANCELLED');
    expectError(await invoke('cancel_execution', { inputs: { executionId: slow.body.executionId } }, keys.invokeAll.key), 409, 'EXECUTION_FINISHED');
  });

  it('dry_run_tool on a built-in does not run it (dry-running cancel_execution cancels nothing)', async () => {
    const slow = await invoke(T.slow.name, { wait: '100ms' });
    expect(slow.status, slow.text).toBe(202);
    const res = await invoke('dry_run_tool', { inputs: { tool: 'cancel_execution', inputs: { executionId: slow.body.executionId } } }, keys.invokeAll.key);
    expect(res.status, res.text).toBeLessThan(500);
    // whatever the answer, the execution must not have been cancelled by a dry run
    const done = await waitFor(server, slow.body.executionId, (e) => ['SUCCESS', 'FAILED', 'CANCELLED'].includes(e.state), 15_000);
    expect(done.state, 'dry_run_tool {tool: cancel_execution} cancelled the execution').toBe('SUCCESS');
  });

  it('dry_run_tool validates arguments for a tool and plans, creating nothing', async () => {
    const descriptor = await call('GET', '/api/v1/tools/dry_run_tool', keys.invokeOnly.key);
    expect(descriptor.status, descriptor.text).toBe(200);
    // docs/tools.md: arguments `tool`, `inputs?`
    expect(Object.keys(descriptor.body.inputSchema.properties).sort()).toEqual(['inputs', 'tool']);
    expect(descriptor.body.inputSchema.required).toEqual(['tool']);
    const res = await invoke('dry_run_tool', { inputs: { tool: T.dry.name, inputs: { day: '2026-02-03T00:00:00Z' } } }, keys.invokeOnly.key);
    expect(res.status, res.text).toBe(200);
    expect(res.body.status).toBe('OK');
    expect(JSON.stringify(res.body.result)).toContain('2026-02-03T00:00:00.000Z');
    expect(JSON.stringify(res.body.result)).toContain(T.dry.wf);
    expect(await executionsOf(T.dry.wf)).toEqual([]);
    // a tool the key cannot see is unknown to dry_run_tool as well
    const hidden = await invoke('dry_run_tool', { inputs: { tool: T.bfast.name } }, keys.nsA.key);
    expect(hidden.status, hidden.text).toBe(404);
    expect(await executionsOf(T.dry.wf)).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------
describe('scopes × namespaces', () => {
  const visibleBuiltins = (scopes: string[]) =>
    BUILTINS.filter((b) => scopes.includes('admin') || BUILTIN_SCOPE[b] === null || scopes.includes(BUILTIN_SCOPE[b]!)).sort();

  it('admin (managed) and the static key see every built-in and the tools of every namespace', async () => {
    for (const auth of [keys.admin.key, undefined]) {
      const list = names(await listAll(auth));
      for (const b of BUILTINS) expect(list).toContain(b);
      for (const f of [T.fast, T.report, T.reporx, T.bfast]) expect(list).toContain(f.name);
      const res = await invoke(T.bfast.name, {}, auth);
      expect(res.status, res.text).toBe(200);
      expect(res.body.status).toBe('SUCCESS');
    }
  });

  it('each key sees exactly the built-ins it holds the scope for', async () => {
    for (const k of [keys.admin, keys.invokeOnly, keys.invokeRead, keys.invokeAll, keys.nsA]) {
      const items = await listAll(k.key);
      const builtins = items.filter((t) => t.workflowId === null).map((t) => t.name).sort();
      expect(builtins, k.scopes.join(',')).toEqual(visibleBuiltins(k.scopes));
      for (const b of BUILTINS) {
        const res = await call('GET', `/api/v1/tools/${b}`, k.key);
        if (visibleBuiltins(k.scopes).includes(b)) {
          expect(res.status, `${k.scopes} ${b}: ${res.text}`).toBe(200);
          expect(res.body.outputSchema, b).toBeTypeOf('object');
        } else {
          expectError(res, 404, 'NOT_FOUND');
        }
      }
    }
  });

  it('tools:invoke only: dry_run_tool visible, get_execution not (404 on describe and on call), workflow tools callable', async () => {
    const list = names(await listAll(keys.invokeOnly.key));
    expect(list).toContain('dry_run_tool');
    expect(list).not.toContain('get_execution');
    const run = await invoke(T.fast.name, { inputs: { day: '2026-01-01T00:00:00Z', note: 'n' } }, keys.invokeOnly.key);
    expect(run.status, run.text).toBe(200);
    expect(run.body.status).toBe('SUCCESS');
    const error = expectError(await invoke('get_execution', { inputs: { executionId: run.body.executionId } }, keys.invokeOnly.key), 404, 'NOT_FOUND');
    expect(error.details?.suggestions ?? []).not.toContain('get_execution');
  });

  it('tools:invoke + executions:read: get_execution works, cancel_execution and get_execution_logs are 404', async () => {
    const run = await invoke(T.noout.name, {}, keys.invokeRead.key);
    expect(run.status, run.text).toBe(200);
    const got = await invoke('get_execution', { inputs: { executionId: run.body.executionId } }, keys.invokeRead.key);
    expect(got.status, got.text).toBe(200);
    expectError(await invoke('cancel_execution', { inputs: { executionId: run.body.executionId } }, keys.invokeRead.key), 404, 'NOT_FOUND');
    expectError(await invoke('get_execution_logs', { inputs: { executionId: run.body.executionId } }, keys.invokeRead.key), 404, 'NOT_FOUND');
  });

  it('a namespace-restricted key lists only its namespace\'s tools, and the others are NOT_FOUND, never suggested', async () => {
    const items = await listAll(keys.nsA.key);
    for (const t of items) if (t.workflowId !== null) expect(t.namespace, t.name).toBe(NS_A);
    const list = names(items);
    expect(list).toContain(T.fast.name);
    expect(list).toContain(T.report.name);
    expect(list).not.toContain(T.reporx.name);
    expect(list).not.toContain(T.bfast.name);
    expect(list).toContain('get_execution');

    const outside = await listAll(keys.nsA.key, `&namespace=${NS_B}`);
    expect(outside).toEqual([]);

    for (const hidden of [T.reporx.name, T.bfast.name]) {
      const described = expectError(await call('GET', `/api/v1/tools/${hidden}`, keys.nsA.key), 404, 'NOT_FOUND');
      const invoked = expectError(await invoke(hidden, {}, keys.nsA.key), 404, 'NOT_FOUND');
      for (const e of [described, invoked]) {
        const suggestions: string[] = e.details?.suggestions ?? [];
        expect(suggestions.length).toBeLessThanOrEqual(5);
        expect(suggestions).not.toContain(T.reporx.name);
        expect(suggestions).not.toContain(T.bfast.name);
        for (const s of suggestions) expect(list).toContain(s);
      }
    }
    // the nearest *visible* name is suggested: tt_report_ is one edit from the hidden tt_reporx_
    const near = expectError(await call('GET', `/api/v1/tools/${T.reporx.name}`, keys.nsA.key), 404, 'NOT_FOUND');
    expect(near.details.suggestions[0]).toBe(T.report.name);
    expect(await executionsOf(T.reporx.wf)).toEqual([]);

    // inside its namespace it invokes normally
    const ok = await invoke(T.report.name, {}, keys.nsA.key);
    expect(ok.status, ok.text).toBe(200);
    expect(ok.body.status).toBe('SUCCESS');
  });

  it('a namespace-restricted key\'s built-ins act inside its namespaces only', async () => {
    const b = await invoke(T.bfast.name, {});
    expect(b.status, b.text).toBe(200);
    expectError(await invoke('get_execution', { inputs: { executionId: b.body.executionId } }, keys.nsA.key), 404, 'NOT_FOUND');
    const a = await invoke(T.report.name, {});
    const got = await invoke('get_execution', { inputs: { executionId: a.body.executionId } }, keys.nsA.key);
    expect(got.status, got.text).toBe(200);
    expect(got.body.result.executionId).toBe(a.body.executionId);
  });

  it('a key without tools:invoke → 403 FORBIDDEN on list, describe and invoke (and nothing runs)', async () => {
    const before = (await executionsOf(T.report.wf)).length;
    expectForbidden(await call('GET', '/api/v1/tools', keys.noInvoke.key));
    expectForbidden(await call('GET', `/api/v1/tools/${T.report.name}`, keys.noInvoke.key));
    expectForbidden(await invoke(T.report.name, {}, keys.noInvoke.key));
    expectForbidden(await invoke(T.report.name, { dryRun: true }, keys.noInvoke.key));
    expectForbidden(await invoke('get_execution', { inputs: { executionId: '01JZZZZZZZZZZZZZZZZZZZZZZZ' } }, keys.noInvoke.key));
    await sleep(200);
    expect((await executionsOf(T.report.wf)).length).toBe(before);
  });

  it('no key → 401', async () => {
    expectError(await call('GET', '/api/v1/tools', undefined, { auth: false }), 401, 'MISSING_API_KEY');
    expectError(await call('POST', `/api/v1/tools/${T.report.name}`, undefined, { auth: false, body: {} }), 401, 'MISSING_API_KEY');
    expect(await executionsOf(T.report.wf).then((e) => e.filter((x) => x.trigger?.type !== 'tool'))).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------
describe('audit: one tool.invoke event per invocation', () => {
  /** the audit events of this test: matched by the User-Agent it sent */
  async function eventsFor(ua: string, count: number): Promise<any[]> {
    const items = await waitForAudit(server, 'action=tool.invoke', (all) => all.filter((e) => e.details?.client === ua).length >= count);
    return items.filter((e) => e.details?.client === ua);
  }

  it('success, failure, dry run, invalid inputs, denied 403 and 404 each write one event with the right outcome', async () => {
    const ua = `tools-e2e/${S} (audit)`;
    const h = { 'user-agent': ua };
    const ok = await invoke(T.noout.name, {}, keys.invokeOnly.key, h);
    expect(ok.status, ok.text).toBe(200);
    const failed = await invoke(T.fail.name, {}, keys.invokeOnly.key, h);
    expect(failed.body.status).toBe('FAILED');
    expect((await invoke(T.dry.name, { inputs: { day: '2026-01-01T00:00:00Z' }, dryRun: true }, keys.invokeOnly.key, h)).status).toBe(200);
    expect((await invoke(T.dry.name, { inputs: {} }, keys.invokeOnly.key, h)).status).toBe(400);
    expect((await invoke(T.report.name, {}, keys.noInvoke.key, h)).status).toBe(403);
    expect((await invoke(`tt_nope_${S}`, {}, keys.invokeOnly.key, h)).status).toBe(404);
    expect((await invoke(T.bfast.name, {}, keys.nsA.key, h)).status).toBe(404);

    const events = await eventsFor(ua, 7);
    expect(events.length, JSON.stringify(events, null, 1)).toBe(7);
    for (const e of events) {
      expect(e.action).toBe('tool.invoke');
      expect(e.resourceType).toBe('tool');
      expect(e.details.transport).toBe('rest');
      expect(e.details.client).toBe(ua);
      expect(['success', 'failure', 'denied']).toContain(e.outcome);
    }
    const by = (resourceId: string, actor: string) => events.filter((e) => e.resourceId === resourceId && e.actor === actor);
    const okEvent = by(T.noout.name, keys.invokeOnly.prefix);
    expect(okEvent.length).toBe(1);
    expect(okEvent[0].outcome).toBe('success');
    expect(okEvent[0].details.executionId).toBe(ok.body.executionId);
    expect(okEvent[0].namespace).toBe(NS_A);

    const failEvent = by(T.fail.name, keys.invokeOnly.prefix);
    expect(failEvent.length).toBe(1);
    expect(failEvent[0].outcome).toBe('failure');
    expect(failEvent[0].details.executionId).toBe(failed.body.executionId);

    const dryEvents = by(T.dry.name, keys.invokeOnly.prefix);
    expect(dryEvents.map((e) => e.outcome).sort()).toEqual(['failure', 'success']);
    for (const e of dryEvents) expect(e.details.executionId ?? null).toBeNull();

    const forbidden = by(T.report.name, keys.noInvoke.prefix);
    expect(forbidden.length).toBe(1);
    expect(forbidden[0].outcome).toBe('denied');

    const unknown = by(`tt_nope_${S}`, keys.invokeOnly.prefix);
    expect(unknown.length).toBe(1);
    expect(unknown[0].outcome).toBe('denied');

    const hidden = by(T.bfast.name, keys.nsA.prefix);
    expect(hidden.length).toBe(1);
    expect(hidden[0].outcome).toBe('denied');
    expect(hidden[0].namespace, 'a hidden tool\'s namespace is not recorded on the denial').toBeNull();

    // the execution a tool call starts writes its usual execution.trigger event too
    const triggers = await waitForAudit(server, 'action=execution.trigger', (items) => items.some((e) => e.resourceId === ok.body.executionId));
    const trigger = triggers.find((e) => e.resourceId === ok.body.executionId);
    expect(trigger, 'execution.trigger event of the tool call').toBeDefined();
    expect(trigger.actor).toBe(keys.invokeOnly.prefix);
  });

  it('a built-in call is one event too (dry_run_tool of a workflow tool: one tool.invoke, not two)', async () => {
    const ua = `tools-e2e/${S} (audit built-in)`;
    const res = await invoke('dry_run_tool', { inputs: { tool: T.dry.name, inputs: { day: '2026-01-01T00:00:00Z' } } }, keys.invokeOnly.key, { 'user-agent': ua });
    expect(res.status, res.text).toBe(200);
    const run = await invoke(T.noout.name, {}, keys.invokeRead.key);
    const got = await invoke('get_execution', { inputs: { executionId: run.body.executionId } }, keys.invokeRead.key, { 'user-agent': ua });
    expect(got.status, got.text).toBe(200);
    await eventsFor(ua, 2);
    await sleep(300); // a second event for the same call would be in the same batch or the next
    const events = await eventsFor(ua, 2);
    expect(events.map((e) => `${e.resourceId}:${e.outcome}`).sort(), JSON.stringify(events, null, 1)).toEqual(['dry_run_tool:success', 'get_execution:success']);
    const getEvent = events.find((e) => e.resourceId === 'get_execution');
    expect(getEvent.details.executionId).toBe(run.body.executionId);
    expect(getEvent.actor).toBe(keys.invokeRead.prefix);
  });
});

// ---------------------------------------------------------------------------------------------
describe('argument values never reach a log line or the audit trail', () => {
  const VALUE = 'ARG-VALUE-7f3a ü/&+=?';
  const encodings = [VALUE, 'ARG-VALUE-7f3a', Buffer.from(VALUE).toString('base64'), Buffer.from('ARG-VALUE-7f3a').toString('base64').replace(/=+$/, ''), encodeURIComponent(VALUE), JSON.stringify(VALUE).slice(1, -1)];

  it('success, invalid, dry run, idempotent, denied and unknown-tool calls carrying the value leave no trace of it', async () => {
    const ua = `tools-e2e/${S} (values)`;
    const h = { 'user-agent': ua };
    const ok = await invoke(T.secret.name, { inputs: { token: VALUE } }, keys.invokeOnly.key, h);
    expect(ok.status, ok.text).toBe(200);
    expect(ok.body.status).toBe('SUCCESS');
    expect((await invoke(T.secret.name, { inputs: { token: VALUE }, dryRun: true }, keys.invokeOnly.key, h)).status).toBe(200);
    expect((await invoke(T.secret.name, { inputs: { token: 'fine', count: VALUE } }, keys.invokeOnly.key, h)).status).toBe(400);
    expect((await invoke(T.secret.name, { inputs: { [VALUE]: 1, token: 'x' } }, keys.invokeOnly.key, h)).status).toBe(400);
    expect((await invoke(T.secret.name, { inputs: { token: VALUE } }, keys.invokeOnly.key, { ...h, 'idempotency-key': `val-${S}` })).status).toBe(200);
    expect((await invoke(T.secret.name, { inputs: { token: VALUE } }, keys.invokeOnly.key, { ...h, 'idempotency-key': `val-${S}` })).status).toBe(200);
    expect((await invoke(T.secret.name, { inputs: { token: `${VALUE}2` } }, keys.invokeOnly.key, { ...h, 'idempotency-key': `val-${S}` })).status).toBe(409);
    expect((await invoke(T.secret.name, { inputs: { token: VALUE } }, keys.noInvoke.key, h)).status).toBe(403);
    expect((await invoke(`tt_secrte_${S}`, { inputs: { token: VALUE } }, keys.invokeOnly.key, h)).status).toBe(404);
    expect((await invoke(T.bfast.name, { inputs: { token: VALUE } }, keys.nsA.key, h)).status).toBe(404);
    expect((await invoke('dry_run_tool', { inputs: { tool: T.secret.name, inputs: { token: VALUE } } }, keys.invokeOnly.key, h)).status).toBe(200);
    expect((await invoke('dry_run_tool', { inputs: { tool: T.secret.name, inputs: { count: VALUE } } }, keys.invokeOnly.key, h)).status).toBeLessThan(500);

    // at least the seven calls that reach the tool service are audited; then flush and read everything
    await waitForAudit(server, 'action=tool.invoke', (all) => all.filter((e) => e.details?.client === ua).length >= 7);
    const auditJson = JSON.stringify(await allAudit(server));
    const auditTable = await dumpTable(server.databaseUrl, 'audit_events');
    await sleep(200);
    const logs = await server.logs();
    expect(logs.length).toBeGreaterThan(0);
    for (const enc of encodings) {
      expect(auditJson.includes(enc), `audit API contains ${enc}`).toBe(false);
      expect(auditTable.includes(enc), `audit table contains ${enc}`).toBe(false);
      const line = logs.split('\n').find((l) => l.includes(enc));
      expect(line, `server log contains ${enc}`).toBeUndefined();
    }
  });

  it('no managed key plaintext in any log line or audit entry', async () => {
    const logs = await server.logs();
    const auditJson = JSON.stringify(await allAudit(server));
    for (const k of Object.values(keys)) {
      expect(logs.includes(k.key), 'log contains a key').toBe(false);
      expect(auditJson.includes(k.key), 'audit contains a key').toBe(false);
    }
    expect(logs.includes(server.key)).toBe(false);
    expect((logs.match(KEY_IN_TEXT) ?? []).length).toBe(0);
  });
});
