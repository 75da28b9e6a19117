/**
 * Task types and engine semantics (issue 3, DESIGN §5/§6): retries, timeouts, errors handlers,
 * parallel, if, foreach, subflow, expressions, http (with SSRF denial) and shell.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyWorkflow, eventually, startTestServer, type TestServer } from '../support/server';
import { expectError, uniqueId } from './helpers';
import { allLogs, listAll, ms, runToEnd, runsOf, start, waitTerminal } from './engine-helpers';

/** default configuration: SSRF defence on, shell off */
let server: TestServer;
/** 127.0.0.1/32 allowed for the http task, shell enabled */
let open: TestServer;
let target: Server;
let targetUrl: string;
const hits = new Map<string, number>();
let flakyCount = 0;

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => resolve(body));
  });
}

beforeAll(async () => {
  target = createServer(async (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    hits.set(path, (hits.get(path) ?? 0) + 1);
    const body = await readBody(req);
    if (path === '/json') {
      res.writeHead(200, { 'content-type': 'application/json', 'x-target': 'yes' });
      res.end(JSON.stringify({ hello: 'world', n: 1 }));
    } else if (path === '/echo') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ method: req.method, body, contentType: req.headers['content-type'] ?? null, custom: req.headers['x-custom'] ?? null }));
    } else if (path === '/text') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('plain text');
    } else if (path === '/flaky') {
      flakyCount += 1;
      if (flakyCount === 1) {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end('try again');
      } else {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ attempt: flakyCount }));
      }
    } else if (path === '/to-metadata') {
      res.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data/' });
      res.end();
    } else if (path === '/big') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('x'.repeat(10_000));
    } else if (path === '/hang') {
      // never answers
      return;
    } else if (path === '/missing') {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('nope');
    } else {
      res.writeHead(200);
      res.end('ok');
    }
  });
  await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
  targetUrl = `http://127.0.0.1:${(target.address() as AddressInfo).port}`;
  [server, open] = await Promise.all([
    startTestServer(),
    startTestServer({
      configure: (c) => {
        c.engine.tasks.http.allowCidrs = ['127.0.0.1/32'];
        c.engine.tasks.http.maxResponseBytes = 4096;
        c.engine.tasks.shell.enabled = true;
      },
    }),
  ]);
});

afterAll(async () => {
  await Promise.all([server?.close(), open?.close()]);
  target?.closeAllConnections();
  await new Promise((resolve) => target?.close(resolve));
});

