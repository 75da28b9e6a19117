/**
 * Durability with real processes (issue 3 "Runtime"): the BUILT CLI (`node dist/cli.js serve`)
 * is spawned, killed with SIGKILL, stopped, terminated with SIGTERM; several processes share one
 * store (the SQLite file; on the PG leg one PostgreSQL database). Run `npm run build` first.
 */
import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { killAll, spawnServe, type ServeProcess } from '../support/cli';
import { legDatabaseUrl, PG_LEG } from '../support/postgres';
import { randomKey, startTestServer, TEST_CONFIG, tempDir } from '../support/server';
import { uniqueId } from './helpers';
import { apply, httpClient, inspect, listAll, runsOf, start, waitFor, waitTerminal, type Api } from './engine-helpers';

const children = new Set<ChildProcess>();

// never leave a process behind, even when a test failed half way
afterEach(() => killAll(children));

afterAll(() => {
  for (const child of children) child.kill('SIGKILL');
});

interface Node {
  proc: ServeProcess;
  api: Api;
}

/**
 * The store of one scenario: a SQLite file in `dir`, or (PG leg) the PostgreSQL database of `dir`
 * — the one startTestServer({dir}) also opens, dropped after the file.
 */
function storeOf(dir: string): Promise<string> {
  return PG_LEG ? legDatabaseUrl(dir) : Promise.resolve(join(dir, 'autokestra.db'));
}

async function serve(databaseUrl: string, key: string, config = TEST_CONFIG): Promise<Node> {
  const proc = await spawnServe({
    AUTOKESTRA_API_KEYS: key,
    AUTOKESTRA_DATABASE_URL: databaseUrl,
    AUTOKESTRA_PORT: '0',
    AUTOKESTRA_CONFIG: config,
  });
  children.add(proc.child);
  return { proc, api: httpClient(proc.url, key) };
}

