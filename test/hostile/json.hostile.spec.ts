/**
 * Hostile JSON bodies and query values (issue 7; DESIGN §3 "Bad input never crashes the process
 * or loses data"): truncated or malformed JSON, nesting deeper than 64 levels, prototype-
 * pollution keys, wrong types, huge numbers and NaN-ish strings. Each answers a 4xx in the error
 * shape (VALIDATION_ERROR, INVALID_INPUTS, 413 or 415), never a 500; a refused trigger creates no
 * execution; after `__proto__`/`constructor` bodies no global prototype is polluted (the server
 * runs in this process, so pollution would be visible here).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestResponse, type TestServer } from '../support/server';
import { expectError } from '../e2e/helpers';
import { apply, waitTerminal } from '../e2e/engine-helpers';
import { createKey, type CreatedKey } from '../e2e/access-helpers';
import { expectHealthy, MiB } from './hostile-helpers';

const WF = 'json-hostile';
let server: TestServer;
let target: CreatedKey;

beforeAll(async () => {
  server = await startTestServer();
  await apply(
    server,
    WF,
    [
      `id: ${WF}`,
      'inputs:',
      '  - {id: j, type: json, required: false}',
      '  - {id: n, type: integer, required: false}',
      '  - {id: x, type: number, required: false}',
      '  - {id: b, type: boolean, required: false}',
      '  - {id: s, type: string, required: false}',
      '  - {id: d, type: datetime, required: false}',
      'tasks:',
      '  - {id: out, type: output, values: {j: "{{ inputs.j }}"}}',
      '',
    ].join('\n'),
  );
  target = await createKey(server, { scopes: ['workflows:read'] });
});

afterAll(async () => {
  await server?.close();
});

async function executionCount(): Promise<number> {
  const res = await server.request('GET', `/api/v1/executions?workflowId=${WF}&limit=500`);
  expect(res.status, res.text).toBe(200);
  return res.body.items.length;
}

function trigger(raw: string | Buffer, contentType = 'application/json'): Promise<TestResponse> {
  return server.request('POST', `/api/v1/workflows/${WF}/executions`, { raw, contentType });
}

/** Runs a trigger that must be refused with `status`/`code` and checks no execution appeared. */
async function expectRefusedTrigger(raw: string | Buffer, status: number, code: string, contentType?: string): Promise<void> {
  const before = await executionCount();
  expectError(await trigger(raw, contentType), status, code);
  expect(await executionCount(), 'no execution created').toBe(before);
}

const deepArray = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;
const deepObject = (depth: number) => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;

describe('malformed JSON on a trigger answers 400 VALIDATION_ERROR', () => {
  it.each([
    ['an opening brace only', '{'],
    ['a truncated object', '{"inputs":'],
    ['a missing closing brace', '{"inputs": {"n": 1}'],
    ['an opening bracket only', '['],
    ['a truncated literal', 'nul'],
    ['a truncated true', 'tru'],
    ['an extra closing brace', '{"inputs": {}}}'],
    ['trailing garbage', '{"inputs": {}} trailing'],
    ['two concatenated objects', '{}{}'],
    ['single-quoted keys', "{'inputs': {}}"],
    ['unquoted keys', '{inputs: {}}'],
    ['a leading zero', '{"inputs": {"n": 01}}'],
    ['a trailing comma', '{"inputs": {"n": 1,}}'],
    ['a NaN literal', '{"inputs": {"x": NaN}}'],
    ['an Infinity literal', '{"inputs": {"x": Infinity}}'],
    ['a -Infinity literal', '{"inputs": {"x": -Infinity}}'],
    ['a hexadecimal literal', '{"inputs": {"n": 0x10}}'],
    ['an invalid escape', '{"inputs": {"s": "\\x41"}}'],
    ['a raw newline inside a string', '{"inputs": {"s": "a\nb"}}'],
    ['a comment', '{"inputs": {} /* hi */}'],
    ['a lone minus sign', '{"inputs": {"n": -}}'],
    ['an unterminated string', '{"inputs": {"s": "abc}}'],
    ['invalid UTF-8 bytes', Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d])],
  ])('refuses %s', async (_what, raw) => {
    await expectRefusedTrigger(raw, 400, 'VALIDATION_ERROR');
  });
});