describe('retries', () => {
  it('each attempt is its own task run (attempt 1..n) with its own log lines; retries exhausted → FAILED', async () => {
    const wf = uniqueId('retry-fail');
    await applyWorkflow(server, wf, `id: ${wf}\ntasks:\n  - id: flaky\n    type: fail\n    message: always broken\n    retry: {maxAttempts: 3, delay: 50ms}\n  - {id: after, type: log, message: never}\n`);
    const done = await runToEnd(server, wf, {}, 'FAILED');
    const runs = runsOf(done, 'flaky');
    expect(runs.map((r) => r.attempt)).toEqual([1, 2, 3]);
    for (const run of runs) expect(run).toMatchObject({ state: 'FAILED', error: { message: 'always broken', taskId: 'flaky', kind: 'FAIL_TASK' } });
    expect(new Set(runs.map((r) => r.id)).size).toBe(3);
    expect(runsOf(done, 'after')).toHaveLength(0);
    expect(done.error).toEqual({ message: 'always broken', taskId: 'flaky', kind: 'FAIL_TASK' });

    const logs = await allLogs(server, done.id, '&taskId=flaky');
    expect(logs.length).toBeGreaterThanOrEqual(3);
    for (const line of logs) expect(line.taskId).toBe('flaky');
    for (const run of runs) {
      const own = logs.filter((l) => l.taskRunId === run.id);
      expect(own.length, `logs of attempt ${run.attempt}`).toBeGreaterThanOrEqual(1);
      for (const line of own) expect(line.attempt).toBe(run.attempt);
      expect(own.some((l) => l.level === 'ERROR' && l.message.includes('always broken'))).toBe(true);
    }
  });

  it('a task that fails once then succeeds ends SUCCESS with attempt 1 FAILED and attempt 2 SUCCESS', async () => {
    flakyCount = 0;
    const wf = uniqueId('retry-ok');
    await applyWorkflow(open, wf, `id: ${wf}\ntasks:\n  - id: call\n    type: http\n    url: ${targetUrl}/flaky\n    retry: {maxAttempts: 3, delay: 50ms}\n`);
    const done = await runToEnd(open, wf);
    const runs = runsOf(done, 'call');
    expect(runs.map((r) => [r.attempt, r.state])).toEqual([
      [1, 'FAILED'],
      [2, 'SUCCESS'],
    ]);
    expect(runs[0].error).toMatchObject({ taskId: 'call', kind: 'HTTP_ERROR' });
    expect(runs[0].error.message).toMatch(/500/);
    expect(runs[1].outputs.body).toEqual({ attempt: 2 });
    expect(done.outputs.call.body).toEqual({ attempt: 2 });
    expect(flakyCount).toBe(2);
  });

  it('exponential backoff waits delay, then 2×delay between attempts', async () => {
    const wf = uniqueId('retry-exp');
    await applyWorkflow(server, wf, `id: ${wf}\ntasks:\n  - id: f\n    type: fail\n    retry: {maxAttempts: 3, delay: 150ms, backoff: exponential}\n`);
    const done = await runToEnd(server, wf, {}, 'FAILED');
    const runs = runsOf(done, 'f');
    expect(runs).toHaveLength(3);
    const gap1 = ms(runs[1].startedAt) - ms(runs[0].endedAt);
    const gap2 = ms(runs[2].startedAt) - ms(runs[1].endedAt);
    expect(gap1).toBeGreaterThanOrEqual(140);
    expect(gap2).toBeGreaterThanOrEqual(290);
  });
});

