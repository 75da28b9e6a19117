/**
 * Cancel (issue 3, DESIGN §6): QUEUED → CANCELLED at once; RUNNING → CANCELLED within 1 s with
 * its running tasks aborted (sleep, http, shell process group) and later tasks never started;
 * terminal → 409 EXECUTION_FINISHED with nothing changed.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyWorkflow, eventually, sleep, startTestServer, type TestServer } from '../support/server';
import { expectError, uniqueId } from './helpers';
import { allLogs, inspect, listAll, runToEnd, runsOf, start, waitFor, waitTerminal, type Api } from './engine-helpers';

let server: TestServer;
/** same database, no workers: an API-only process */
let apiOnly: TestServer;
let target: Server;
let targetUrl: string;
let held = 0;
let aborted = 0;

beforeAll(async () => {
  target = createServer((req, res) => {
    held += 1;
    // never answers; counts when the caller gives up
    res.on('close', () => {
      if (!res.writableEnded) aborted += 1;
    });
  });
  await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
  targetUrl = `http://127.0.0.1:${(target.address() as AddressInfo).port}`;
  server = await startTestServer({
    configure: (c) => {
      c.engine.tasks.shell.enabled = true;
      c.engine.tasks.http.allowCidrs = ['127.0.0.1/32'];
    },
  });
  apiOnly = await startTestServer({
    dir: server.dir,
    key: server.key,
    configure: (c) => {
      c.engine.workers = 0;
      c.engine.tasks.shell.enabled = true;
    },
  });
});

afterAll(async () => {
  await apiOnly?.close();
  await server?.close();
  target?.closeAllConnections();
  await new Promise((resolve) => target?.close(resolve));
});

function cancel(api: Api, id: string) {
  return api.request('POST', `/api/v1/executions/${id}/cancel`);
}

