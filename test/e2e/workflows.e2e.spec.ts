import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sleep, startTestServer, tempDir, type TestServer } from '../support/server';
import { allWorkflowIds, expectClientError, expectError, get, put, rawRequest, uniqueId, workflowYaml, YAML } from './helpers';

const FIXTURES = join(__dirname, '..', 'fixtures', 'workflows');
const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z$/;
const SUMMARY_KEYS = ['createdAt', 'description', 'enabled', 'id', 'namespace', 'revision', 'updatedAt'];
const FULL_KEYS = [...SUMMARY_KEYS, 'definition', 'source'].sort();

function fixture(kind: 'valid' | 'invalid', name: string): string {
  return readFileSync(join(FIXTURES, kind, name), 'utf8');
}

/** `# expect: <path> @<line|->: <message>` headers of a fixture, as {path, line}. */
function expectedDiagnostics(source: string): { path: string; line: number | undefined }[] {
  return source
    .split('\n')
    .filter((line) => line.startsWith('# expect: '))
    .map((line) => {
      const match = /^# expect: (?:(\S+) )?@(\d+|-): /.exec(line);
      if (!match) throw new Error(`unreadable fixture header: ${line}`);
      return { path: match[1] ?? '', line: match[2] === '-' ? undefined : Number(match[2]) };
    });
}

function expectDiagnosticsShape(details: unknown): { path: string; message: string; line?: number }[] {
  expect(Array.isArray(details)).toBe(true);
  const list = details as { path: string; message: string; line?: number }[];
  expect(list.length).toBeGreaterThan(0);
  for (const d of list) {
    expect(typeof d.path).toBe('string');
    expect(typeof d.message).toBe('string');
    expect(d.message.length).toBeGreaterThan(0);
    const keys = Object.keys(d).sort().join(',');
    expect(['message,path', 'line,message,path']).toContain(keys);
    if (d.line !== undefined) expect(Number.isInteger(d.line) && d.line >= 1).toBe(true);
  }
  return list;
}