describe('timeouts and errors handlers', () => {
  it('a task timeout fails the task run with kind TIMEOUT and the execution with it', async () => {
    const wf = uniqueId('task-timeout');
    await applyWorkflow(server, wf, `id: ${wf}\ntasks:\n  - {id: slow, type: sleep, duration: 10s, timeout: 150ms}\n  - {id: after, type: log, message: never}\n`);
    const began = Date.now();
    const done = await runToEnd(server, wf, {}, 'FAILED');
    expect(Date.now() - began).toBeLessThan(5000);
    const [run] = runsOf(done, 'slow');
    expect(run.state).toBe('FAILED');
    expect(run.error).toMatchObject({ taskId: 'slow', kind: 'TIMEOUT' });
    expect(run.durationMs).toBeGreaterThanOrEqual(140);
    expect(run.durationMs).toBeLessThan(2000);
    expect(done.error).toMatchObject({ taskId: 'slow', kind: 'TIMEOUT' });
    expect(runsOf(done, 'after')).toHaveLength(0);
  });

  it('a workflow timeout fails the execution with kind TIMEOUT and stops its running task', async () => {
    const wf = uniqueId('wf-timeout');
    await applyWorkflow(server, wf, `id: ${wf}\ntimeout: 300ms\ntasks:\n  - {id: slow, type: sleep, duration: 10s}\n  - {id: after, type: log, message: never}\n`);
    const done = await runToEnd(server, wf, {}, 'FAILED');
    expect(done.error.kind).toBe('TIMEOUT');
    expect(done.error.message).toMatch(/timed out/);
    expect(done.durationMs).toBeGreaterThanOrEqual(290);
    expect(done.durationMs).toBeLessThan(3000);
    const [run] = runsOf(done, 'slow');
    expect(run.state).toBe('FAILED');
    expect(run.error.kind).toBe('TIMEOUT');
    expect(runsOf(done, 'after')).toHaveLength(0);
  });

  it('errors: tasks run when the execution fails, with {{ error.message }}; they do not run on success', async () => {
    const wf = uniqueId('errors');
    await applyWorkflow(
      server,
      wf,
      `id: ${wf}
inputs:
  - {id: fail, type: boolean, default: true}
tasks:
  - id: maybe
    type: if
    condition: "{{ inputs.fail }}"
    then: [{id: boom, type: fail, message: "disk full on node-7"}]
errors:
  - {id: alert, type: log, level: error, message: "failed: {{ error.message }}"}
`,
    );
    const failed = await runToEnd(server, wf, {}, 'FAILED');
    expect(failed.error).toMatchObject({ message: 'disk full on node-7', taskId: 'boom', kind: 'FAIL_TASK' });
    const [alert] = runsOf(failed, 'alert');
    expect(alert.state).toBe('SUCCESS');
    const logs = await allLogs(server, failed.id, '&taskId=alert');
    expect(logs.map((l) => [l.level, l.message])).toContainEqual(['ERROR', 'failed: disk full on node-7']);

    const ok = await runToEnd(server, wf, { inputs: { fail: false } });
    expect(runsOf(ok, 'alert')).toHaveLength(0);
  });

  it('errors: handlers also run after a workflow timeout', async () => {
    const wf = uniqueId('errors-timeout');
    await applyWorkflow(server, wf, `id: ${wf}\ntimeout: 200ms\ntasks:\n  - {id: slow, type: sleep, duration: 10s}\nerrors:\n  - {id: alert, type: log, message: "handled: {{ error.message }}"}\n`);
    const done = await runToEnd(server, wf, {}, 'FAILED');
    expect(done.error.kind).toBe('TIMEOUT');
    expect(runsOf(done, 'alert')[0]?.state).toBe('SUCCESS');
    const logs = await allLogs(server, done.id, '&taskId=alert');
    expect(logs).toHaveLength(1);
    expect(logs[0].message).toMatch(/^handled: .*timed out/);
  });
});

describe('parallel', () => {
  it('runs its children at the same time: two 500ms sleeps finish in well under 1000ms and overlap', async () => {
    const wf = uniqueId('parallel');
    await applyWorkflow(server, wf, `id: ${wf}\ntasks:\n  - id: both\n    type: parallel\n    tasks:\n      - {id: a, type: sleep, duration: 500ms}\n      - {id: b, type: sleep, duration: 500ms}\n`);
    const done = await runToEnd(server, wf);
    const [both] = runsOf(done, 'both');
    const [a] = runsOf(done, 'a');
    const [b] = runsOf(done, 'b');
    expect(both.state).toBe('SUCCESS');
    expect(a.parentTaskRunId).toBe(both.id);
    expect(b.parentTaskRunId).toBe(both.id);
    expect(a.durationMs).toBeGreaterThanOrEqual(490);
    expect(b.durationMs).toBeGreaterThanOrEqual(490);
    expect(both.durationMs).toBeLessThan(950);
    expect(done.durationMs).toBeLessThan(950);
    // the two intervals overlap
    expect(ms(a.startedAt)).toBeLessThan(ms(b.endedAt));
    expect(ms(b.startedAt)).toBeLessThan(ms(a.endedAt));
  });

  it('the first failing child stops its running siblings (CANCELLED) and fails the execution with its error', async () => {
    const wf = uniqueId('parallel-fail');
    await applyWorkflow(server, wf, `id: ${wf}\ntasks:\n  - id: both\n    type: parallel\n    tasks:\n      - {id: slow, type: sleep, duration: 10s}\n      - {id: bad, type: fail, message: child failed}\n  - {id: after, type: log, message: never}\n`);
    const done = await runToEnd(server, wf, {}, 'FAILED');
    expect(done.error).toMatchObject({ message: 'child failed', taskId: 'bad' });
    expect(runsOf(done, 'slow')[0].state).toBe('CANCELLED');
    expect(runsOf(done, 'slow')[0].durationMs).toBeLessThan(3000);
    expect(runsOf(done, 'both')[0].state).toBe('FAILED');
    expect(runsOf(done, 'after')).toHaveLength(0);
  });
});