describe('JSON nested deeper than 64 levels answers 400 VALIDATION_ERROR', () => {
  it.each([
    ['65 arrays in a json input', `{"inputs": {"j": ${deepArray(65)}}}`],
    ['1,000 arrays in a json input', `{"inputs": {"j": ${deepArray(1000)}}}`],
    ['100,000 arrays in a json input', `{"inputs": {"j": ${deepArray(100_000)}}}`],
    ['65 objects in a json input', `{"inputs": {"j": ${deepObject(65)}}}`],
    ['10,000 objects in a json input', `{"inputs": {"j": ${deepObject(10_000)}}}`],
    ['100,000 arrays in labels', `{"labels": {"a": ${deepArray(100_000)}}}`],
    ['100,000 arrays at the top level', deepArray(100_000)],
    ['100,000 arrays under an unknown field', `{"zzz": ${deepArray(100_000)}}`],
  ])('refuses %s', async (_what, raw) => {
    await expectRefusedTrigger(raw, 400, 'VALIDATION_ERROR');
  });
});

describe('prototype-pollution keys answer 400 VALIDATION_ERROR and pollute nothing', () => {
  it.each([
    ['__proto__ at the top level', '{"__proto__": {"polluted": true}}'],
    ['__proto__ in inputs', '{"inputs": {"__proto__": {"polluted": true}}}'],
    ['__proto__ inside a json input', '{"inputs": {"j": {"__proto__": {"polluted": true}}}}'],
    ['__proto__ deep inside a json input', '{"inputs": {"j": [{"a": [{"__proto__": {"polluted": true}}]}]}}'],
    ['__proto__ in labels', '{"labels": {"__proto__": {"polluted": "yes"}}}'],
    ['__proto__ spelled with unicode escapes', '{"\\u005f\\u005fproto\\u005f\\u005f": {"polluted": true}}'],
    ['constructor.prototype at the top level', '{"constructor": {"prototype": {"polluted": true}}}'],
    ['constructor.prototype inside a json input', '{"inputs": {"j": {"constructor": {"prototype": {"polluted": true}}}}}'],
  ])('refuses %s', async (_what, raw) => {
    await expectRefusedTrigger(raw, 400, 'VALIDATION_ERROR');
  });

  it.each([
    ['POST /api-keys', 'POST', '/api/v1/api-keys', '{"scopes": ["logs:read"], "__proto__": {"admin": true}}'],
    ['PATCH /api-keys/:id', 'PATCH', 'KEY', '{"__proto__": {"scopes": ["admin"]}}'],
    ['PATCH /api-keys/:id (constructor)', 'PATCH', 'KEY', '{"constructor": {"prototype": {"scopes": ["admin"]}}}'],
    ['PATCH /workflows/:id', 'PATCH', `/api/v1/workflows/${WF}`, '{"enabled": true, "__proto__": {"enabled": false}}'],
    ['POST /api-keys/:id/rotate', 'POST', 'KEY/rotate', '{"__proto__": {"graceSeconds": 99999999}}'],
  ])('refuses a __proto__ body on %s', async (_what, method, path, raw) => {
    const resolved = path.replace('KEY', `/api/v1/api-keys/${target.id}`);
    expectError(await server.request(method, resolved, { raw, contentType: 'application/json' }), 400, 'VALIDATION_ERROR');
  });

  it('leaves every global prototype unpolluted and the target key unchanged', async () => {
    for (const proto of [Object.prototype, Array.prototype, Function.prototype]) {
      for (const name of ['polluted', 'admin', 'scopes', 'enabled', 'graceSeconds']) {
        expect(Object.prototype.hasOwnProperty.call(proto, name), `${name} on a prototype`).toBe(false);
      }
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    const res = await server.request('GET', `/api/v1/api-keys/${target.id}`);
    expect(res.status, res.text).toBe(200);
    expect(res.body.scopes).toEqual(['workflows:read']);
    expect(res.body.revokedAt).toBeNull();
  });
});

describe('well-formed JSON of the wrong shape answers 400 VALIDATION_ERROR', () => {
  it.each([
    ['a list body', '[]'],
    ['a string body', '"inputs"'],
    ['a number body', '123'],
    ['a boolean body', 'true'],
    ['inputs as a string', '{"inputs": "n=1"}'],
    ['inputs as a list', '{"inputs": [1, 2]}'],
    ['inputs as a number', '{"inputs": 1}'],
    ['labels as a string', '{"labels": "a=b"}'],
    ['labels as a list', '{"labels": ["a"]}'],
    ['a label value that is a number', '{"labels": {"a": 1}}'],
    ['a label value that is an object', '{"labels": {"a": {}}}'],
    ['an unknown field', '{"inputs": {}, "priority": 1}'],
  ])('refuses %s', async (_what, raw) => {
    await expectRefusedTrigger(raw, 400, 'VALIDATION_ERROR');
  });
});

describe('inputs that do not fit their type answer 400 INVALID_INPUTS', () => {
  it.each([
    ['a word for an integer', { n: 'abc' }],
    ['a fraction for an integer', { n: 1.5 }],
    ['1e400 (Infinity after parsing) for an integer', '1e400'],
    ['an unsafe integer', '9007199254740993'],
    ['"NaN" for an integer', { n: 'NaN' }],
    ['"Infinity" for an integer', { n: 'Infinity' }],
    ['an empty string for an integer', { n: '' }],
    ['a list for an integer', { n: [1] }],
    ['an object for an integer', { n: {} }],
    ['a boolean for an integer', { n: true }],
    ['"NaN" for a number', { x: 'NaN' }],
    ['"-Infinity" for a number', { x: '-Infinity' }],
    ['"1e400" for a number', { x: '1e400' }],
    ['1e400 for a number', 'x:1e400'],
    ['"maybe" for a boolean', { b: 'maybe' }],
    ['2 for a boolean', { b: 2 }],
    ['"yesterday" for a datetime', { d: 'yesterday' }],
    ['month 13 for a datetime', { d: '2024-13-45T00:00:00Z' }],
    ['a number for a datetime', { d: 1e20 }],
    ['an object for a string', { s: {} }],
    ['an unknown input', { nope: 1 }],
  ])('refuses %s', async (_what, inputs) => {
    let raw: string;
    if (typeof inputs === 'string') {
      // numbers JSON.stringify cannot write: sent as text
      raw = inputs.startsWith('x:') ? `{"inputs": {"x": ${inputs.slice(2)}}}` : `{"inputs": {"n": ${inputs}}}`;
    } else raw = JSON.stringify({ inputs });
    await expectRefusedTrigger(raw, 400, 'INVALID_INPUTS');
  });

  // Numeric strings and zone-less timestamps: either accepted by a documented rule or refused.
  it.each([
    ['"0x10" for an integer', { n: '0x10' }],
    ['"0x10" for a number', { x: '0x10' }],
    ['"1e3" for an integer', { n: '1e3' }],
    ['" 1" for an integer', { n: ' 1' }],
    ['"0b101" for a number', { x: '0b101' }],
    ['a timestamp without a zone', { d: '2024-01-01T00:00:00' }],
  ])('answers %s with 202 or 400 INVALID_INPUTS, never 500', async (_what, inputs) => {
    const res = await trigger(JSON.stringify({ inputs }));
    if (res.status === 202) {
      const done = await waitTerminal(server, res.body.id);
      expect(done.state).toBe('SUCCESS');
    } else {
      expectError(res, 400, 'INVALID_INPUTS');
    }
  });
});

describe('API-key bodies of the wrong shape answer 400 VALIDATION_ERROR', () => {
  it.each([
    ['scopes as a string', { scopes: 'admin' }],
    ['a scope that is a number', { scopes: [1] }],
    ['an empty scope list', { scopes: [] }],
    ['an unknown scope', { scopes: ['root'] }],
    ['a label that is a number', { scopes: ['logs:read'], label: 1 }],
    ['a label that is an object', { scopes: ['logs:read'], label: {} }],
    ['namespaces as a string', { scopes: ['logs:read'], namespaces: 'team' }],
    ['a namespace that is a number', { scopes: ['logs:read'], namespaces: [1] }],
    ['expiresAt in words', { scopes: ['logs:read'], expiresAt: 'tomorrow' }],
    ['expiresAt as a number', { scopes: ['logs:read'], expiresAt: 12345 }],
    ['idempotent as a string', { scopes: ['logs:read'], idempotent: 'true' }],
    ['idempotent as a number', { scopes: ['logs:read'], idempotent: 1 }],
    ['an unknown field', { scopes: ['logs:read'], owner: 'me' }],
  ])('POST /api-keys refuses %s', async (_what, body) => {
    expectError(await server.request('POST', '/api/v1/api-keys', { body }), 400, 'VALIDATION_ERROR');
  });

  it.each([
    ['enabled as a string', { enabled: 'false' }],
    ['enabled as a number', { enabled: 0 }],
    ['scopes as a string', { scopes: 'admin' }],
    ['expiresAt in words', { expiresAt: 'never' }],
    ['an unknown field', { owner: 'me' }],
  ])('PATCH /api-keys/:id refuses %s', async (_what, body) => {
    expectError(await server.request('PATCH', `/api/v1/api-keys/${target.id}`, { body }), 400, 'VALIDATION_ERROR');
  });

  it.each([
    ['graceSeconds as a string', '{"graceSeconds": "10"}'],
    ['graceSeconds as a fraction', '{"graceSeconds": 1.5}'],
    ['a negative graceSeconds', '{"graceSeconds": -1}'],
    ['graceSeconds of 1e400', '{"graceSeconds": 1e400}'],
    ['graceSeconds beyond 30 days', '{"graceSeconds": 99999999999}'],
  ])('POST /api-keys/:id/rotate refuses %s', async (_what, raw) => {
    expectError(await server.request('POST', `/api/v1/api-keys/${target.id}/rotate`, { raw, contentType: 'application/json' }), 400, 'VALIDATION_ERROR');
  });

  it('a zone-less expiresAt is accepted by a documented rule or refused with 400 VALIDATION_ERROR', async () => {
    const res = await server.request('POST', '/api/v1/api-keys', { body: { scopes: ['logs:read'], expiresAt: '2099-01-01T00:00:00' } });
    if (res.status === 201) expect(res.body.expiresAt).toMatch(/Z$/);
    else expectError(res, 400, 'VALIDATION_ERROR');
  });
});

describe('PATCH /workflows/:id with the wrong shape answers 400 VALIDATION_ERROR', () => {
  it.each([
    ['enabled as a string', '{"enabled": "true"}'],
    ['enabled as a number', '{"enabled": 1}'],
    ['enabled as null', '{"enabled": null}'],
    ['an empty object', '{}'],
    ['an extra field', '{"enabled": true, "namespace": "other"}'],
  ])('refuses %s', async (_what, raw) => {
    expectError(await server.request('PATCH', `/api/v1/workflows/${WF}`, { raw, contentType: 'application/json' }), 400, 'VALIDATION_ERROR');
    const wf = await server.request('GET', `/api/v1/workflows/${WF}`);
    expect(wf.body.enabled).toBe(true);
  });
});

describe('hostile query values answer 400 VALIDATION_ERROR', () => {
  it.each([
    'limit=abc',
    'limit=1e3',
    'limit=-1',
    'limit=99999999999999999999',
    'limit=NaN',
    'offset=Infinity',
    'offset=-0.5',
    'state=__proto__',
    '__proto__=1',
    'constructor=1',
    '__proto__[polluted]=1',
    'limit=1&limit=2',
  ])('GET /executions?%s', async (query) => {
    expectError(await server.request('GET', `/api/v1/executions?${query}`), 400, 'VALIDATION_ERROR');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it.each(['limit=0x10', 'limit=1e1', 'limit=%2016'])('GET /executions?%s is accepted by a documented rule or refused with 400 VALIDATION_ERROR', async (query) => {
    const res = await server.request('GET', `/api/v1/executions?${query}`);
    if (res.status === 200) expect(Number.isInteger(res.body.limit)).toBe(true);
    else expectError(res, 400, 'VALIDATION_ERROR');
  });
});

describe('oversized and mislabelled JSON bodies answer 413 and 415', () => {
  it.each([
    ['a trigger body just over 1 MiB', `{"inputs": {"s": "${'x'.repeat(MiB)}"}}`],
    ['a trigger body of 3 MiB', `{"inputs": {"j": [${Array.from({ length: MiB }, () => '1').join(',')}]}}`],
  ])('answers 413 PAYLOAD_TOO_LARGE to %s', async (_what, raw) => {
    await expectRefusedTrigger(raw, 413, 'PAYLOAD_TOO_LARGE');
  });

  it('answers 413 PAYLOAD_TOO_LARGE to a 2 MiB API-key body', async () => {
    const raw = JSON.stringify({ scopes: ['logs:read'], label: 'x'.repeat(2 * MiB) });
    expectError(await server.request('POST', '/api/v1/api-keys', { raw, contentType: 'application/json' }), 413, 'PAYLOAD_TOO_LARGE');
  });

  it.each(['text/plain', 'application/yaml', 'application/x-www-form-urlencoded', 'application/json-patch+json', 'multipart/form-data; boundary=x', 'application/javascript'])(
    'answers 415 UNSUPPORTED_MEDIA_TYPE to a trigger sent as %s',
    async (contentType) => {
      await expectRefusedTrigger('{"inputs": {}}', 415, 'UNSUPPORTED_MEDIA_TYPE', contentType);
    },
  );
});

describe('after the hostile JSON cases', () => {
  it('a well-formed trigger still runs, and the server answers /health/live and /health/ready', async () => {
    const res = await trigger(JSON.stringify({ inputs: { j: { deep: [1, [2, [3]]] } } }));
    expect(res.status, res.text).toBe(202);
    const done = await waitTerminal(server, res.body.id);
    expect(done.state).toBe('SUCCESS');
    expect(done.outputs.out.j).toEqual({ deep: [1, [2, [3]]] });
    await expectHealthy(server);
  });
});