function exitOf(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

const threeSteps = (wf: string, sleep: string) => `id: ${wf}
tasks:
  - {id: first, type: output, values: {v: 7}}
  - {id: slow, type: sleep, duration: ${sleep}}
  - {id: last, type: output, values: {v: "{{ outputs.first.v }}"}}
`;

function states(execution: any): string[] {
  return execution.history.map((h: any) => h.state);
}

describe('crash recovery (kill -9)', () => {
  it('a restarted server resumes at the interrupted task: completed tasks never re-run, the interrupted one runs again as attempt 2', async () => {
    const dir = tempDir('autokestra-kill9-');
    const db = await storeOf(dir);
    const key = randomKey();
    const wf = uniqueId('kill9');

    const one = await serve(db, key);
    await apply(one.api, wf, threeSteps(wf, '3s'));
    const id = await start(one.api, wf, {});
    await waitFor(one.api, id, (e) => runsOf(e, 'first')[0]?.state === 'SUCCESS' && runsOf(e, 'slow')[0]?.state === 'RUNNING');
    one.proc.child.kill('SIGKILL');
    expect((await exitOf(one.proc.child)).signal).toBe('SIGKILL');

    const two = await serve(db, key);
    const done = await waitTerminal(two.api, id, 20_000);
    expect(done.state, JSON.stringify(done)).toBe('SUCCESS');
    expect(runsOf(done, 'first')).toHaveLength(1);
    expect(runsOf(done, 'first')[0]).toMatchObject({ attempt: 1, state: 'SUCCESS', outputs: { v: 7 } });
    const slow = runsOf(done, 'slow');
    expect(slow.map((r) => [r.attempt, r.state])).toEqual([
      [1, 'FAILED'],
      [2, 'SUCCESS'],
    ]);
    expect(slow[0].error).toMatchObject({ taskId: 'slow', kind: 'INTERRUPTED' });
    expect(slow[1].durationMs).toBeGreaterThanOrEqual(2900);
    expect(runsOf(done, 'last')).toHaveLength(1);
    expect(done.outputs).toEqual({ first: { v: 7 }, last: { v: 7 } });
    expect(states(done)).toEqual(['QUEUED', 'RUNNING', 'QUEUED', 'RUNNING', 'SUCCESS']);
  });
});

describe('fencing: a stale owner cannot write', () => {
  it('an owner frozen past its lease loses the execution to another process; when it wakes up, its late writes change nothing', async () => {
    const dir = tempDir('autokestra-fence-');
    const db = await storeOf(dir);
    const key = randomKey();
    const wf = uniqueId('fence');

    const one = await serve(db, key);
    await apply(one.api, wf, threeSteps(wf, '2s'));
    const id = await start(one.api, wf, {});
    await waitFor(one.api, id, (e) => runsOf(e, 'slow')[0]?.state === 'RUNNING');
    one.proc.child.kill('SIGSTOP');
    try {
      // the process is alive but frozen: the other one takes over once the lease (3 s) expires
      const two = await serve(db, key);
      // the claim and the closing of the interrupted run are two writes: on PostgreSQL a read can
      // fall between them, so wait for both rather than assert the second right after the first
      const taken = await waitFor(
        two.api,
        id,
        (e) => states(e).filter((s) => s === 'RUNNING').length === 2 && runsOf(e, 'slow')[0]?.state !== 'RUNNING',
        15_000,
        50,
      );
      expect(runsOf(taken, 'slow')[0]).toMatchObject({ attempt: 1, state: 'FAILED', error: { kind: 'INTERRUPTED' } });
      one.proc.child.kill('SIGCONT');
      const done = await waitTerminal(two.api, id, 20_000);
      expect(done.state).toBe('SUCCESS');
      // give the woken process time to attempt its stale writes
      await new Promise((r) => setTimeout(r, 2500));
      const after = await inspect(two.api, id);
      expect(after.state).toBe('SUCCESS');
      expect(after.history).toEqual(done.history);
      expect(after.taskRuns).toEqual(done.taskRuns);
      expect(states(after)).toEqual(['QUEUED', 'RUNNING', 'QUEUED', 'RUNNING', 'SUCCESS']);
      expect(runsOf(after, 'first')).toHaveLength(1);
      expect(runsOf(after, 'slow').map((r) => [r.attempt, r.state])).toEqual([
        [1, 'FAILED'],
        [2, 'SUCCESS'],
      ]);
      expect(runsOf(after, 'last')).toHaveLength(1);
      // the woken process is healthy and still serves
      expect((await inspect(one.api, id)).state).toBe('SUCCESS');
    } finally {
      one.proc.child.kill('SIGCONT');
    }
  });
});

describe('two processes on ONE store (SQLite file / PostgreSQL database)', () => {
  it('200 executions triggered through both APIs at once all end SUCCESS, every task run exactly once', async () => {
    const dir = tempDir('autokestra-two-');
    const db = await storeOf(dir);
    const key = randomKey();
    const wf = uniqueId('two-procs');
    const [one, two] = await Promise.all([serve(db, key), serve(db, key)]);
    await apply(one.api, wf, `id: ${wf}\ntasks:\n  - {id: a, type: output, values: {v: 1}}\n  - {id: b, type: sleep, duration: 20ms}\n`);

    const responses = await Promise.all(
      Array.from({ length: 200 }, (_, i) => (i % 2 === 0 ? one.api : two.api).request('POST', `/api/v1/workflows/${wf}/executions`, { body: {} })),
    );
    for (const res of responses) expect(res.status, res.text).toBe(202);
    const ids = responses.map((r) => r.body.id as string);
    expect(new Set(ids).size).toBe(200);

    const deadline = Date.now() + 60_000;
    for (;;) {
      const finished = await listAll(one.api, `workflowId=${wf}&state=SUCCESS`);
      if (finished.length === 200) break;
      const failed = await listAll(one.api, `workflowId=${wf}&state=FAILED`);
      expect(failed, JSON.stringify(failed.slice(0, 2))).toEqual([]);
      expect(Date.now(), `only ${finished.length} of 200 finished`).toBeLessThan(deadline);
      await new Promise((r) => setTimeout(r, 200));
    }
    const all = await listAll(two.api, `workflowId=${wf}`);
    expect(all).toHaveLength(200);
    for (let i = 0; i < ids.length; i += 20) {
      const batch = await Promise.all(ids.slice(i, i + 20).map((id, j) => inspect(j % 2 ? one.api : two.api, id)));
      for (const e of batch) {
        expect(e.state).toBe('SUCCESS');
        expect(e.taskRuns.map((r: any) => r.taskId).sort(), e.id).toEqual(['a', 'b']);
        for (const r of e.taskRuns) expect(r).toMatchObject({ attempt: 1, state: 'SUCCESS' });
        // claimed exactly once
        expect(states(e)).toEqual(['QUEUED', 'RUNNING', 'SUCCESS']);
      }
    }
  });
});

describe('SIGTERM', () => {
  it('exits 0 after the grace period, releasing the running execution to the queue; a new server completes it', async () => {
    const dir = tempDir('autokestra-sigterm-');
    const db = await storeOf(dir);
    const key = randomKey();
    const config = join(dir, 'config.yaml');
    writeFileSync(
      config,
      'server:\n  host: 127.0.0.1\n  port: 0\nlogging:\n  level: silent\nengine:\n  pollIntervalMs: 25\n  leaseMs: 3000\n  heartbeatMs: 500\n  shutdownGraceMs: 200\n',
    );
    const wf = uniqueId('sigterm');

    const one = await serve(db, key, config);
    await apply(one.api, wf, threeSteps(wf, '5s'));
    const id = await start(one.api, wf, {});
    await waitFor(one.api, id, (e) => runsOf(e, 'slow')[0]?.state === 'RUNNING');
    const t0 = Date.now();
    one.proc.child.kill('SIGTERM');
    const exit = await exitOf(one.proc.child);
    expect.soft(exit, 'exit status of serve after SIGTERM').toEqual({ code: 0, signal: null });
    expect(Date.now() - t0).toBeLessThan(4000);

    // an API-only server (no workers) on the same file sees it back in the queue, progress kept
    const reader = await startTestServer({ dir, key, configure: (c) => (c.engine.workers = 0) });
    try {
      const released = await inspect(reader, id);
      expect(released.state).toBe('QUEUED');
      expect(states(released)).toEqual(['QUEUED', 'RUNNING', 'QUEUED']);
      expect(runsOf(released, 'first')[0].state).toBe('SUCCESS');
      expect(runsOf(released, 'slow')[0]).toMatchObject({ attempt: 1, state: 'FAILED', error: { kind: 'INTERRUPTED' } });
    } finally {
      await reader.close();
    }

    const two = await serve(db, key, config);
    const done = await waitTerminal(two.api, id, 20_000);
    expect(done.state).toBe('SUCCESS');
    expect(states(done)).toEqual(['QUEUED', 'RUNNING', 'QUEUED', 'RUNNING', 'SUCCESS']);
    expect(runsOf(done, 'first')).toHaveLength(1);
    expect(runsOf(done, 'slow').map((r) => [r.attempt, r.state, r.error?.kind ?? null])).toEqual([
      [1, 'FAILED', 'INTERRUPTED'],
      [2, 'SUCCESS', null],
    ]);
    expect(runsOf(done, 'last')).toHaveLength(1);
  });

  it('an execution that ends within the grace period finishes normally before the process exits', async () => {
    const dir = tempDir('autokestra-sigterm-grace-');
    const db = await storeOf(dir);
    const key = randomKey();
    const wf = uniqueId('sigterm-grace');
    // test.yaml: shutdownGraceMs 2000
    const one = await serve(db, key);
    await apply(one.api, wf, threeSteps(wf, '600ms'));
    const id = await start(one.api, wf, {});
    await waitFor(one.api, id, (e) => runsOf(e, 'slow')[0]?.state === 'RUNNING');
    one.proc.child.kill('SIGTERM');
    expect.soft(await exitOf(one.proc.child), 'exit status of serve after SIGTERM').toEqual({ code: 0, signal: null });
    const reader = await startTestServer({ dir, key, configure: (c) => (c.engine.workers = 0) });
    try {
      const done = await inspect(reader, id);
      expect(done.state).toBe('SUCCESS');
      expect(states(done)).toEqual(['QUEUED', 'RUNNING', 'SUCCESS']);
      expect(runsOf(done, 'slow')).toHaveLength(1);
    } finally {
      await reader.close();
    }
  });
});