describe('if', () => {
  const yaml = (wf: string) => `id: ${wf}
inputs:
  - {id: n, type: integer, required: true}
tasks:
  - id: check
    type: if
    condition: "{{ inputs.n > 10 }}"
    then:
      - {id: big, type: output, values: {size: big}}
    else:
      - {id: small, type: output, values: {size: small}}
  - {id: after, type: log, message: "branch was {{ outputs.check.branch }}"}
`;

  it('runs the then branch when the condition holds; the else branch gets no task run', async () => {
    const wf = uniqueId('if-then');
    await applyWorkflow(server, wf, yaml(wf));
    const done = await runToEnd(server, wf, { inputs: { n: 42 } });
    expect(done.outputs).toEqual({ check: { branch: 'then' }, big: { size: 'big' } });
    const [check] = runsOf(done, 'check');
    expect(runsOf(done, 'big')[0].parentTaskRunId).toBe(check.id);
    expect(runsOf(done, 'small')).toHaveLength(0);
    const logs = await allLogs(server, done.id, '&taskId=after');
    expect(logs.map((l) => l.message)).toEqual(['branch was then']);
  });

  it('runs the else branch otherwise', async () => {
    const wf = uniqueId('if-else');
    await applyWorkflow(server, wf, yaml(wf));
    const done = await runToEnd(server, wf, { inputs: { n: 3 } });
    expect(done.outputs).toEqual({ check: { branch: 'else' }, small: { size: 'small' } });
    expect(runsOf(done, 'big')).toHaveLength(0);
  });
});

describe('foreach', () => {
  it('runs the body once per item; outputs.<child> is the list of per-iteration outputs and the foreach gives {iterations}', async () => {
    const wf = uniqueId('foreach');
    await applyWorkflow(
      server,
      wf,
      `id: ${wf}
inputs:
  - {id: list, type: json, required: true}
tasks:
  - id: loop
    type: foreach
    items: "{{ inputs.list }}"
    tasks:
      - {id: sq, type: output, values: {item: "{{ item }}", index: "{{ index }}", square: "{{ item * item }}"}}
  - {id: total, type: output, values: {squares: "{{ outputs.sq }}"}}
`,
    );
    const done = await runToEnd(server, wf, { inputs: { list: [2, 3, 4] } });
    const squares = [
      { item: 2, index: 0, square: 4 },
      { item: 3, index: 1, square: 9 },
      { item: 4, index: 2, square: 16 },
    ];
    expect(done.outputs.loop).toEqual({ iterations: 3 });
    expect(done.outputs.sq).toEqual(squares);
    expect(done.outputs.total).toEqual({ squares });
    const [loop] = runsOf(done, 'loop');
    const runs = runsOf(done, 'sq');
    expect(runs.map((r) => r.iteration)).toEqual([0, 1, 2]);
    for (const r of runs) expect(r.parentTaskRunId).toBe(loop.id);
  });

  it('with concurrency 2, four 300ms iterations take about 600ms (not 1200) and never more than 2 run at once', async () => {
    const wf = uniqueId('foreach-conc');
    await applyWorkflow(server, wf, `id: ${wf}\ntasks:\n  - id: loop\n    type: foreach\n    items: [a, b, c, d]\n    concurrency: 2\n    tasks:\n      - {id: nap, type: sleep, duration: 300ms}\n`);
    const done = await runToEnd(server, wf);
    const [loop] = runsOf(done, 'loop');
    expect(loop.durationMs).toBeGreaterThanOrEqual(590);
    expect(loop.durationMs).toBeLessThan(1100);
    const naps = runsOf(done, 'nap');
    expect(naps).toHaveLength(4);
    // count overlaps at each start instant
    let maxConcurrent = 0;
    for (const r of naps) {
      const t = ms(r.startedAt);
      const running = naps.filter((o) => ms(o.startedAt) <= t && ms(o.endedAt) > t).length;
      maxConcurrent = Math.max(maxConcurrent, running);
    }
    expect(maxConcurrent).toBe(2);
  });

  it('items that are not a list fail the foreach task', async () => {
    const wf = uniqueId('foreach-bad');
    await applyWorkflow(server, wf, `id: ${wf}\ninputs:\n  - {id: list, type: json}\ntasks:\n  - id: loop\n    type: foreach\n    items: "{{ inputs.list }}"\n    tasks:\n      - {id: x, type: log, message: "{{ item }}"}\n`);
    const done = await runToEnd(server, wf, { inputs: { list: { not: 'a list' } } }, 'FAILED');
    expect(done.error.taskId).toBe('loop');
    expect(runsOf(done, 'x')).toHaveLength(0);
  });
});

