import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyWorkflow, startTestServer, type TestServer } from '../support/server';
import { expectError, put, uniqueId } from './helpers';
import { createKey } from './access-helpers';
import { trigger } from './engine-helpers';

/** Issue 8 §1 over HTTP: declared outputs on the execution, unique tool names, json input schemas. */
let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server?.close();
});

function toolYaml(id: string, tool: string, options: { namespace?: string } = {}): string {
  return [`id: ${id}`, `namespace: ${options.namespace ?? 'default'}`, 'description: a tool for the tests', 'tasks: [{id: t, type: log, message: hi}]', tool, ''].join('\n');
}

describe('declared outputs (workflowOutputs)', () => {
  it('are computed, typed and shown on the execution, apart from the task outputs', async () => {
    const wf = uniqueId('outs');
    await applyWorkflow(
      server,
      wf,
      [
        `id: ${wf}`,
        'inputs: [{id: day, type: datetime, required: true, description: "the day"}]',
        'tasks:',
        '  - {id: sum, type: output, values: {total: "12.5", count: 3, top: [a, b]}}',
        'outputs:',
        '  - {id: total, type: number, value: "{{ outputs.sum.total }}", description: Revenue}',
        '  - {id: count, type: string, value: "{{ outputs.sum.count }}"}',
        '  - {id: top, type: json, value: "{{ outputs.sum.top }}"}',
        '  - {id: day, type: datetime, value: "{{ inputs.day }}"}',
        '',
      ].join('\n'),
    );
    const res = await trigger(server, wf, { inputs: { day: '2026-12-03T10:00:00+01:00' } }, { query: '?wait=10s' });
    expect(res.status, res.text).toBe(200);
    expect(res.body.state).toBe('SUCCESS');
    const expected = { total: 12.5, count: '3', top: ['a', 'b'], day: '2026-12-03T09:00:00.000Z' };
    expect(res.body.workflowOutputs).toEqual(expected);
    const got = await server.request('GET', `/api/v1/executions/${res.body.id}`);
    expect(got.status, got.text).toBe(200);
    expect(got.body.workflowOutputs).toEqual(expected);
    // `outputs` keeps its meaning: taskId → that task's outputs
    expect(got.body.outputs).toEqual({ sum: { total: '12.5', count: 3, top: ['a', 'b'] } });
  });

  it('are null when the workflow declares none', async () => {
    const wf = uniqueId('no-outs');
    await applyWorkflow(server, wf, `id: ${wf}\ntasks: [{id: o, type: output, values: {v: 1}}]\n`);
    const res = await trigger(server, wf, {}, { query: '?wait=10s' });
    expect(res.body.state, res.text).toBe('SUCCESS');
    expect(res.body.workflowOutputs).toBeNull();
  });

  it('a value that does not fit its type fails the execution with OUTPUTS_INVALID naming the output', async () => {
    const wf = uniqueId('outs-bad');
    await applyWorkflow(
      server,
      wf,
      [`id: ${wf}`, 'tasks: [{id: sum, type: output, values: {total: "twelve"}}]', 'outputs:', '  - {id: total, type: number, value: "{{ outputs.sum.total }}"}', ''].join('\n'),
    );
    const res = await trigger(server, wf, {}, { query: '?wait=10s' });
    expect(res.status, res.text).toBe(200);
    expect(res.body.state).toBe('FAILED');
    expect(res.body.error).toEqual({
      kind: 'OUTPUTS_INVALID',
      taskId: null,
      message: "output 'total' (type number) must be a number, got string 'twelve' from '{{ outputs.sum.total }}'",
    });
    expect(res.body.workflowOutputs).toBeNull();
    // the tasks themselves succeeded: their outputs stay visible
    expect(res.body.outputs).toEqual({ sum: { total: 'twelve' } });
  });
});