describe('Workflows API', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => {
    await server?.close();
  });

  describe('apply (PUT /api/v1/workflows/:id)', () => {
    it('creates a workflow: 201 with revision 1, the normalized definition and the exact source', async () => {
      const id = uniqueId('create');
      const source = [
        '# a comment that must survive',
        `id: ${id}`,
        'namespace: team.data',
        'description: Builds the report',
        'timeout: 30m   # trailing comment',
        'tasks:',
        '  - {id: hello, type: log, message: "Grüße ✓"}',
        '  - id: nap',
        '    type: sleep',
        '    duration: 2s',
        '',
      ].join('\n');
      const res = await put(server, id, source);
      expect(res.status, res.text).toBe(201);
      expect(Object.keys(res.body).sort()).toEqual(FULL_KEYS);
      expect(res.body).toMatchObject({ id, namespace: 'team.data', description: 'Builds the report', enabled: true, revision: 1 });
      expect(res.body.source).toBe(source);
      expect(res.body.createdAt).toMatch(ISO_UTC);
      expect(res.body.updatedAt).toBe(res.body.createdAt);
      // normalized: durations in ms, defaults filled in
      expect(res.body.definition).toMatchObject({
        id,
        namespace: 'team.data',
        description: 'Builds the report',
        timeoutMs: 30 * 60 * 1000,
        tasks: [
          { id: 'hello', type: 'log', message: 'Grüße ✓', level: 'info' },
          { id: 'nap', type: 'sleep', durationMs: 2000 },
        ],
      });
      expect(res.body.definition).not.toHaveProperty('timeout');

      const after = await get(server, id);
      expect(after.status).toBe(200);
      expect(after.body).toEqual(res.body);
    });

    it('fills the default namespace and a null description when the YAML omits them', async () => {
      const id = uniqueId('defaults');
      const res = await put(server, id, workflowYaml(id));
      expect(res.status, res.text).toBe(201);
      expect(res.body).toMatchObject({ namespace: 'default', description: null });
      expect(res.body.definition).toMatchObject({ namespace: 'default', description: null });
    });

    it('updates an existing workflow: 200 with revision 2, new source and definition, same createdAt', async () => {
      const id = uniqueId('update');
      const first = await put(server, id, workflowYaml(id, { message: 'first' }));
      expect(first.status, first.text).toBe(201);
      await sleep(5);
      const second = await put(server, id, workflowYaml(id, { message: 'second', description: 'v2' }));
      expect(second.status, second.text).toBe(200);
      expect(second.body).toMatchObject({ id, revision: 2, description: 'v2' });
      expect(second.body.source).toBe(workflowYaml(id, { message: 'second', description: 'v2' }));
      expect(second.body.definition.tasks[0].message).toBe('second');
      expect(second.body.createdAt).toBe(first.body.createdAt);
      expect(Date.parse(second.body.updatedAt)).toBeGreaterThan(Date.parse(first.body.updatedAt));

      const after = await get(server, id);
      expect(after.body).toMatchObject({ revision: 2, description: 'v2' });
      expect(after.body.source).toBe(second.body.source);
    });

    it('bumps the revision on every apply, even when the YAML is identical', async () => {
      const id = uniqueId('same');
      const yaml = workflowYaml(id);
      expect((await put(server, id, yaml)).body.revision).toBe(1);
      const again = await put(server, id, yaml);
      expect(again.status).toBe(200);
      expect(again.body.revision).toBe(2);
      const third = await put(server, id, yaml);
      expect(third.body.revision).toBe(3);
      expect((await get(server, id)).body.revision).toBe(3);
    });

    it.each(['application/yaml', 'text/yaml', 'application/x-yaml', 'application/yaml; charset=utf-8', 'TEXT/YAML'])(
      'accepts the YAML media type %s',
      async (contentType) => {
        const id = uniqueId('media');
        const res = await put(server, id, workflowYaml(id), contentType);
        expect(res.status, res.text).toBe(201);
        expect((await get(server, id)).body.revision).toBe(1);
      },
    );

    it('accepts the full docs/dsl.md example and stores it verbatim', async () => {
      const source = fixture('valid', 'design-example.yaml');
      const res = await put(server, 'nightly-report', source);
      expect(res.status, res.text).toBe(201);
      expect(res.body.source).toBe(source);
      expect(res.body).toMatchObject({ id: 'nightly-report', namespace: 'team.data', description: 'Builds the report' });
      expect(res.body.definition.tasks.map((t: { id: string }) => t.id)).toEqual(['hello', 'fetch', 'pick', 'both', 'check', 'each']);
      expect(res.body.definition.triggers).toHaveLength(1);
    });

    it('accepts a 100-character id (the maximum)', async () => {
      const id = `a${'b'.repeat(99)}`;
      const res = await put(server, id, workflowYaml(id));
      expect(res.status, res.text).toBe(201);
      expect((await get(server, id)).body.id).toBe(id);
    });

    it('rejects an id mismatch with 400 WORKFLOW_ID_MISMATCH and leaves the stored workflow unchanged', async () => {
      const id = uniqueId('mismatch');
      const original = workflowYaml(id);
      await put(server, id, original);
      const other = uniqueId('other');
      const res = await put(server, id, workflowYaml(other, { message: 'hijack' }));
      const error = expectError(res, 400, 'WORKFLOW_ID_MISMATCH');
      expect(error.message).toContain(id);
      expect(error.message).toContain(other);
      const after = await get(server, id);
      expect(after.body.revision).toBe(1);
      expect(after.body.source).toBe(original);
      expectError(await get(server, other), 404, 'NOT_FOUND');
    });

    it('rejects an id mismatch on a new id with 400 WORKFLOW_ID_MISMATCH and creates neither workflow', async () => {
      const pathId = uniqueId('path');
      const yamlId = uniqueId('yaml');
      expectError(await put(server, pathId, workflowYaml(yamlId)), 400, 'WORKFLOW_ID_MISMATCH');
      const ids = await allWorkflowIds(server);
      expect(ids).not.toContain(pathId);
      expect(ids).not.toContain(yamlId);
    });

    it('reports every problem of an invalid workflow at once as INVALID_WORKFLOW details [{path, message, line}]', async () => {
      const source = fixture('invalid', 'multiple-problems.yaml');
      const expected = expectedDiagnostics(source);
      expect(expected.length).toBeGreaterThanOrEqual(5);
      const id = uniqueId('many');
      const res = await put(server, id, source);
      const error = expectError(res, 400, 'INVALID_WORKFLOW');
      const details = expectDiagnosticsShape(error.details);
      expect(details.map((d) => ({ path: d.path, line: d.line }))).toEqual(expected);
      expectError(await get(server, id), 404, 'NOT_FOUND');
    });

    it('rejects an invalid re-apply with all its problems and keeps the previous revision and source', async () => {
      const id = uniqueId('keep');
      const original = workflowYaml(id);
      await put(server, id, original);
      await put(server, id, original);
      const broken = [
        `id: ${id}`,
        'timeout: forever',
        'tasks:',
        '  - {id: a, type: log}',
        '  - {id: a, type: sleep, duration: 1s}',
        '  - {id: c, type: htp}',
        '',
      ].join('\n');
      const res = await put(server, id, broken);
      const error = expectError(res, 400, 'INVALID_WORKFLOW');
      const details = expectDiagnosticsShape(error.details);
      const paths = details.map((d) => d.path);
      expect(paths).toEqual(expect.arrayContaining(['timeout', 'tasks[0].message', 'tasks[1].id', 'tasks[2].type']));
      expect(details.find((d) => d.path === 'timeout')?.line).toBe(2);
      expect(details.find((d) => d.path === 'tasks[2].type')?.line).toBe(6);
      const after = await get(server, id);
      expect(after.body.revision).toBe(2);
      expect(after.body.source).toBe(original);
    });

    it('rejects a YAML syntax error with 400 INVALID_WORKFLOW and a line number', async () => {
      const id = uniqueId('syntax');
      await put(server, id, workflowYaml(id));
      const res = await put(server, id, `id: ${id}\ntasks: [\n  {id: a, type: log, message: x\n`);
      const error = expectError(res, 400, 'INVALID_WORKFLOW');
      const details = expectDiagnosticsShape(error.details);
      expect(details[0].line).toBeGreaterThanOrEqual(1);
      expect((await get(server, id)).body.revision).toBe(1);
    });

    it.each([
      ['an empty body', ''],
      ['a whitespace-only body', '   \n\t\n'],
      ['a comment-only document', '# nothing here\n'],
      ['a YAML list', '- a\n- b\n'],
      ['a bare scalar', 'hello'],
      ['a mapping without id', 'tasks: [{id: a, type: log, message: m}]\n'],
      ['a document with duplicate keys', 'id: dup\nid: dup\ntasks: [{id: a, type: log, message: m}]\n'],
      ['several YAML documents', 'id: dup\ntasks: [{id: a, type: log, message: m}]\n---\nid: dup\ntasks: [{id: b, type: log, message: m}]\n'],
      ['an unknown YAML tag', 'id: dup\ntasks: [{id: a, type: log, message: !js/function "function(){}"}]\n'],
    ])('rejects %s with 400 INVALID_WORKFLOW and stores nothing', async (_name, body) => {
      const res = await server.request('PUT', '/api/v1/workflows/dup', { raw: body, contentType: YAML });
      const error = expectError(res, 400, 'INVALID_WORKFLOW');
      expectDiagnosticsShape(error.details);
      expectError(await get(server, 'dup'), 404, 'NOT_FOUND');
    });

    it.each([
      ['JSON-encoded (openapi-fetch default serializer)', (yaml: string) => JSON.stringify(yaml)],
      ['JSON-encoded with CRLF line ends', (yaml: string) => JSON.stringify(yaml.replace(/\n/g, '\r\n'))],
      ['single-quoted YAML scalar', (yaml: string) => `'${yaml.replace(/'/g, "''")}'`],
    ])('a workflow sent as one %s string: 400 telling the client to send the YAML text itself', async (_name, encode) => {
      const id = uniqueId('encoded');
      const yaml = `id: ${id}\nnamespace: team.enc\ntasks:\n  - {id: a, type: log, message: hi}\n`;
      const res = await server.request('PUT', `/api/v1/workflows/${id}`, { raw: encode(yaml), contentType: YAML });
      const error = expectError(res, 400, 'INVALID_WORKFLOW');
      expect(error.message).toMatch(/quoted \(JSON\) string/);
      expect(error.message).toContain('Content-Type: application/yaml');
      expectError(await get(server, id), 404, 'NOT_FOUND');
      // the same text sent as YAML applies
      expect((await server.request('PUT', `/api/v1/workflows/${id}`, { raw: yaml, contentType: YAML })).status).toBe(201);
    });

    it('a quoted string of 200,000 line breaks is answered at once, not scanned quadratically', async () => {
      const started = Date.now();
      const res = await server.request('PUT', '/api/v1/workflows/newlines', { raw: `"${'\\n'.repeat(200_000)}x"`, contentType: YAML });
      expectError(res, 400, 'INVALID_WORKFLOW');
      expect(Date.now() - started).toBeLessThan(3_000);
      expect((await server.request('GET', '/health/live', { auth: false })).status).toBe(200);
      expectError(await get(server, 'newlines'), 404, 'NOT_FOUND');
    });

    it('rejects a PUT without any body (and no Content-Type) with 400 INVALID_WORKFLOW', async () => {
      const id = uniqueId('nobody');
      const res = await server.request('PUT', `/api/v1/workflows/${id}`);
      expectError(res, 400, 'INVALID_WORKFLOW');
      expectError(await get(server, id), 404, 'NOT_FOUND');
    });

    it('rejects a "billion laughs" alias bomb quickly with 400 INVALID_WORKFLOW', async () => {
      const source = fixture('invalid', 'alias-bomb.yaml');
      const started = Date.now();
      const res = await put(server, 'laughs', source);
      const elapsed = Date.now() - started;
      const error = expectError(res, 400, 'INVALID_WORKFLOW');
      const details = expectDiagnosticsShape(error.details);
      expect(details.some((d) => /alias/i.test(d.message))).toBe(true);
      expect(elapsed).toBeLessThan(2000);
      expectError(await get(server, 'laughs'), 404, 'NOT_FOUND');
      expect((await server.request('GET', '/health/live', { auth: false })).status).toBe(200);
    });

    it.each([
      ['5000 nested flow sequences', () => `id: deep\ntasks: [{id: a, type: log, message: hi}]\nvariables:\n  a: ${'['.repeat(5000)}${']'.repeat(5000)}\n`],
      ['50000 unclosed flow sequences', () => `id: deep\ntasks: [{id: a, type: log, message: hi}]\nvariables:\n  a: ${'['.repeat(50000)}\n`],
      ['3000 nested flow mappings', () => `id: deep\ntasks: [{id: a, type: log, message: hi}]\nvariables:\n  a: ${'{a: '.repeat(3000)}1${'}'.repeat(3000)}\n`],
      [
        '1000 nested block mappings',
        () => {
          let s = 'id: deep\ntasks: [{id: a, type: log, message: hi}]\nvariables:\n';
          for (let i = 1; i <= 1000; i++) s += `${' '.repeat(i * 2)}k${i}:\n`;
          return `${s}${' '.repeat(2002)}leaf: 1\n`;
        },
      ],
    ])('rejects %s with 400 INVALID_WORKFLOW without crashing', async (_name, build) => {
      const started = Date.now();
      const res = await put(server, 'deep', build());
      expectError(res, 400, 'INVALID_WORKFLOW');
      expect(Date.now() - started).toBeLessThan(5000);
      expectError(await get(server, 'deep'), 404, 'NOT_FOUND');
      const live = await server.request('GET', '/health/live', { auth: false });
      expect(live.status).toBe(200);
      expect((await server.request('GET', '/api/v1/status')).body.state).toBe('ready');
    });

    it('gives concurrent applies of one workflow distinct revisions, exactly one of them "created"', async () => {
      const id = uniqueId('race');
      const results = await Promise.all(Array.from({ length: 8 }, (_, i) => put(server, id, workflowYaml(id, { message: `m${i}` }))));
      const statuses = results.map((r) => r.status).sort();
      expect(statuses, results.map((r) => r.text).join('\n')).toEqual([200, 200, 200, 200, 200, 200, 200, 201]);
      const revisions = results.map((r) => r.body.revision).sort((a, b) => a - b);
      expect(revisions).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
      const after = await get(server, id);
      expect(after.body.revision).toBe(8);
      const last = results.find((r) => r.body.revision === 8)!;
      expect(after.body.source).toBe(last.body.source);
    });
  });

  describe('read (GET /api/v1/workflows/:id)', () => {
    it('returns id, namespace, description, enabled, revision, timestamps, definition and source', async () => {
      const id = uniqueId('read');
      const source = workflowYaml(id, { namespace: 'team.read', description: 'Reads' });
      await put(server, id, source);
      const res = await get(server, id);
      expect(res.status).toBe(200);
      expect(Object.keys(res.body).sort()).toEqual(FULL_KEYS);
      expect(res.body).toMatchObject({ id, namespace: 'team.read', description: 'Reads', enabled: true, revision: 1, source });
      expect(res.body.createdAt).toMatch(ISO_UTC);
      expect(res.body.updatedAt).toMatch(ISO_UTC);
      expect(res.body.definition).toMatchObject({ id, namespace: 'team.read', tasks: [{ id: 'hello', type: 'log' }] });
    });

    it('answers an unknown id with 404 NOT_FOUND naming the id', async () => {
      const id = uniqueId('ghost');
      const error = expectError(await get(server, id), 404, 'NOT_FOUND');
      expect(error.message).toContain(id);
    });
  });

  describe('list (GET /api/v1/workflows)', () => {
    const ns = `list.${Date.now().toString(36)}`;
    const ids: string[] = [];

    beforeAll(async () => {
      for (const name of ['a', 'b', 'c']) {
        const id = `${name}-${uniqueId('list')}`;
        ids.push(id);
        const res = await put(server, id, workflowYaml(id, { namespace: ns, description: `wf ${name}` }));
        expect(res.status).toBe(201);
        await sleep(5);
      }
    });

    it('returns {items, limit, offset, hasMore} with defaults limit 50 and offset 0', async () => {
      const res = await server.request('GET', '/api/v1/workflows');
      expect(res.status).toBe(200);
      expect(Object.keys(res.body).sort()).toEqual(['hasMore', 'items', 'limit', 'offset']);
      expect(res.body).toMatchObject({ limit: 50, offset: 0 });
      expect(res.body).not.toHaveProperty('total');
    });

    it('lists newest first with summary items only (no definition, no source)', async () => {
      const res = await server.request('GET', `/api/v1/workflows?namespace=${ns}`);
      expect(res.status).toBe(200);
      expect(res.body.items.map((w: { id: string }) => w.id)).toEqual([...ids].reverse());
      expect(res.body.hasMore).toBe(false);
      for (const item of res.body.items) {
        expect(Object.keys(item).sort()).toEqual(SUMMARY_KEYS);
        expect(item).toMatchObject({ namespace: ns, enabled: true, revision: 1 });
        expect(item.createdAt).toMatch(ISO_UTC);
      }
    });

    it('pages with limit and offset and reports hasMore', async () => {
      const first = await server.request('GET', `/api/v1/workflows?namespace=${ns}&limit=2`);
      expect(first.body).toMatchObject({ limit: 2, offset: 0, hasMore: true });
      expect(first.body.items.map((w: { id: string }) => w.id)).toEqual([ids[2], ids[1]]);
      const second = await server.request('GET', `/api/v1/workflows?namespace=${ns}&limit=2&offset=2`);
      expect(second.body).toMatchObject({ limit: 2, offset: 2, hasMore: false });
      expect(second.body.items.map((w: { id: string }) => w.id)).toEqual([ids[0]]);
      const exact = await server.request('GET', `/api/v1/workflows?namespace=${ns}&limit=3`);
      expect(exact.body.hasMore).toBe(false);
      expect(exact.body.items).toHaveLength(3);
      const beyond = await server.request('GET', `/api/v1/workflows?namespace=${ns}&offset=3`);
      expect(beyond.body).toMatchObject({ items: [], offset: 3, hasMore: false });
    });

    it('accepts the bounds limit=1 and limit=500', async () => {
      const one = await server.request('GET', '/api/v1/workflows?limit=1');
      expect(one.status).toBe(200);
      expect(one.body.items.length).toBeLessThanOrEqual(1);
      const max = await server.request('GET', '/api/v1/workflows?limit=500');
      expect(max.status).toBe(200);
      expect(max.body.limit).toBe(500);
    });

    it('filters by namespace exactly (no prefix match)', async () => {
      const prefix = await server.request('GET', `/api/v1/workflows?namespace=${ns.slice(0, -1)}`);
      expect(prefix.status).toBe(200);
      expect(prefix.body.items).toEqual([]);
      const none = await server.request('GET', '/api/v1/workflows?namespace=no.such.namespace');
      expect(none.body).toMatchObject({ items: [], hasMore: false });
    });

    it('filters by enabled after a PATCH disables one workflow', async () => {
      const patched = await server.request('PATCH', `/api/v1/workflows/${ids[1]}`, { body: { enabled: false } });
      expect(patched.status, patched.text).toBe(200);
      const disabled = await server.request('GET', `/api/v1/workflows?namespace=${ns}&enabled=false`);
      expect(disabled.body.items.map((w: { id: string }) => w.id)).toEqual([ids[1]]);
      expect(disabled.body.items[0].enabled).toBe(false);
      const enabled = await server.request('GET', `/api/v1/workflows?namespace=${ns}&enabled=true`);
      expect(enabled.body.items.map((w: { id: string }) => w.id)).toEqual([ids[2], ids[0]]);
      await server.request('PATCH', `/api/v1/workflows/${ids[1]}`, { body: { enabled: true } });
    });

    it.each([
      ['limit=0', 'limit'],
      ['limit=501', 'limit'],
      ['limit=-1', 'limit'],
      ['limit=abc', 'limit'],
      ['limit=1.5', 'limit'],
      ['limit=', 'limit'],
      ['offset=-1', 'offset'],
      ['offset=abc', 'offset'],
      ['enabled=maybe', 'enabled'],
      ['enabled=1', 'enabled'],
      ['enabled=', 'enabled'],
      ['namespace=..%2Fx', 'namespace'],
      ['limit=1&limit=2', 'limit'],
      ['foo=1', 'foo'],
      ['api_key=x', 'api_key'],
    ])('rejects ?%s with 400 VALIDATION_ERROR and details [{field: %s, message}]', async (query, field) => {
      const res = await server.request('GET', `/api/v1/workflows?${query}`);
      const error = expectError(res, 400, 'VALIDATION_ERROR');
      expect(Array.isArray(error.details)).toBe(true);
      expect(error.details.length).toBeGreaterThan(0);
      for (const d of error.details) {
        expect(Object.keys(d).sort()).toEqual(['field', 'message']);
        expect(typeof d.message).toBe('string');
      }
      expect(error.details.map((d: { field: string }) => d.field)).toContain(field);
    });

    it('reports each invalid query parameter once per problem, all in one response', async () => {
      const res = await server.request('GET', '/api/v1/workflows?limit=0&offset=-1&enabled=maybe');
      const error = expectError(res, 400, 'VALIDATION_ERROR');
      const fields = error.details.map((d: { field: string }) => d.field);
      expect(new Set(fields)).toEqual(new Set(['limit', 'offset', 'enabled']));
    });
  });

  describe('enable/disable (PATCH /api/v1/workflows/:id)', () => {
    it('disables with {enabled:false}: 200, revision unchanged, GET and list agree', async () => {
      const id = uniqueId('patch');
      const created = await put(server, id, workflowYaml(id));
      const res = await server.request('PATCH', `/api/v1/workflows/${id}`, { body: { enabled: false } });
      expect(res.status, res.text).toBe(200);
      expect(Object.keys(res.body).sort()).toEqual(FULL_KEYS);
      expect(res.body).toMatchObject({ id, enabled: false, revision: 1, source: created.body.source });
      const after = await get(server, id);
      expect(after.body).toMatchObject({ enabled: false, revision: 1 });
      const disabled = await server.request('GET', '/api/v1/workflows?enabled=false&limit=500');
      expect(disabled.body.items.map((w: { id: string }) => w.id)).toContain(id);
      const enabled = await server.request('GET', '/api/v1/workflows?enabled=true&limit=500');
      expect(enabled.body.items.map((w: { id: string }) => w.id)).not.toContain(id);
    });

    it('re-enables with {enabled:true} and is idempotent', async () => {
      const id = uniqueId('reenable');
      await put(server, id, workflowYaml(id));
      await server.request('PATCH', `/api/v1/workflows/${id}`, { body: { enabled: false } });
      const on = await server.request('PATCH', `/api/v1/workflows/${id}`, { body: { enabled: true } });
      expect(on.status).toBe(200);
      expect(on.body.enabled).toBe(true);
      const again = await server.request('PATCH', `/api/v1/workflows/${id}`, { body: { enabled: true } });
      expect(again.status).toBe(200);
      expect((await get(server, id)).body).toMatchObject({ enabled: true, revision: 1 });
    });

    it.each([
      ['{}', {}, ['enabled']],
      ['{enabled: "yes"}', { enabled: 'yes' }, ['enabled']],
      ['{enabled: "false"}', { enabled: 'false' }, ['enabled']],
      ['{enabled: 1}', { enabled: 1 }, ['enabled']],
      ['{enabled: null}', { enabled: null }, ['enabled']],
      ['{enabled: true, extra: 1}', { enabled: true, extra: 1 }, ['extra']],
      ['{revision: 5}', { revision: 5 }, ['revision']],
      ['[]', [], ['enabled']],
      ['null', null, ['enabled']],
      ['"true"', 'true', ['enabled']],
    ])('rejects the body %s with 400 VALIDATION_ERROR and leaves the workflow unchanged', async (_name, body, fields) => {
      const id = uniqueId('badpatch');
      await put(server, id, workflowYaml(id));
      await server.request('PATCH', `/api/v1/workflows/${id}`, { body: { enabled: false } });
      const res = await server.request('PATCH', `/api/v1/workflows/${id}`, { raw: JSON.stringify(body), contentType: 'application/json' });
      const error = expectError(res, 400, 'VALIDATION_ERROR');
      expect(Array.isArray(error.details)).toBe(true);
      for (const d of error.details) expect(Object.keys(d).sort()).toEqual(['field', 'message']);
      expect(error.details.map((d: { field: string }) => d.field)).toEqual(expect.arrayContaining(fields));
      expect((await get(server, id)).body).toMatchObject({ enabled: false, revision: 1 });
    });

    it('rejects a PATCH without a body with 400 VALIDATION_ERROR', async () => {
      const id = uniqueId('emptypatch');
      await put(server, id, workflowYaml(id));
      const res = await server.request('PATCH', `/api/v1/workflows/${id}`);
      expectError(res, 400, 'VALIDATION_ERROR');
      expect((await get(server, id)).body.enabled).toBe(true);
    });

    it('answers PATCH of an unknown id with 404 NOT_FOUND and creates nothing', async () => {
      const id = uniqueId('ghost');
      expectError(await server.request('PATCH', `/api/v1/workflows/${id}`, { body: { enabled: false } }), 404, 'NOT_FOUND');
      expectError(await get(server, id), 404, 'NOT_FOUND');
    });

    it('keeps a workflow disabled when it is re-applied', async () => {
      const id = uniqueId('sticky');
      await put(server, id, workflowYaml(id));
      await server.request('PATCH', `/api/v1/workflows/${id}`, { body: { enabled: false } });
      const res = await put(server, id, workflowYaml(id, { message: 'v2' }));
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ revision: 2, enabled: false });
      expect((await get(server, id)).body.enabled).toBe(false);
    });
  });

  describe('delete (DELETE /api/v1/workflows/:id)', () => {
    it('deletes with 204 and an empty body; then GET, PATCH and DELETE answer 404 and the list omits it', async () => {
      const id = uniqueId('delete');
      await put(server, id, workflowYaml(id));
      const res = await server.request('DELETE', `/api/v1/workflows/${id}`);
      expect(res.status).toBe(204);
      expect(res.text).toBe('');
      expectError(await get(server, id), 404, 'NOT_FOUND');
      expectError(await server.request('PATCH', `/api/v1/workflows/${id}`, { body: { enabled: true } }), 404, 'NOT_FOUND');
      expectError(await server.request('DELETE', `/api/v1/workflows/${id}`), 404, 'NOT_FOUND');
      expect(await allWorkflowIds(server)).not.toContain(id);
    });

    it('answers DELETE of an unknown id with 404 NOT_FOUND', async () => {
      expectError(await server.request('DELETE', `/api/v1/workflows/${uniqueId('ghost')}`), 404, 'NOT_FOUND');
    });

    it('re-creates a deleted workflow with 201 and the revision counting on (3 after two revisions and a delete)', async () => {
      const id = uniqueId('revive');
      expect((await put(server, id, workflowYaml(id, { message: 'one' }))).body.revision).toBe(1);
      expect((await put(server, id, workflowYaml(id, { message: 'two' }))).body.revision).toBe(2);
      expect((await server.request('DELETE', `/api/v1/workflows/${id}`)).status).toBe(204);
      const revived = await put(server, id, workflowYaml(id, { message: 'three' }));
      expect(revived.status, revived.text).toBe(201);
      expect(revived.body).toMatchObject({ revision: 3, enabled: true });
      const after = await get(server, id);
      expect(after.body.revision).toBe(3);
      expect(after.body.definition.tasks[0].message).toBe('three');
    });
  });

  describe('hostile ids in the path', () => {
    const auth = () => ({ authorization: `Bearer ${server.key}` });

    it.each([
      ['path traversal', '..%2F..%2Fetc%2Fpasswd'],
      ['encoded dot-dot', '%2e%2e'],
      ['encoded single dot', '%2e'],
      ['NUL byte', 'a%00b'],
      ['right-to-left override', 'a%E2%80%AEb'],
      ['newline', 'a%0Ab'],
      ['carriage return + header', 'a%0D%0AX-Injected:%201'],
      ['leading dash', '-leading'],
      ['leading dot', '.hidden'],
      ['leading underscore', '_under'],
      ['space', 'a%20b'],
      ['encoded slash', 'a%2Fb'],
      ['non-ASCII letter', 'caf%C3%A9'],
      ['semicolon', 'a;b'],
      ['SQL quote', "a'%20OR%20'1'='1"],
    ])('rejects a %s id with 400 VALIDATION_ERROR on GET, PUT, PATCH and DELETE and creates nothing', async (_name, segment) => {
      const before = await allWorkflowIds(server);
      const path = `/api/v1/workflows/${segment}`;
      const responses = [
        await rawRequest(server.url, 'GET', path, { headers: auth() }),
        await rawRequest(server.url, 'PUT', path, { headers: { ...auth(), 'content-type': YAML }, body: workflowYaml('innocent') }),
        await rawRequest(server.url, 'PATCH', path, { headers: { ...auth(), 'content-type': 'application/json' }, body: '{"enabled":false}' }),
        await rawRequest(server.url, 'DELETE', path, { headers: auth() }),
      ];
      for (const res of responses) {
        const error = expectError(res, 400, 'VALIDATION_ERROR');
        expect(error.details).toEqual([{ field: 'id', message: expect.any(String) }]);
        expect(res.headers.get('x-injected')).toBeNull();
      }
      expect(await allWorkflowIds(server)).toEqual(before);
      expectError(await get(server, 'innocent'), 404, 'NOT_FOUND');
    });

    it.each([
      ['101-character', 'x'.repeat(101)],
      ['300-character', 'y'.repeat(300)],
    ])('rejects a %s id with a 4xx in the error shape (400 VALIDATION_ERROR or 404 NOT_FOUND) and creates nothing', async (_name, id) => {
      const before = await allWorkflowIds(server);
      const getRes = await rawRequest(server.url, 'GET', `/api/v1/workflows/${id}`, { headers: auth() });
      expectClientError(getRes, { 400: 'VALIDATION_ERROR', 404: 'NOT_FOUND' });
      const putRes = await rawRequest(server.url, 'PUT', `/api/v1/workflows/${id}`, { headers: { ...auth(), 'content-type': YAML }, body: workflowYaml(id) });
      expectClientError(putRes, { 400: 'VALIDATION_ERROR', 404: 'NOT_FOUND' });
      expect(await allWorkflowIds(server)).toEqual(before);
    });

    it.each(['%zz', 'a%E2%80'])('rejects the malformed percent-encoding %s with 400 in the error shape', async (segment) => {
      const res = await rawRequest(server.url, 'GET', `/api/v1/workflows/${segment}`, { headers: auth() });
      expectError(res, 400, 'VALIDATION_ERROR');
    });

    it('treats a literal ../ in the path as a different route, never as a workflow id', async () => {
      const res = await rawRequest(server.url, 'GET', '/api/v1/workflows/../../../etc/passwd', { headers: auth() });
      expectClientError(res, { 400: 'VALIDATION_ERROR', 404: 'NOT_FOUND' });
      expect(res.text).not.toContain('root:');
    });

    it('still serves normal requests after the hostile ones', async () => {
      const id = uniqueId('after-hostile');
      expect((await put(server, id, workflowYaml(id))).status).toBe(201);
      expect((await server.request('GET', '/health/live', { auth: false })).status).toBe(200);
    });
  });
});