describe('subflow', () => {
  it('runs another workflow with inputs and returns its outputs under outputs.<taskId>.outputs', async () => {
    const child = uniqueId('sub-child');
    const parent = uniqueId('sub-parent');
    await applyWorkflow(server, child, `id: ${child}\ninputs:\n  - {id: x, type: integer, required: true}\ntasks:\n  - {id: res, type: output, values: {y: "{{ inputs.x * 2 }}"}}\n`);
    await applyWorkflow(
      server,
      parent,
      `id: ${parent}\ninputs:\n  - {id: n, type: integer, required: true}\ntasks:\n  - id: call\n    type: subflow\n    workflowId: ${child}\n    inputs: {x: "{{ inputs.n }}"}\n  - {id: final, type: output, values: {y: "{{ outputs.call.outputs.res.y }}"}}\n`,
    );
    const done = await runToEnd(server, parent, { inputs: { n: 21 } });
    expect(done.outputs.call).toMatchObject({ state: 'SUCCESS', outputs: { res: { y: 42 } } });
    expect(done.outputs.final).toEqual({ y: 42 });
    const childId = done.outputs.call.executionId;
    const children = await listAll(server, `workflowId=${child}`);
    expect(children.map((c) => c.id)).toEqual([childId]);
    expect(children[0]).toMatchObject({ state: 'SUCCESS', inputs: { x: 21 }, trigger: { type: 'subflow', id: done.id } });
  });

  it('a failing child fails the parent task with kind SUBFLOW_FAILED', async () => {
    const child = uniqueId('sub-bad-child');
    const parent = uniqueId('sub-bad-parent');
    await applyWorkflow(server, child, `id: ${child}\ntasks:\n  - {id: boom, type: fail, message: child exploded}\n`);
    await applyWorkflow(server, parent, `id: ${parent}\ntasks:\n  - {id: call, type: subflow, workflowId: ${child}}\n  - {id: after, type: log, message: never}\n`);
    const done = await runToEnd(server, parent, {}, 'FAILED');
    expect(done.error).toMatchObject({ taskId: 'call', kind: 'SUBFLOW_FAILED' });
    expect(done.error.message).toContain('child exploded');
    expect(runsOf(done, 'call')[0]).toMatchObject({ state: 'FAILED', error: { kind: 'SUBFLOW_FAILED' } });
    expect(runsOf(done, 'after')).toHaveLength(0);
    const [childExec] = await listAll(server, `workflowId=${child}`);
    expect(childExec.state).toBe('FAILED');
  });
});

