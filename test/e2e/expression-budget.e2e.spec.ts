/**
 * Bounded expressions (issue 7 §1), over HTTP: an expression that builds large intermediate
 * values fails its task with EXPRESSION_ERROR instead of growing the process; matches() runs on
 * RE2; a task's (and a workflow's) timeout bounds a synchronous evaluation.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyWorkflow, startTestServer, type TestServer } from '../support/server';
import { runToEnd, runsOf } from './engine-helpers';

let server: TestServer;
/** no work or size limit worth the name: only the clock (a timeout) can stop an evaluation */
let unbounded: TestServer;

const list = (n: number) => Array.from({ length: n }, (_, i) => i);

beforeAll(async () => {
  server = await startTestServer();
  unbounded = await startTestServer({
    configure: (c) => {
      c.engine.expressions = { maxCost: 1e12, maxCollectionSize: 1e9, maxStringLength: 1e9, maxEvaluationMs: 60_000 };
    },
  });
});

afterAll(async () => {
  await server?.close();
  await unbounded?.close();
});

function workflow(id: string, task: string, extra = ''): string {
  return `id: ${id}
inputs:
  - {id: l, type: json, default: []}
  - {id: s, type: string, default: ""}
${extra}
tasks:
  - ${task}
`;
}

describe('expression budget', () => {
  it.each([
    ['nested-map', "{id: bomb, type: log, message: \"{{ size(inputs.l.map(x, inputs.l.map(y, [x, y]))) }}\"}", /work units/],
    ['bind-doubling', "{id: bomb, type: output, values: {n: \"{{ cel.bind(a, inputs.l + inputs.l, cel.bind(b, a + a, size(b + b + b))) }}\"}}", /list grew to/],
    ['string-doubling', "{id: bomb, type: log, message: \"{{ cel.bind(a, inputs.s + inputs.s, cel.bind(b, a + a, b + b)) }}\"}", /string grew to/],
  ])('fails the task with EXPRESSION_ERROR for %s and keeps serving', async (name, task, reason) => {
    const id = `budget-${name}`;
    await applyWorkflow(server, id, workflow(id, task));
    const inputs = { l: list(name === 'nested-map' ? 1000 : 10_000), s: 'x'.repeat(200_000) };
    const done = await runToEnd(server, id, { inputs }, 'FAILED');
    expect(done.error.kind).toBe('EXPRESSION_ERROR');
    expect(done.error.taskId).toBe('bomb');
    expect(done.error.message).toMatch(/expression budget exceeded/);
    expect(done.error.message).toMatch(reason);
    const [run] = runsOf(done, 'bomb');
    expect(run.state).toBe('FAILED');
    expect(run.error.kind).toBe('EXPRESSION_ERROR');
    expect((await server.request('GET', '/health/live', { auth: false })).status).toBe(200);
    expect((await server.request('GET', '/health/ready', { auth: false })).status).toBe(200);
  });

  it('runs a backtracking pattern in matches() in linear time', async () => {
    await applyWorkflow(server, 'budget-regex', workflow('budget-regex', "{id: m, type: output, values: {hit: \"{{ inputs.s.matches('(a+)+$') }}\", nested: \"{{ [inputs.s].exists(x, x.matches('^(a|aa)*$')) }}\"}}"));
    const started = Date.now();
    const done = await runToEnd(server, 'budget-regex', { inputs: { s: `${'a'.repeat(50_000)}!` } });
    expect(Date.now() - started).toBeLessThan(5000);
    expect(done.outputs).toEqual({ m: { hit: false, nested: false } });
  });

  it('refuses at apply a pattern RE2 cannot run, with the path and line', async () => {
    const res = await server.request('PUT', '/api/v1/workflows/budget-bad-regex', {
      raw: workflow('budget-bad-regex', "{id: m, type: log, message: \"{{ inputs.s.matches('(?=a)') }}\"}"),
      contentType: 'application/yaml',
    });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('INVALID_WORKFLOW');
    expect(res.body.error.details[0].message).toMatch(/RE2 syntax/);
    expect(res.body.error.details[0].line).toBeGreaterThan(0);
    expect((await server.request('GET', '/api/v1/workflows/budget-bad-regex')).status).toBe(404);
  });

  it('applies the configured limits', async () => {
    const small = await startTestServer({ configure: (c) => (c.engine.expressions.maxCollectionSize = 10) });
    try {
      await applyWorkflow(small, 'budget-small', workflow('budget-small', "{id: m, type: output, values: {l: \"{{ inputs.l.map(x, x) }}\"}}"));
      const failed = await runToEnd(small, 'budget-small', { inputs: { l: list(11) } }, 'FAILED');
      expect(failed.error.kind).toBe('EXPRESSION_ERROR');
      expect(failed.error.message).toMatch(/list grew to 11 entries; the limit is 10 \(engine\.expressions\.maxCollectionSize\)/);
      const ok = await runToEnd(small, 'budget-small', { inputs: { l: list(10) } });
      expect(ok.outputs.m.l).toEqual(list(10));
    } finally {
      await small.close();
    }
  });
});

describe('timeouts bound evaluation', () => {
  const heavy = "\"{{ size(inputs.l.map(x, inputs.l.map(y, y))) }}\"";

  it("stops a task's evaluation at the task timeout (kind TIMEOUT)", async () => {
    await applyWorkflow(unbounded, 'budget-task-timeout', workflow('budget-task-timeout', `{id: slow, type: log, timeout: 200ms, message: ${heavy}}`));
    const started = Date.now();
    const done = await runToEnd(unbounded, 'budget-task-timeout', { inputs: { l: list(4000) } }, 'FAILED');
    expect(Date.now() - started).toBeLessThan(3000);
    expect(done.error.kind).toBe('TIMEOUT');
    expect(done.error.message).toMatch(/task 'slow' timed out after 200ms/);
    expect(runsOf(done, 'slow')[0].error.kind).toBe('TIMEOUT');
  });

  it("stops an evaluation at the workflow's timeout", async () => {
    await applyWorkflow(unbounded, 'budget-wf-timeout', workflow('budget-wf-timeout', `{id: slow, type: output, values: {n: ${heavy}}}`, 'timeout: 300ms'));
    const started = Date.now();
    const done = await runToEnd(unbounded, 'budget-wf-timeout', { inputs: { l: list(4000) } }, 'FAILED');
    expect(Date.now() - started).toBeLessThan(3000);
    expect(done.error.kind).toBe('TIMEOUT');
    expect(done.error.message).toMatch(/execution timed out after 300ms/);
  });

  it('stops an evaluation at maxEvaluationMs when no timeout is set', async () => {
    const clocked = await startTestServer({
      configure: (c) => {
        c.engine.expressions = { maxCost: 1e12, maxCollectionSize: 1e9, maxStringLength: 1e9, maxEvaluationMs: 100 };
      },
    });
    try {
      await applyWorkflow(clocked, 'budget-clock', workflow('budget-clock', `{id: slow, type: log, message: ${heavy}}`));
      const done = await runToEnd(clocked, 'budget-clock', { inputs: { l: list(4000) } }, 'FAILED');
      expect(done.error.kind).toBe('EXPRESSION_ERROR');
      expect(done.error.message).toMatch(/longer than 100 ms/);
    } finally {
      await clocked.close();
    }
  });
});
