import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../support/server';
import { apply, runToEnd, runsOf, start, waitFor } from './engine-helpers';

describe('runtime semantics found in review', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(() => server.close());

  it('a subflow inside a foreach starts one child per iteration, each with its own inputs', async () => {
    await apply(server, 'child-echo', ['id: child-echo', 'inputs: [{id: n, type: integer, required: true}]', 'tasks:', '  - {id: out, type: output, values: {double: "{{ inputs.n * 2 }}"}}', ''].join('\n'));
    await apply(
      server,
      'parent-loop',
      ['id: parent-loop', 'tasks:', '  - id: each', '    type: foreach', '    items: [1, 2, 3]', '    tasks:', '      - {id: call, type: subflow, workflowId: child-echo, inputs: {n: "{{ item }}"}}', ''].join('\n'),
    );
    const execution = await runToEnd(server, 'parent-loop');
    const calls = execution.outputs.call as { executionId: string; outputs: { out: { double: number } } }[];
    expect(calls.map((c) => c.outputs.out.double)).toEqual([2, 4, 6]);
    expect(new Set(calls.map((c) => c.executionId)).size).toBe(3);
    const children = await server.request('GET', '/api/v1/executions?workflowId=child-echo&limit=50');
    expect(children.body.items).toHaveLength(3);
  });

  it("a container's timeout stops its children and fails the execution with kind TIMEOUT", async () => {
    await apply(
      server,
      'container-timeout',
      ['id: container-timeout', 'tasks:', '  - id: both', '    type: parallel', '    timeout: 200ms', '    tasks:', '      - {id: slow, type: sleep, duration: 5s}', '  - {id: never, type: log, message: unreachable}', ''].join('\n'),
    );
    const started = Date.now();
    const execution = await runToEnd(server, 'container-timeout', undefined, 'FAILED');
    expect(Date.now() - started).toBeLessThan(3000);
    expect(execution.error.kind).toBe('TIMEOUT');
    expect(execution.error.message).toContain("task 'both' timed out after 200ms");
    expect(runsOf(execution, 'slow')[0].state).toBe('FAILED');
    expect(runsOf(execution, 'never')).toHaveLength(0);
  });

  it('an expression error in variables fails the execution with EXPRESSION_ERROR and runs the errors handlers', async () => {
    await apply(
      server,
      'bad-vars',
      ['id: bad-vars', 'variables: {x: "{{ inputs.missing }}"}', 'tasks:', '  - {id: a, type: log, message: hi}', 'errors:', '  - {id: alert, type: log, message: "handled: {{ error.message }}"}', ''].join('\n'),
    );
    const execution = await runToEnd(server, 'bad-vars', undefined, 'FAILED');
    expect(execution.error.kind).toBe('EXPRESSION_ERROR');
    expect(execution.error.message).toMatch(/^variables: /);
    expect(runsOf(execution, 'alert')[0].state).toBe('SUCCESS');
    expect(runsOf(execution, 'a')).toHaveLength(0);
  });

  it('an expression error in a leaf task is reported with kind EXPRESSION_ERROR', async () => {
    await apply(server, 'bad-leaf', ['id: bad-leaf', 'tasks:', '  - {id: a, type: log, message: "{{ inputs.nope }}"}', ''].join('\n'));
    const execution = await runToEnd(server, 'bad-leaf', undefined, 'FAILED');
    expect(execution.error).toMatchObject({ taskId: 'a', kind: 'EXPRESSION_ERROR' });
  });

  it('a draining server claims nothing new; the queued execution waits for another process', async () => {
    const draining = await startTestServer({ dir: server.dir.replace(/$/, ''), key: server.key });
    try {
      await apply(draining, 'drain-probe', ['id: drain-probe', 'tasks:', '  - {id: a, type: log, message: hi}', ''].join('\n'));
      // stop the first server's claims too, so only `draining` could pick it up
      server.server.engine.beginDrain();
      draining.server.engine.beginDrain();
      const id = await start(draining, 'drain-probe');
      await new Promise((r) => setTimeout(r, 500));
      const res = await draining.request('GET', `/api/v1/executions/${id}`);
      expect(res.body.state).toBe('QUEUED');
      // a fresh process on the same file runs it
      const fresh = await startTestServer({ dir: server.dir, key: server.key });
      try {
        await waitFor(fresh, id, (e) => e.state === 'SUCCESS');
      } finally {
        await fresh.close();
      }
    } finally {
      await draining.close();
    }
  });
});