describe('expressions', () => {
  it('a string that is exactly one {{ }} keeps its type; mixed text renders as a string; vars and execution are available', async () => {
    const wf = uniqueId('expr');
    await applyWorkflow(
      server,
      wf,
      `id: ${wf}
inputs:
  - {id: n, type: integer, default: 5}
variables: {greeting: Hello, limit: 3}
tasks:
  - id: first
    type: output
    values:
      num: "{{ inputs.n }}"
      sum: "{{ inputs.n + 1 }}"
      flag: "{{ inputs.n > vars.limit }}"
      list: "{{ [1, 2] }}"
      map: "{{ {'a': 1} }}"
      text: "n={{ inputs.n }}"
      greeting: "{{ vars.greeting }} world"
      wf: "{{ execution.workflowId }}"
  - {id: second, type: output, values: {doubled: "{{ outputs.first.num * 2 }}", isNumber: "{{ type(outputs.first.num) != string }}"}}
`,
    );
    const done = await runToEnd(server, wf);
    expect(done.outputs.first).toEqual({ num: 5, sum: 6, flag: true, list: [1, 2], map: { a: 1 }, text: 'n=5', greeting: 'Hello world', wf });
    expect(done.outputs.second).toEqual({ doubled: 10, isNumber: true });
  });

  it('an expression error fails the task with a clear message', async () => {
    const wf = uniqueId('expr-bad');
    await applyWorkflow(server, wf, `id: ${wf}\ninputs:\n  - {id: m, type: json}\ntasks:\n  - {id: bad, type: output, values: {v: "{{ inputs.m.missing.deeper }}"}}\n`);
    const done = await runToEnd(server, wf, { inputs: { m: {} } }, 'FAILED');
    expect(done.error.taskId).toBe('bad');
    expect(done.error.message.length).toBeGreaterThan(0);
    expect(runsOf(done, 'bad')[0].state).toBe('FAILED');
  });
});