/** Cancels a RUNNING execution and returns it once CANCELLED, with the ms from the 202 to CANCELLED. */
async function cancelRunning(api: Api, id: string, via: Api = api): Promise<{ done: any; elapsed: number }> {
  const res = await cancel(via, id);
  expect(res.status, res.text).toBe(202);
  expect(['CANCELLING', 'CANCELLED']).toContain(res.body.state);
  const t0 = Date.now();
  const done = await waitFor(api, id, (e) => e.state === 'CANCELLED', 5000, 10);
  return { done, elapsed: Date.now() - t0 };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

describe('cancel a QUEUED execution', () => {
  it('ends CANCELLED at once and never starts, even after a slot frees up', async () => {
    const wf = uniqueId('cancel-queued');
    await applyWorkflow(server, wf, `id: ${wf}\nconcurrency: {limit: 1}\ntasks:\n  - {id: nap, type: sleep, duration: 30s}\n`);
    const running = await start(server, wf, {});
    await waitFor(server, running, (e) => runsOf(e, 'nap')[0]?.state === 'RUNNING');
    const queued = await start(server, wf, {});
    expect((await inspect(server, queued)).state).toBe('QUEUED');

    const res = await cancel(server, queued);
    expect(res.status, res.text).toBe(202);
    expect(res.body.state).toBe('CANCELLED');
    const after = await inspect(server, queued);
    expect(after.state).toBe('CANCELLED');
    expect(after.history.map((h: any) => h.state)).toEqual(['QUEUED', 'CANCELLED']);
    expect(after.endedAt).not.toBeNull();
    expect(after.startedAt).toBeNull();
    expect(after.error).toMatchObject({ kind: 'CANCELLED' });
    expect(after.taskRuns).toEqual([]);

    // free the slot: the cancelled one must still never run
    await cancelRunning(server, running);
    await sleep(300);
    const later = await inspect(server, queued);
    expect(later.state).toBe('CANCELLED');
    expect(later.taskRuns).toEqual([]);
    expect(later.history).toEqual(after.history);
  });
});

describe('cancel a RUNNING execution', () => {
  it('interrupts the running sleep and ends CANCELLED within 1 s; later tasks never start', async () => {
    const wf = uniqueId('cancel-running');
    await applyWorkflow(server, wf, `id: ${wf}\ntasks:\n  - {id: first, type: output, values: {v: 1}}\n  - {id: nap, type: sleep, duration: 30s}\n  - {id: after, type: log, message: never}\n`);
    const id = await start(server, wf, {});
    await waitFor(server, id, (e) => runsOf(e, 'nap')[0]?.state === 'RUNNING');
    const { done, elapsed } = await cancelRunning(server, id);
    expect(elapsed).toBeLessThan(1000);
    expect(done.error).toMatchObject({ kind: 'CANCELLED' });
    expect(done.endedAt).not.toBeNull();
    expect(done.history.map((h: any) => h.state)).toEqual(['QUEUED', 'RUNNING', 'CANCELLING', 'CANCELLED']);
    const [nap] = runsOf(done, 'nap');
    expect(nap.state).toBe('CANCELLED');
    expect(nap.endedAt).not.toBeNull();
    expect(nap.durationMs).toBeLessThan(5000);
    expect(runsOf(done, 'first')[0].state).toBe('SUCCESS');
    expect(runsOf(done, 'after')).toHaveLength(0);
    await sleep(300);
    const later = await inspect(server, id);
    expect(later.state).toBe('CANCELLED');
    expect(runsOf(later, 'after')).toHaveLength(0);
    expect(later.taskRuns).toEqual(done.taskRuns);
  });

  it('cancels every running child of a parallel and of a foreach', async () => {
    const wf = uniqueId('cancel-containers');
    await applyWorkflow(
      server,
      wf,
      `id: ${wf}
tasks:
  - id: both
    type: parallel
    tasks:
      - {id: a, type: sleep, duration: 30s}
      - id: loop
        type: foreach
        items: [1, 2, 3]
        concurrency: 3
        tasks:
          - {id: n, type: sleep, duration: 30s}
  - {id: after, type: log, message: never}
`,
    );
    const id = await start(server, wf, {});
    await waitFor(server, id, (e) => runsOf(e, 'n').length === 3 && runsOf(e, 'a').length === 1);
    const { done, elapsed } = await cancelRunning(server, id);
    expect(elapsed).toBeLessThan(1000);
    for (const run of [...runsOf(done, 'a'), ...runsOf(done, 'n')]) expect(run.state).toBe('CANCELLED');
    for (const run of done.taskRuns) expect(run.state).not.toBe('RUNNING');
    expect(runsOf(done, 'after')).toHaveLength(0);
  });

  it('cancelling during a retry delay stops the retries', async () => {
    const wf = uniqueId('cancel-retry');
    await applyWorkflow(server, wf, `id: ${wf}\ntasks:\n  - id: f\n    type: fail\n    retry: {maxAttempts: 5, delay: 10s}\n`);
    const id = await start(server, wf, {});
    await waitFor(server, id, (e) => runsOf(e, 'f')[0]?.state === 'FAILED');
    const { done, elapsed } = await cancelRunning(server, id);
    expect(elapsed).toBeLessThan(1000);
    await sleep(200);
    const later = await inspect(server, id);
    expect(later.state).toBe('CANCELLED');
    expect(runsOf(later, 'f')).toHaveLength(1);
    expect(later.taskRuns).toEqual(done.taskRuns);
  });

  it('aborts a running http call (the target sees the connection dropped)', async () => {
    const before = { held, aborted };
    const wf = uniqueId('cancel-http');
    await applyWorkflow(server, wf, `id: ${wf}\ntasks:\n  - {id: call, type: http, url: "${targetUrl}/hang", timeout: 60s}\n`);
    const id = await start(server, wf, {});
    await eventually(async () => held > before.held, 5000);
    const { done, elapsed } = await cancelRunning(server, id);
    expect(elapsed).toBeLessThan(1000);
    expect(runsOf(done, 'call')[0].state).toBe('CANCELLED');
    await eventually(async () => aborted > before.aborted, 3000);
  });

  it('kills the shell process group (the command and what it started)', async () => {
    const wf = uniqueId('cancel-shell');
    await applyWorkflow(server, wf, `id: ${wf}\ntasks:\n  - {id: sh, type: shell, commands: ["sh -c 'sleep 30 & echo bg=$!; echo fg=$$; wait'"]}\n  - {id: after, type: log, message: never}\n`);
    const id = await start(server, wf, {});
    const pids = await eventually(async () => {
      const lines = (await allLogs(server, id, '&taskId=sh')).map((l) => l.message);
      const bg = lines.find((m) => m.startsWith('bg='));
      const fg = lines.find((m) => m.startsWith('fg='));
      return bg && fg ? [Number(bg.slice(3)), Number(fg.slice(3))] : undefined;
    }, 10_000);
    for (const pid of pids) expect(alive(pid), `pid ${pid} before cancel`).toBe(true);
    const { done, elapsed } = await cancelRunning(server, id);
    expect(elapsed).toBeLessThan(1000);
    expect(runsOf(done, 'sh')[0].state).toBe('CANCELLED');
    expect(runsOf(done, 'after')).toHaveLength(0);
    await eventually(async () => pids.every((pid) => !alive(pid)), 4000);
  });

  it('cancelling a parent cancels the subflow execution it is waiting for', async () => {
    const child = uniqueId('cancel-sub-child');
    const parent = uniqueId('cancel-sub-parent');
    await applyWorkflow(server, child, `id: ${child}\ntasks:\n  - {id: nap, type: sleep, duration: 30s}\n`);
    await applyWorkflow(server, parent, `id: ${parent}\ntasks:\n  - {id: call, type: subflow, workflowId: ${child}}\n`);
    const id = await start(server, parent, {});
    const childExec = await eventually(async () => {
      const [c] = await listAll(server, `workflowId=${child}`);
      return c && c.state === 'RUNNING' ? c : undefined;
    }, 10_000);
    const { elapsed } = await cancelRunning(server, id);
    expect(elapsed).toBeLessThan(1000);
    const childDone = await waitTerminal(server, childExec.id, 5000);
    expect(childDone.state).toBe('CANCELLED');
    expect(runsOf(childDone, 'nap')[0].state).toBe('CANCELLED');
  });

  it('a cancel sent to another process (same database) reaches the owner and ends CANCELLED within 1 s', async () => {
    const wf = uniqueId('cancel-remote');
    await applyWorkflow(apiOnly, wf, `id: ${wf}\ntasks:\n  - {id: nap, type: sleep, duration: 30s}\n`);
    const id = await start(apiOnly, wf, {});
    await waitFor(apiOnly, id, (e) => runsOf(e, 'nap')[0]?.state === 'RUNNING');
    const { done, elapsed } = await cancelRunning(apiOnly, id, apiOnly);
    expect(elapsed).toBeLessThan(1000);
    expect(runsOf(done, 'nap')[0].state).toBe('CANCELLED');
    expect(done.history.map((h: any) => h.state)).toEqual(['QUEUED', 'RUNNING', 'CANCELLING', 'CANCELLED']);
  });
});

describe('cancel a finished execution', () => {
  it('SUCCESS, FAILED and CANCELLED executions answer 409 EXECUTION_FINISHED and nothing changes', async () => {
    const okWf = uniqueId('cancel-done-ok');
    const failWf = uniqueId('cancel-done-fail');
    const napWf = uniqueId('cancel-done-nap');
    await applyWorkflow(server, okWf, `id: ${okWf}\ntasks:\n  - {id: out, type: output, values: {v: 1}}\n`);
    await applyWorkflow(server, failWf, `id: ${failWf}\ntasks:\n  - {id: f, type: fail, message: nope}\n`);
    await applyWorkflow(server, napWf, `id: ${napWf}\ntasks:\n  - {id: nap, type: sleep, duration: 30s}\n`);
    const ok = await runToEnd(server, okWf);
    const failed = await runToEnd(server, failWf, {}, 'FAILED');
    const napId = await start(server, napWf, {});
    await waitFor(server, napId, (e) => e.state === 'RUNNING');
    const { done: cancelled } = await cancelRunning(server, napId);

    for (const before of [ok, failed, cancelled]) {
      const error = expectError(await cancel(server, before.id), 409, 'EXECUTION_FINISHED');
      expect(error.message).toContain(before.state);
      const after = await inspect(server, before.id);
      expect(after.state).toBe(before.state);
      expect(after.endedAt).toBe(before.endedAt);
      expect(after.history).toEqual(before.history);
      expect(after.error).toEqual(before.error);
      expect(after.outputs).toEqual(before.outputs);
      expect(after.taskRuns).toEqual(before.taskRuns);
    }
  });

  it('404 NOT_FOUND for an unknown execution', async () => {
    expectError(await cancel(server, '01ARZ3NDEKTSV4RRFFQ69G5FAV'), 404, 'NOT_FOUND');
  });
});