describe('tool names', () => {
  it('are unique across workflows: 400 INVALID_WORKFLOW at tool.name with its line, naming the holder', async () => {
    const name = uniqueId('tool').replace(/[^A-Za-z0-9_-]/g, '_');
    const first = uniqueId('holder');
    const second = uniqueId('taker');
    await applyWorkflow(server, first, toolYaml(first, `tool: {name: ${name}}`));
    const res = await put(server, second, toolYaml(second, `tool:\n  name: ${name}`));
    const error = expectError(res, 400, 'INVALID_WORKFLOW');
    expect(error.details).toEqual([
      { path: 'tool.name', line: 6, message: `tool name '${name}' is already used by workflow '${first}'; tool names are unique across workflows: choose another tool.name` },
    ]);
    // nothing was stored for the refused apply
    expect((await server.request('GET', `/api/v1/workflows/${second}`)).status).toBe(404);
    // re-applying the holder keeps its name
    const again = await put(server, first, toolYaml(first, `tool: {name: ${name}, title: Again}`));
    expect(again.status, again.text).toBe(200);
    expect(again.body.revision).toBe(2);
  });

  it('a defaulted name (the workflow id) is reported at tool', async () => {
    const id = uniqueId('dflt').replace(/[^A-Za-z0-9_-]/g, '_');
    const other = uniqueId('named');
    await applyWorkflow(server, other, toolYaml(other, `tool: {name: ${id}}`));
    const error = expectError(await put(server, id, toolYaml(id, 'tool: {}')), 400, 'INVALID_WORKFLOW');
    expect(error.details).toEqual([
      { path: 'tool', line: 5, message: `tool name '${id}' is already used by workflow '${other}'; tool names are unique across workflows: set tool.name (the default is the workflow id)` },
    ]);
  });

  it('renaming frees the old name, deleting frees the name', async () => {
    const name = uniqueId('rn').replace(/[^A-Za-z0-9_-]/g, '_');
    const a = uniqueId('a');
    const b = uniqueId('b');
    await applyWorkflow(server, a, toolYaml(a, `tool: {name: ${name}}`));
    expectError(await put(server, b, toolYaml(b, `tool: {name: ${name}}`)), 400, 'INVALID_WORKFLOW');
    await applyWorkflow(server, a, toolYaml(a, `tool: {name: ${name}_v2}`));
    expect((await put(server, b, toolYaml(b, `tool: {name: ${name}}`))).status).toBe(201);
    // dropping `tool:` frees a name too
    await applyWorkflow(server, a, toolYaml(a, ''));
    const c = uniqueId('c');
    expect((await put(server, c, toolYaml(c, `tool: {name: ${name}_v2}`))).status).toBe(201);
    expect((await server.request('DELETE', `/api/v1/workflows/${b}`)).status).toBe(204);
    const d = uniqueId('d');
    expect((await put(server, d, toolYaml(d, `tool: {name: ${name}}`))).status).toBe(201);
  });

  it('two applies racing for one name: one wins, the other gets the same 400 (never a 500)', async () => {
    const name = uniqueId('race').replace(/[^A-Za-z0-9_-]/g, '_');
    const ids = Array.from({ length: 6 }, () => uniqueId('racer'));
    const answers = await Promise.all(ids.map((id) => put(server, id, toolYaml(id, `tool: {name: ${name}}`))));
    expect(answers.filter((r) => r.status === 201)).toHaveLength(1);
    for (const res of answers.filter((r) => r.status !== 201)) {
      const error = expectError(res, 400, 'INVALID_WORKFLOW');
      expect(error.details[0]).toMatchObject({ path: 'tool.name', line: 5 });
    }
  });

  it('the holder is named only when the caller can see its namespace', async () => {
    const name = uniqueId('hidden').replace(/[^A-Za-z0-9_-]/g, '_');
    const secretWf = uniqueId('secret');
    await applyWorkflow(server, secretWf, toolYaml(secretWf, `tool: {name: ${name}}`, { namespace: 'team.hidden' }));
    const key = await createKey(server, { scopes: ['workflows:write', 'workflows:read'], namespaces: ['team.open'] });
    const mine = uniqueId('mine');
    const res = await server.request('PUT', `/api/v1/workflows/${mine}`, {
      raw: toolYaml(mine, `tool: {name: ${name}}`, { namespace: 'team.open' }),
      contentType: 'application/yaml',
      auth: key.key,
    });
    const error = expectError(res, 400, 'INVALID_WORKFLOW');
    expect(error.details[0].message).toBe(`tool name '${name}' is already used by another workflow; tool names are unique across workflows: choose another tool.name`);
    expect(res.text).not.toContain(secretWf);
  });

  it('tool rules of the DSL answer 400 with path and line', async () => {
    const id = 'team.report';
    const error = expectError(await put(server, id, `id: ${id}\ndescription: d\ntasks: [{id: t, type: log, message: hi}]\ntool: {}\n`), 400, 'INVALID_WORKFLOW');
    expect(error.details).toEqual([{ path: 'tool', line: 4, message: expect.stringContaining('set tool.name') }]);
  });
});

describe('json inputs with a schema', () => {
  it('a value that violates the schema is 400 INVALID_INPUTS with one detail per field', async () => {
    const wf = uniqueId('schema');
    await applyWorkflow(
      server,
      wf,
      [
        `id: ${wf}`,
        'inputs:',
        '  - id: payload',
        '    type: json',
        '    required: true',
        '    schema: {type: object, properties: {n: {type: integer, minimum: 1}}, required: [n], additionalProperties: false}',
        'tasks: [{id: t, type: log, message: "{{ inputs.payload.n }}"}]',
        '',
      ].join('\n'),
    );
    const bad = await trigger(server, wf, { inputs: { payload: { n: 0 } } });
    const error = expectError(bad, 400, 'INVALID_INPUTS');
    expect(error.details).toEqual([{ field: 'inputs.payload', message: 'does not match the input schema at /n: must be >= 1' }]);
    const missing = expectError(await trigger(server, wf, { inputs: { payload: { m: 1 } } }), 400, 'INVALID_INPUTS');
    expect(missing.details).toHaveLength(1);
    expect(missing.details[0].field).toBe('inputs.payload');
    const good = await trigger(server, wf, { inputs: { payload: { n: 2 } } }, { query: '?wait=10s' });
    expect(good.status, good.text).toBe(200);
    expect(good.body.state).toBe('SUCCESS');
  });

  it('an invalid schema is refused at apply with its path and line', async () => {
    const wf = uniqueId('schema-bad');
    const error = expectError(
      await put(server, wf, `id: ${wf}\ninputs:\n  - id: p\n    type: json\n    schema: {type: objct}\ntasks: [{id: t, type: log, message: hi}]\n`),
      400,
      'INVALID_WORKFLOW',
    );
    expect(error.details).toEqual([{ path: 'inputs[0].schema', line: 5, message: expect.stringMatching(/^is not a valid JSON Schema \(2020-12\): /) }]);
  });
});