describe('http task', () => {
  it('denies a loopback target by default (SSRF_DENIED) and sends nothing', async () => {
    const before = hits.get('/json') ?? 0;
    const wf = uniqueId('ssrf-loopback');
    await applyWorkflow(server, wf, `id: ${wf}\ntasks:\n  - {id: call, type: http, url: "${targetUrl}/json"}\n`);
    const done = await runToEnd(server, wf, {}, 'FAILED');
    expect(done.error).toMatchObject({ taskId: 'call', kind: 'SSRF_DENIED' });
    expect(runsOf(done, 'call')[0]).toMatchObject({ state: 'FAILED', error: { kind: 'SSRF_DENIED' } });
    expect(hits.get('/json') ?? 0).toBe(before);
  });

  it('denies a host name that resolves to loopback (checked on the resolved address)', async () => {
    const before = hits.get('/json') ?? 0;
    const port = new URL(targetUrl).port;
    const wf = uniqueId('ssrf-localhost');
    await applyWorkflow(server, wf, `id: ${wf}\ntasks:\n  - {id: call, type: http, url: "http://localhost:${port}/json"}\n`);
    const done = await runToEnd(server, wf, {}, 'FAILED');
    expect(done.error).toMatchObject({ taskId: 'call', kind: 'SSRF_DENIED' });
    expect(hits.get('/json') ?? 0).toBe(before);
  });

  it('denies the cloud metadata address 169.254.169.254 (also when loopback is allowed)', async () => {
    for (const api of [server, open]) {
      const wf = uniqueId('ssrf-metadata');
      await applyWorkflow(api, wf, `id: ${wf}\ntasks:\n  - {id: call, type: http, url: "http://169.254.169.254/latest/meta-data/", timeout: 5s}\n`);
      const done = await runToEnd(api, wf, {}, 'FAILED');
      expect(done.error).toMatchObject({ taskId: 'call', kind: 'SSRF_DENIED' });
    }
  });

  it('denies a redirect from an allowed target to the metadata address', async () => {
    const wf = uniqueId('ssrf-redirect');
    await applyWorkflow(open, wf, `id: ${wf}\ntasks:\n  - {id: call, type: http, url: "${targetUrl}/to-metadata", timeout: 5s}\n`);
    const done = await runToEnd(open, wf, {}, 'FAILED');
    expect(done.error).toMatchObject({ taskId: 'call', kind: 'SSRF_DENIED' });
    expect(hits.get('/to-metadata')).toBeGreaterThanOrEqual(1);
  });

  it('with allowCidrs [127.0.0.1/32] the call succeeds and outputs {status, headers, body} with the JSON body parsed', async () => {
    const before = hits.get('/json') ?? 0;
    const wf = uniqueId('http-ok');
    await applyWorkflow(open, wf, `id: ${wf}\ntasks:\n  - {id: call, type: http, url: "${targetUrl}/json"}\n  - {id: pick, type: output, values: {n: "{{ outputs.call.body.n }}"}}\n`);
    const done = await runToEnd(open, wf);
    expect(Object.keys(done.outputs.call).sort()).toEqual(['body', 'headers', 'status']);
    expect(done.outputs.call.status).toBe(200);
    expect(done.outputs.call.body).toEqual({ hello: 'world', n: 1 });
    expect(done.outputs.call.headers['x-target']).toBe('yes');
    expect(done.outputs.pick).toEqual({ n: 1 });
    expect(hits.get('/json')).toBe(before + 1);
  });

  it('sends method, headers and a JSON body; a text response stays text', async () => {
    const wf = uniqueId('http-post');
    await applyWorkflow(
      open,
      wf,
      `id: ${wf}\ntasks:\n  - id: post\n    type: http\n    method: POST\n    url: "${targetUrl}/echo"\n    headers: {X-Custom: abc}\n    body: {a: 1, b: [true]}\n  - {id: txt, type: http, url: "${targetUrl}/text"}\n`,
    );
    const done = await runToEnd(open, wf);
    expect(done.outputs.post.body.method).toBe('POST');
    expect(JSON.parse(done.outputs.post.body.body)).toEqual({ a: 1, b: [true] });
    expect(done.outputs.post.body.contentType).toMatch(/^application\/json/);
    expect(done.outputs.post.body.custom).toBe('abc');
    expect(done.outputs.txt.body).toBe('plain text');
  });

  it('a response over engine.tasks.http.maxResponseBytes fails the task with kind RESPONSE_TOO_LARGE', async () => {
    const wf = uniqueId('http-big');
    await applyWorkflow(open, wf, `id: ${wf}\ntasks:\n  - {id: call, type: http, url: "${targetUrl}/big"}\n`);
    const done = await runToEnd(open, wf, {}, 'FAILED');
    expect(done.error).toMatchObject({ taskId: 'call', kind: 'RESPONSE_TOO_LARGE' });
    expect(done.error.message).toMatch(/4096/);
  });

  it('a task timeout aborts a call that never answers (kind TIMEOUT)', async () => {
    const wf = uniqueId('http-timeout');
    await applyWorkflow(open, wf, `id: ${wf}\ntasks:\n  - {id: call, type: http, url: "${targetUrl}/hang", timeout: 300ms}\n`);
    const done = await runToEnd(open, wf, {}, 'FAILED');
    expect(done.error).toMatchObject({ taskId: 'call', kind: 'TIMEOUT' });
    expect(runsOf(done, 'call')[0].durationMs).toBeLessThan(3000);
  });

  it('a 4xx answer fails the task with kind HTTP_ERROR', async () => {
    const wf = uniqueId('http-404');
    await applyWorkflow(open, wf, `id: ${wf}\ntasks:\n  - {id: call, type: http, url: "${targetUrl}/missing"}\n`);
    const done = await runToEnd(open, wf, {}, 'FAILED');
    expect(done.error).toMatchObject({ taskId: 'call', kind: 'HTTP_ERROR' });
    expect(done.error.message).toMatch(/404/);
  });
});