describe('workflows survive a restart', () => {
  it('serves the same revisions, sources and enabled flags from a new server on the same database file', async () => {
    const dir = tempDir();
    const first = await startTestServer({ dir });
    const a = uniqueId('persist');
    const b = uniqueId('persist');
    const sourceA2 = workflowYaml(a, { message: 'second', description: 'kept' });
    try {
      await put(first, a, workflowYaml(a, { message: 'first' }));
      await put(first, a, sourceA2);
      await put(first, b, workflowYaml(b));
      await first.request('PATCH', `/api/v1/workflows/${b}`, { body: { enabled: false } });
      const gone = uniqueId('persist-gone');
      await put(first, gone, workflowYaml(gone));
      await first.request('DELETE', `/api/v1/workflows/${gone}`);
    } finally {
      await first.close();
    }

    const second = await startTestServer({ dir, key: first.key });
    try {
      expect(second.dbPath).toBe(first.dbPath);
      const gotA = await get(second, a);
      expect(gotA.status, gotA.text).toBe(200);
      expect(gotA.body).toMatchObject({ id: a, revision: 2, description: 'kept', enabled: true });
      expect(gotA.body.source).toBe(sourceA2);
      const gotB = await get(second, b);
      expect(gotB.body).toMatchObject({ revision: 1, enabled: false });
      const ids = await allWorkflowIds(second);
      expect(ids).toEqual(expect.arrayContaining([a, b]));
      expect(ids).toHaveLength(2);
      // the revision counter also survives
      const a3 = await put(second, a, workflowYaml(a, { message: 'third' }));
      expect(a3.status).toBe(200);
      expect(a3.body.revision).toBe(3);
    } finally {
      await second.close();
    }
  });
});
