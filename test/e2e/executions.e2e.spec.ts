/**
 * Executions API v1 (issue 3, DESIGN §4/§6): trigger, wait, idempotency, inputs, revision
 * pinning, the execution JSON, list and inspect. Real server, real SQLite file.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli';
import { applyWorkflow, startTestServer, TEST_CONFIG, type TestServer } from '../support/server';
import { expectError, uniqueId } from './helpers';
import {
  EXECUTION_FIELDS,
  inspect,
  listAll,
  ms,
  runToEnd,
  runsOf,
  sortedKeys,
  start,
  TASK_RUN_FIELDS,
  trigger,
  ULID,
  waitFor,
  waitTerminal,
} from './engine-helpers';

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
});

afterAll(async () => {
  await server?.close();
});

function simple(id: string, extra = ''): string {
  return `id: ${id}\ntasks:\n  - {id: hello, type: log, message: hi}\n  - {id: out, type: output, values: {answer: 42}}\n${extra}`;
}

async function countExecutions(workflowId: string): Promise<number> {
  return (await listAll(server, `workflowId=${workflowId}`)).length;
}

describe('POST /api/v1/workflows/:id/executions', () => {
  it('accepts a request without any body and answers 202 with the QUEUED execution in the documented shape', async () => {
    const wf = uniqueId('exec-shape');
    await applyWorkflow(server, wf, simple(wf));
    const res = await server.request('POST', `/api/v1/workflows/${wf}/executions`);
    expect(res.status, res.text).toBe(202);
    const e = res.body;
    expect(sortedKeys(e)).toEqual(EXECUTION_FIELDS);
    expect(e.id).toMatch(ULID);
    expect(e).toMatchObject({ workflowId: wf, namespace: 'default', revision: 1, state: 'QUEUED', inputs: {}, error: null, labels: {}, trigger: { type: 'api' } });
    expect(e.startedAt).toBeNull();
    expect(e.endedAt).toBeNull();
    expect(e.durationMs).toBeNull();
    expect(new Date(e.createdAt).toISOString()).toBe(e.createdAt);
    expect(e.history).toEqual([{ state: 'QUEUED', at: e.createdAt }]);
    const done = await waitTerminal(server, e.id);
    expect(done.state).toBe('SUCCESS');
  });

  it('also accepts an empty JSON object body (202 QUEUED)', async () => {
    const wf = uniqueId('exec-empty');
    await applyWorkflow(server, wf, simple(wf));
    const res = await trigger(server, wf, {});
    expect(res.status, res.text).toBe(202);
    expect(res.body.state).toBe('QUEUED');
    expect((await waitTerminal(server, res.body.id)).state).toBe('SUCCESS');
  });

  it('inspect of a finished execution reports outputs, timings, the state history and one task run per task', async () => {
    const wf = uniqueId('exec-inspect');
    await applyWorkflow(server, wf, simple(wf));
    const done = await runToEnd(server, wf);
    expect(sortedKeys(done)).toEqual([...EXECUTION_FIELDS, 'taskRuns'].sort());
    // only tasks that produced outputs appear (the log task produces none)
    expect(done.outputs).toEqual({ out: { answer: 42 } });
    expect(done.error).toBeNull();
    expect(done.history.map((h: any) => h.state)).toEqual(['QUEUED', 'RUNNING', 'SUCCESS']);
    const ats = done.history.map((h: any) => ms(h.at));
    expect([...ats].sort((a, b) => a - b)).toEqual(ats);
    expect(done.startedAt).toBe(done.history[1].at);
    expect(done.endedAt).toBe(done.history[2].at);
    expect(done.durationMs).toBe(ms(done.endedAt) - ms(done.startedAt));
    expect(ms(done.createdAt)).toBeLessThanOrEqual(ms(done.startedAt));
    expect(done.taskRuns).toHaveLength(2);
    for (const run of done.taskRuns) {
      expect(sortedKeys(run)).toEqual(TASK_RUN_FIELDS);
      expect(run.id).toMatch(ULID);
      expect(run).toMatchObject({ parentTaskRunId: null, iteration: null, attempt: 1, state: 'SUCCESS', error: null });
      expect(run.durationMs).toBe(ms(run.endedAt) - ms(run.startedAt));
    }
    expect(runsOf(done, 'hello')[0].outputs).toBeNull();
    expect(runsOf(done, 'out')[0].outputs).toEqual({ answer: 42 });
    // task runs in execution order
    expect(done.taskRuns.map((r: any) => r.taskId)).toEqual(['hello', 'out']);
  });

  it('404 NOT_FOUND for an unknown workflow, and no execution is created', async () => {
    const wf = uniqueId('exec-missing');
    const res = await trigger(server, wf, {});
    expectError(res, 404, 'NOT_FOUND');
    expect(await countExecutions(wf)).toBe(0);
  });

  it('409 WORKFLOW_DISABLED for a disabled workflow, and no execution is created; enabling it again allows triggers', async () => {
    const wf = uniqueId('exec-disabled');
    await applyWorkflow(server, wf, simple(wf));
    const patch = await server.request('PATCH', `/api/v1/workflows/${wf}`, { body: { enabled: false } });
    expect(patch.status, patch.text).toBe(200);
    expectError(await trigger(server, wf, {}), 409, 'WORKFLOW_DISABLED');
    expect(await countExecutions(wf)).toBe(0);
    expect((await server.request('PATCH', `/api/v1/workflows/${wf}`, { body: { enabled: true } })).status).toBe(200);
    const res = await trigger(server, wf, {});
    expect(res.status, res.text).toBe(202);
    expect(await countExecutions(wf)).toBe(1);
  });

  it('merges the workflow labels with the request labels; non-string labels → 400 VALIDATION_ERROR', async () => {
    const wf = uniqueId('exec-labels');
    await applyWorkflow(server, wf, simple(wf, 'labels: {team: data, env: dev}\n'));
    const res = await trigger(server, wf, { labels: { env: 'prod', run: 'r1' } });
    expect(res.status, res.text).toBe(202);
    expect(res.body.labels).toEqual({ team: 'data', env: 'prod', run: 'r1' });
    expectError(await trigger(server, wf, { labels: { n: 1 } }), 400, 'VALIDATION_ERROR');
    expect(await countExecutions(wf)).toBe(1);
  });

  it('a body whose inputs is not an object → 400 VALIDATION_ERROR on field inputs, creating nothing', async () => {
    const wf = uniqueId('exec-badinputs');
    await applyWorkflow(server, wf, simple(wf));
    const notObject = expectError(await trigger(server, wf, { inputs: 'nope' }), 400, 'VALIDATION_ERROR');
    expect(notObject.details).toEqual([expect.objectContaining({ field: 'inputs' })]);
    expect(await countExecutions(wf)).toBe(0);
  });

  it('a body with an unknown field → 400 VALIDATION_ERROR (strict validation), creating nothing', async () => {
    const wf = uniqueId('exec-unknownfield');
    await applyWorkflow(server, wf, simple(wf));
    expectError(await trigger(server, wf, { unknownField: 1 }), 400, 'VALIDATION_ERROR');
    expect(await countExecutions(wf)).toBe(0);
  });
});

describe('?wait=<duration>', () => {
  it('answers 200 with the finished execution when it ends within the wait', async () => {
    const wf = uniqueId('wait-ok');
    await applyWorkflow(server, wf, `id: ${wf}\ntasks:\n  - {id: nap, type: sleep, duration: 100ms}\n  - {id: out, type: output, values: {done: true}}\n`);
    const res = await trigger(server, wf, {}, { query: '?wait=10s' });
    expect(res.status, res.text).toBe(200);
    expect(res.body.state).toBe('SUCCESS');
    expect(res.body.outputs).toEqual({ out: { done: true } });
    expect(res.body.endedAt).not.toBeNull();
    expect((await inspect(server, res.body.id)).state).toBe('SUCCESS');
  });

  it('answers 202 with the still-running execution when the wait runs out first', async () => {
    const wf = uniqueId('wait-short');
    await applyWorkflow(server, wf, `id: ${wf}\ntasks:\n  - {id: nap, type: sleep, duration: 2s}\n`);
    const began = Date.now();
    const res = await trigger(server, wf, {}, { query: '?wait=300ms' });
    const took = Date.now() - began;
    expect(res.status, res.text).toBe(202);
    expect(['QUEUED', 'RUNNING']).toContain(res.body.state);
    expect(took).toBeGreaterThanOrEqual(250);
    expect(took).toBeLessThan(1800);
    expect((await waitTerminal(server, res.body.id)).state).toBe('SUCCESS');
  });

  it('rejects a wait over 60s or a malformed wait with 400 VALIDATION_ERROR, creating nothing', async () => {
    const wf = uniqueId('wait-bad');
    await applyWorkflow(server, wf, simple(wf));
    expectError(await trigger(server, wf, {}, { query: '?wait=61s' }), 400, 'VALIDATION_ERROR');
    expectError(await trigger(server, wf, {}, { query: '?wait=2m' }), 400, 'VALIDATION_ERROR');
    expectError(await trigger(server, wf, {}, { query: '?wait=soon' }), 400, 'VALIDATION_ERROR');
    expect(await countExecutions(wf)).toBe(0);
    const ok = await trigger(server, wf, {}, { query: '?wait=60s' });
    expect(ok.status, ok.text).toBe(200);
    expect(ok.body.state).toBe('SUCCESS');
  });
});

describe('Idempotency-Key', () => {
  it('same key + same body returns the first execution with 200; the list holds one execution', async () => {
    const wf = uniqueId('idem-same');
    await applyWorkflow(server, wf, `id: ${wf}\ninputs:\n  - {id: n, type: integer}\ntasks:\n  - {id: hello, type: log, message: hi}\n`);
    const headers = { 'idempotency-key': `k-${wf}` };
    const first = await trigger(server, wf, { inputs: { n: 1 }, labels: { a: 'b' } }, { headers });
    expect(first.status, first.text).toBe(202);
    const again = await trigger(server, wf, { inputs: { n: 1 }, labels: { a: 'b' } }, { headers });
    expect(again.status, again.text).toBe(200);
    expect(again.body.id).toBe(first.body.id);
    // key order of the body does not matter
    const reordered = await trigger(server, wf, { labels: { a: 'b' }, inputs: { n: 1 } }, { headers });
    expect(reordered.status, reordered.text).toBe(200);
    expect(reordered.body.id).toBe(first.body.id);
    await waitTerminal(server, first.body.id);
    // still the same after it finished
    const later = await trigger(server, wf, { inputs: { n: 1 }, labels: { a: 'b' } }, { headers });
    expect(later.status).toBe(200);
    expect(later.body.id).toBe(first.body.id);
    expect(later.body.state).toBe('SUCCESS');
    expect(await countExecutions(wf)).toBe(1);
  });

  it('same key + a different body → 409 IDEMPOTENCY_KEY_REUSED and no new execution', async () => {
    const wf = uniqueId('idem-diff');
    await applyWorkflow(server, wf, `id: ${wf}\ninputs:\n  - {id: n, type: integer}\ntasks:\n  - {id: hello, type: log, message: hi}\n`);
    const headers = { 'idempotency-key': `k-${wf}` };
    const first = await trigger(server, wf, { inputs: { n: 1 } }, { headers });
    expect(first.status, first.text).toBe(202);
    expectError(await trigger(server, wf, { inputs: { n: 2 } }, { headers }), 409, 'IDEMPOTENCY_KEY_REUSED');
    expectError(await trigger(server, wf, {}, { headers }), 409, 'IDEMPOTENCY_KEY_REUSED');
    expect(await countExecutions(wf)).toBe(1);
    // without the key, a new execution is created as usual
    expect((await trigger(server, wf, { inputs: { n: 2 } })).status).toBe(202);
    expect(await countExecutions(wf)).toBe(2);
  });

  it('the same key on another workflow is a different request (a new execution)', async () => {
    const a = uniqueId('idem-a');
    const b = uniqueId('idem-b');
    await applyWorkflow(server, a, simple(a));
    await applyWorkflow(server, b, simple(b));
    const headers = { 'idempotency-key': `shared-${a}` };
    const ra = await trigger(server, a, {}, { headers });
    const rb = await trigger(server, b, {}, { headers });
    expect(ra.status).toBe(202);
    expect(rb.status).toBe(202);
    expect(rb.body.id).not.toBe(ra.body.id);
    expect(rb.body.workflowId).toBe(b);
  });

  it('10 concurrent identical requests create exactly one execution and all answer its id', async () => {
    const wf = uniqueId('idem-race');
    await applyWorkflow(server, wf, simple(wf));
    const headers = { 'idempotency-key': `race-${wf}` };
    const responses = await Promise.all(Array.from({ length: 10 }, () => trigger(server, wf, { labels: { x: 'y' } }, { headers })));
    for (const res of responses) expect([200, 202], res.text).toContain(res.status);
    expect(responses.filter((r) => r.status === 202)).toHaveLength(1);
    expect(new Set(responses.map((r) => r.body.id)).size).toBe(1);
    expect(await countExecutions(wf)).toBe(1);
  });

  it('rejects a malformed Idempotency-Key with 400 VALIDATION_ERROR', async () => {
    const wf = uniqueId('idem-bad');
    await applyWorkflow(server, wf, simple(wf));
    expectError(await trigger(server, wf, {}, { headers: { 'idempotency-key': 'x'.repeat(256) } }), 400, 'VALIDATION_ERROR');
    expect(await countExecutions(wf)).toBe(0);
  });
});

describe('inputs: validation and coercion', () => {
  const inputsYaml = (wf: string) => `id: ${wf}
inputs:
  - {id: s, type: string, required: true}
  - {id: n, type: number}
  - {id: i, type: integer, default: 7}
  - {id: b, type: boolean}
  - {id: j, type: json}
  - {id: d, type: datetime}
tasks:
  - id: echo
    type: output
    values: {s: "{{ inputs.s }}", n: "{{ inputs.n }}", i: "{{ inputs.i }}", b: "{{ inputs.b }}", j: "{{ inputs.j }}", d: "{{ inputs.d }}"}
`;

  it('coerces text to the declared types, fills defaults, and expressions keep the coerced types', async () => {
    const wf = uniqueId('inputs-coerce');
    await applyWorkflow(server, wf, inputsYaml(wf));
    const res = await trigger(server, wf, { inputs: { s: 123, n: '3.5', b: 'true', j: '{"a":[1,2]}', d: '2026-01-31T12:00:00+02:00' } });
    expect(res.status, res.text).toBe(202);
    const expected = { s: '123', n: 3.5, i: 7, b: true, j: { a: [1, 2] }, d: '2026-01-31T10:00:00.000Z' };
    expect(res.body.inputs).toEqual(expected);
    const done = await waitTerminal(server, res.body.id);
    expect(done.state, JSON.stringify(done.error)).toBe('SUCCESS');
    expect(done.outputs.echo).toEqual(expected);

    const second = await trigger(server, wf, { inputs: { s: 'x', i: '42', b: 'false', j: { k: true } } });
    expect(second.status, second.text).toBe(202);
    expect(second.body.inputs).toEqual({ s: 'x', n: null, i: 42, b: false, j: { k: true }, d: null });
    expect(typeof second.body.inputs.i).toBe('number');
  });

  it('400 INVALID_INPUTS with one detail per bad input (wrong types, missing required, unknown), creating nothing', async () => {
    const wf = uniqueId('inputs-bad');
    await applyWorkflow(server, wf, inputsYaml(wf));
    const res = await trigger(server, wf, { inputs: { n: 'abc', i: '4.5', b: 'yes', d: 'yesterday', extra: 1 } });
    const error = expectError(res, 400, 'INVALID_INPUTS');
    const fields = (error.details as any[]).map((d) => d.field).sort();
    expect(fields).toEqual(['inputs.b', 'inputs.d', 'inputs.extra', 'inputs.i', 'inputs.n', 'inputs.s']);
    for (const detail of error.details) {
      expect(sortedKeys(detail)).toEqual(['field', 'message']);
      expect(detail.message.length).toBeGreaterThan(0);
    }
    expect(error.details.find((d: any) => d.field === 'inputs.s').message).toMatch(/required/);
    expect(error.details.find((d: any) => d.field === 'inputs.extra').message).toMatch(/unknown/);
    expect(await countExecutions(wf)).toBe(0);
  });

  it('rejects any input on a workflow that declares none', async () => {
    const wf = uniqueId('inputs-none');
    await applyWorkflow(server, wf, simple(wf));
    const error = expectError(await trigger(server, wf, { inputs: { x: 1 } }), 400, 'INVALID_INPUTS');
    expect(error.details).toHaveLength(1);
    expect(error.details[0].field).toBe('inputs.x');
    expect(await countExecutions(wf)).toBe(0);
  });
});

describe('revision pinning', () => {
  const revision = (wf: string, v: number, extra = '') => `id: ${wf}
${extra}tasks:
  - {id: nap, type: sleep, duration: 400ms}
  - {id: out, type: output, values: {version: ${v}}}
`;

  it('a running execution keeps the revision it was triggered with when a new one is applied', async () => {
    const wf = uniqueId('pin-running');
    await applyWorkflow(server, wf, revision(wf, 1));
    const id = await start(server, wf, {});
    await waitFor(server, id, (e) => e.state === 'RUNNING');
    const updated = await applyWorkflow(server, wf, revision(wf, 2));
    expect(updated.status).toBe(200);
    const done = await waitTerminal(server, id);
    expect(done.state).toBe('SUCCESS');
    expect(done.revision).toBe(1);
    expect(done.outputs.out).toEqual({ version: 1 });
    const next = await runToEnd(server, wf, {});
    expect(next.revision).toBe(2);
    expect(next.outputs.out).toEqual({ version: 2 });
  });

  it('a QUEUED execution runs the revision current at trigger time, not the one current when it starts', async () => {
    const wf = uniqueId('pin-queued');
    const extra = 'concurrency: {limit: 1}\n';
    await applyWorkflow(server, wf, revision(wf, 1, extra));
    const first = await start(server, wf, {});
    await waitFor(server, first, (e) => e.state === 'RUNNING');
    const second = await start(server, wf, {});
    expect((await inspect(server, second)).state).toBe('QUEUED');
    await applyWorkflow(server, wf, revision(wf, 2, extra));
    const queued = await inspect(server, second);
    expect(queued.state).toBe('QUEUED');
    expect(queued.revision).toBe(1);
    const done = await waitTerminal(server, second);
    expect(done.state).toBe('SUCCESS');
    expect(done.revision).toBe(1);
    expect(done.outputs.out).toEqual({ version: 1 });
  });
});

describe('concurrency.limit', () => {
  it('runs at most `limit` executions of a workflow at once; the rest wait QUEUED', async () => {
    const wf = uniqueId('conc');
    await applyWorkflow(server, wf, `id: ${wf}\nconcurrency: {limit: 1}\ntasks:\n  - {id: nap, type: sleep, duration: 300ms}\n`);
    const ids = [await start(server, wf, {}), await start(server, wf, {}), await start(server, wf, {})];
    const done = await Promise.all(ids.map((id) => waitTerminal(server, id)));
    for (const e of done) expect(e.state).toBe('SUCCESS');
    // no two runs overlap; oldest first
    const spans = done.map((e) => [ms(e.startedAt), ms(e.endedAt)]);
    for (let i = 1; i < spans.length; i++) expect(spans[i][0]).toBeGreaterThanOrEqual(spans[i - 1][1]);
  });
});

describe('GET /api/v1/executions and /executions/:id', () => {
  it('ids sort by creation and the list is newest first, filtered by workflowId, without task runs', async () => {
    const wf = uniqueId('list');
    await applyWorkflow(server, wf, simple(wf));
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) ids.push(await start(server, wf, {}));
    expect([...ids].sort()).toEqual(ids);
    const res = await server.request('GET', `/api/v1/executions?workflowId=${wf}`);
    expect(res.status, res.text).toBe(200);
    expect(sortedKeys(res.body)).toEqual(['hasMore', 'items', 'limit', 'offset']);
    expect(res.body).toMatchObject({ limit: 50, offset: 0, hasMore: false });
    expect(res.body.items.map((e: any) => e.id)).toEqual([...ids].reverse());
    for (const e of res.body.items) {
      expect(e.taskRuns).toBeUndefined();
      expect(e.workflowId).toBe(wf);
    }
    const page = await server.request('GET', `/api/v1/executions?workflowId=${wf}&limit=2&offset=1`);
    expect(page.status).toBe(200);
    expect(page.body).toMatchObject({ limit: 2, offset: 1, hasMore: true });
    expect(page.body.items.map((e: any) => e.id)).toEqual([ids[2], ids[1]]);
    const last = await server.request('GET', `/api/v1/executions?workflowId=${wf}&limit=2&offset=2`);
    expect(last.body.hasMore).toBe(false);
    expect(last.body.items.map((e: any) => e.id)).toEqual([ids[1], ids[0]]);
  });

  it('filters by state and namespace', async () => {
    const wf = uniqueId('list-filter');
    await applyWorkflow(server, wf, `id: ${wf}\nnamespace: team.filter\ntasks:\n  - {id: f, type: fail, message: nope}\n`);
    const failed = await runToEnd(server, wf, {}, 'FAILED');
    const byState = await listAll(server, `workflowId=${wf}&state=FAILED`);
    expect(byState.map((e) => e.id)).toEqual([failed.id]);
    expect(await listAll(server, `workflowId=${wf}&state=SUCCESS`)).toEqual([]);
    const byNs = await listAll(server, 'namespace=team.filter');
    expect(byNs.map((e) => e.id)).toContain(failed.id);
    for (const e of byNs) expect(e.namespace).toBe('team.filter');
    expect(failed.namespace).toBe('team.filter');
  });

  it('an unknown state → 400 VALIDATION_ERROR; limit over 500 → 400 VALIDATION_ERROR', async () => {
    expectError(await server.request('GET', '/api/v1/executions?state=DONE'), 400, 'VALIDATION_ERROR');
    expectError(await server.request('GET', '/api/v1/executions?state=success'), 400, 'VALIDATION_ERROR');
    expectError(await server.request('GET', '/api/v1/executions?limit=501'), 400, 'VALIDATION_ERROR');
    expectError(await server.request('GET', '/api/v1/executions?offset=-1'), 400, 'VALIDATION_ERROR');
    const ok = await server.request('GET', '/api/v1/executions?state=CANCELLING&limit=500');
    expect(ok.status, ok.text).toBe(200);
  });

  it('inspect of an unknown execution → 404 NOT_FOUND', async () => {
    expectError(await server.request('GET', '/api/v1/executions/01ARZ3NDEKTSV4RRFFQ69G5FAV'), 404, 'NOT_FOUND');
    expectError(await server.request('GET', '/api/v1/executions/not-an-id'), 404, 'NOT_FOUND');
  });

  it('a failed execution carries {message, taskId, kind} and the failing task run carries the same error', async () => {
    const wf = uniqueId('failed');
    await applyWorkflow(server, wf, `id: ${wf}\ntasks:\n  - {id: ok, type: output, values: {v: 1}}\n  - {id: boom, type: fail, message: "it broke"}\n  - {id: never, type: log, message: x}\n`);
    const done = await runToEnd(server, wf, {}, 'FAILED');
    expect(done.error).toEqual({ message: 'it broke', taskId: 'boom', kind: 'FAIL_TASK' });
    expect(runsOf(done, 'boom')).toHaveLength(1);
    expect(runsOf(done, 'boom')[0]).toMatchObject({ state: 'FAILED', error: { message: 'it broke', taskId: 'boom', kind: 'FAIL_TASK' } });
    expect(runsOf(done, 'never')).toHaveLength(0);
    // outputs of tasks that succeeded before the failure are kept
    expect(done.outputs).toEqual({ ok: { v: 1 } });
    expect(done.history.map((h: any) => h.state)).toEqual(['QUEUED', 'RUNNING', 'FAILED']);
  });
});

describe('CLI: autokestra executions … (built dist/cli.js, same database)', () => {
  const cliEnv = () => ({ AUTOKESTRA_CONFIG: TEST_CONFIG, AUTOKESTRA_DATABASE_URL: server.databaseUrl, AUTOKESTRA_API_KEYS: server.key });
  const cliWorkflow = (wf: string) => `id: ${wf}
inputs:
  - {id: n, type: integer, required: true}
tasks:
  - {id: say, type: log, message: "n is {{ inputs.n }}"}
  - {id: out, type: output, values: {n: "{{ inputs.n }}"}}
`;

  it('start --input k=v --wait runs it to the end, coercing the input; list, inspect and logs read it back', async () => {
    const wf = uniqueId('cli-start');
    await applyWorkflow(server, wf, cliWorkflow(wf));
    const started = await runCli(['executions', 'start', wf, '--input', 'n=5', '--wait', '--timeout', '20'], cliEnv(), 30_000);
    expect(started.code, started.stderr).toBe(0);
    const execution = JSON.parse(started.stdout);
    expect(execution).toMatchObject({ workflowId: wf, state: 'SUCCESS', inputs: { n: 5 }, trigger: { type: 'cli' }, outputs: { out: { n: 5 } } });

    const listed = await runCli(['executions', 'list', '--workflow', wf], cliEnv());
    expect(listed.code, listed.stderr).toBe(0);
    expect(JSON.parse(listed.stdout).items.map((e: any) => e.id)).toEqual([execution.id]);

    const inspected = await runCli(['executions', 'inspect', execution.id], cliEnv());
    expect(inspected.code, inspected.stderr).toBe(0);
    expect(inspected.stdout).toContain(execution.id);
    expect(inspected.stdout).toContain('"taskRuns"');

    const logs = await runCli(['executions', 'logs', execution.id], cliEnv());
    expect(logs.code, logs.stderr).toBe(0);
    expect(logs.stdout).toMatch(/INFO\s+say n is 5/);

    // the HTTP API sees the same execution
    expect((await inspect(server, execution.id)).state).toBe('SUCCESS');
  });

  it('start with a bad input fails with INVALID_INPUTS (exit code 1) and creates nothing', async () => {
    const wf = uniqueId('cli-bad');
    await applyWorkflow(server, wf, cliWorkflow(wf));
    const res = await runCli(['executions', 'start', wf, '--input', 'n=abc'], cliEnv());
    expect(res.code).toBe(1);
    expect(res.stderr).toContain('INVALID_INPUTS');
    expect(res.stderr).toContain('inputs.n');
    expect(await countExecutions(wf)).toBe(0);
  });

  it('cancel of a finished execution fails with EXECUTION_FINISHED (exit code 1); cancel of a running one cancels it', async () => {
    const wf = uniqueId('cli-cancel');
    await applyWorkflow(server, wf, `id: ${wf}\ntasks:\n  - {id: nap, type: sleep, duration: 30s}\n`);
    const okWf = uniqueId('cli-cancel-ok');
    await applyWorkflow(server, okWf, simple(okWf));
    const done = await runToEnd(server, okWf, {});
    const finished = await runCli(['executions', 'cancel', done.id], cliEnv());
    expect(finished.code).toBe(1);
    expect(finished.stderr).toContain('EXECUTION_FINISHED');

    const id = await start(server, wf, {});
    await waitFor(server, id, (e) => runsOf(e, 'nap')[0]?.state === 'RUNNING');
    const res = await runCli(['executions', 'cancel', id], cliEnv());
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toMatch(new RegExp(`${id}: (CANCELLING|CANCELLED)`));
    expect((await waitTerminal(server, id, 5000)).state).toBe('CANCELLED');
  });

  it('logs --follow prints every line until the execution ends', async () => {
    const wf = uniqueId('cli-follow');
    const items = JSON.stringify(Array.from({ length: 20 }, (_, i) => i));
    await applyWorkflow(server, wf, `id: ${wf}\ntasks:\n  - id: loop\n    type: foreach\n    items: ${items}\n    tasks:\n      - {id: line, type: log, message: "follow {{ item }}"}\n      - {id: pause, type: sleep, duration: 50ms}\n`);
    const id = await start(server, wf, {});
    const res = await runCli(['executions', 'logs', id, '--follow'], cliEnv(), 30_000);
    expect(res.code, res.stderr).toBe(0);
    const lines = res.stdout.split('\n').filter((l) => / follow \d+$/.test(l));
    expect(lines.map((l) => l.replace(/^.* follow /, ''))).toEqual(Array.from({ length: 20 }, (_, i) => String(i)));
    expect((await inspect(server, id)).state).toBe('SUCCESS');
  });
});