describe('shell task', () => {
  it('a workflow with a shell task is rejected at apply with 400 INVALID_WORKFLOW while shell is disabled', async () => {
    const wf = uniqueId('shell-off');
    const res = await server.request('PUT', `/api/v1/workflows/${wf}`, {
      raw: `id: ${wf}\ntasks:\n  - {id: sh, type: shell, commands: ["echo hi"]}\n`,
      contentType: 'application/yaml',
    });
    const error = expectError(res, 400, 'INVALID_WORKFLOW');
    expect(JSON.stringify(error.details)).toMatch(/shell/);
    expectError(await server.request('GET', `/api/v1/workflows/${wf}`), 404, 'NOT_FOUND');
  });

  it('when enabled, runs commands; stdout lines appear in the logs and in the outputs', async () => {
    const wf = uniqueId('shell-on');
    await applyWorkflow(open, wf, `id: ${wf}\ntasks:\n  - {id: sh, type: shell, commands: ["echo hi", "echo 'second line'"]}\n`);
    const done = await runToEnd(open, wf);
    expect(done.outputs.sh).toEqual({ exitCode: 0, stdout: 'second line' });
    const logs = await allLogs(open, done.id, '&taskId=sh');
    const messages = logs.map((l) => l.message);
    expect(messages).toContain('hi');
    expect(messages).toContain('second line');
    expect(logs.find((l) => l.message === 'hi')).toMatchObject({ level: 'INFO', attempt: 1, taskRunId: runsOf(done, 'sh')[0].id });
  });

  it('a task timeout kills the running command (kind TIMEOUT)', async () => {
    const wf = uniqueId('shell-timeout');
    await applyWorkflow(open, wf, `id: ${wf}\ntasks:\n  - {id: sh, type: shell, timeout: 700ms, commands: ["sh -c 'echo pid=$$; exec sleep 30'"]}\n`);
    const done = await runToEnd(open, wf, {}, 'FAILED');
    expect(done.error).toMatchObject({ taskId: 'sh', kind: 'TIMEOUT' });
    const line = (await allLogs(open, done.id, '&taskId=sh')).find((l) => l.message.startsWith('pid='));
    expect(line).toBeDefined();
    const pid = Number(line.message.slice(4));
    await eventually(async () => {
      try {
        process.kill(pid, 0);
        return false;
      } catch {
        return true;
      }
    }, 4000);
  });

  it('a failing command fails the task and stops the later commands', async () => {
    const wf = uniqueId('shell-fail');
    await applyWorkflow(open, wf, `id: ${wf}\ntasks:\n  - {id: sh, type: shell, commands: ["sh -c 'echo oops >&2; exit 3'", "echo never"]}\n`);
    const done = await runToEnd(open, wf, {}, 'FAILED');
    expect(done.error.taskId).toBe('sh');
    expect(done.error.message).toMatch(/3/);
    const logs = await allLogs(open, done.id, '&taskId=sh');
    expect(logs.some((l) => l.message === 'oops' && l.level === 'WARN')).toBe(true);
    expect(logs.some((l) => l.message === 'never')).toBe(false);
  });
});

describe('workers', () => {
  it('many executions triggered at once all end SUCCESS, each task run exactly once', async () => {
    const wf = uniqueId('burst');
    await applyWorkflow(server, wf, `id: ${wf}\ntasks:\n  - {id: a, type: output, values: {v: 1}}\n  - {id: b, type: sleep, duration: 20ms}\n`);
    const ids = await Promise.all(Array.from({ length: 40 }, () => start(server, wf, {})));
    const done = await Promise.all(ids.map((id) => waitTerminal(server, id, 20_000)));
    for (const e of done) {
      expect(e.state).toBe('SUCCESS');
      expect(runsOf(e, 'a')).toHaveLength(1);
      expect(runsOf(e, 'b')).toHaveLength(1);
    }
  });
});
