/**
 * No poison pills (issue 7, item 2), with REAL processes: the built CLI (`node dist/cli.js serve`)
 * is spawned against one SQLite file, and a workflow makes it die hard, again on every restart
 * that re-claims the execution. Two ways to die:
 * - the test-only hook `AUTOKESTRA_TEST_CRASH_ON_TASK=<taskId>` (SIGKILL when that task starts,
 *   before anything of it is written: like an out-of-memory abort while rendering a `log`
 *   message, the case where no task run row exists);
 * - a real one: a `shell` task running `kill -9 $PPID` (the server is the command's parent),
 *   after its RUNNING task run was written.
 * Run `npm run build` first.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { CLI, killAll, spawnServe, type ServeProcess } from '../support/cli';
import { randomKey, TEST_CONFIG, tempDir } from '../support/server';
import { uniqueId } from './helpers';
import { apply, httpClient, inspect, runsOf, runToEnd, start, waitFor, waitTerminal, type Api } from './engine-helpers';

const children = new Set<ChildProcess>();

// never leave a process behind, even when a test failed half way
afterEach(() => killAll(children));

afterAll(() => {
  for (const child of children) child.kill('SIGKILL');
});

interface Setup {
  db: string;
  key: string;
  config: string;
}

/** A fresh SQLite file; or, when AUTOKESTRA_TEST_POSTGRES_URL is set, that (shared) PostgreSQL database. */
function databaseUrl(dir: string): string {
  return process.env.AUTOKESTRA_TEST_POSTGRES_URL || join(dir, 'autokestra.db');
}

function setup(prefix: string, config = TEST_CONFIG): Setup {
  return { db: databaseUrl(tempDir(`autokestra-${prefix}-`)), key: randomKey(), config };
}

function envOf(s: Setup, crashOnTask?: string): Record<string, string | undefined> {
  return {
    AUTOKESTRA_API_KEYS: s.key,
    AUTOKESTRA_DATABASE_URL: s.db,
    AUTOKESTRA_PORT: '0',
    AUTOKESTRA_CONFIG: s.config,
    AUTOKESTRA_TEST_CRASH_ON_TASK: crashOnTask,
  };
}

/** A server that is expected to stay up. */
async function serve(s: Setup, crashOnTask?: string): Promise<{ proc: ServeProcess; api: Api }> {
  const proc = await spawnServe(envOf(s, crashOnTask));
  children.add(proc.child);
  return { proc, api: httpClient(proc.url, s.key) };
}

function exitOf(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

/**
 * Starts `serve` and waits for it to die: at start it recovers the execution its predecessor
 * died with, claims it again, and dies again. Resolves with how it ended and what it printed.
 */
function serveUntilItDies(s: Setup, crashOnTask?: string, timeoutMs = 20_000): Promise<{ signal: NodeJS.Signals | null; code: number | null; output: string }> {
  const child = spawn(process.execPath, [CLI, 'serve'], { env: { ...process.env, AUTOKESTRA_HOST: '127.0.0.1', ...envOf(s, crashOnTask) } });
  children.add(child);
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not die within ${timeoutMs} ms: ${output}`)), timeoutMs);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, output });
    });
  });
}

function states(execution: any): string[] {
  return execution.history.map((h: any) => h.state);
}

async function logMessages(api: Api, id: string): Promise<{ level: string; message: string }[]> {
  const res = await api.request('GET', `/api/v1/executions/${id}/logs?limit=1000`);
  expect(res.status, res.text).toBe(200);
  return (res.body.items as any[]).reverse().map((l) => ({ level: l.level, message: l.message }));
}

const crashWarnings = (lines: { level: string; message: string }[]) =>
  lines.filter((l) => l.level === 'WARN' && l.message.includes('re-queued after crash')).map((l) => /crash (\d+) without progress/.exec(l.message)![1]);

async function expectServing(api: Api, proc: ServeProcess): Promise<void> {
  const ready = await api.request('GET', '/health/ready', { auth: false });
  expect(ready.status, ready.text).toBe(200);
  expect(proc.child.exitCode).toBeNull();
  expect(proc.child.signalCode).toBeNull();
}

describe('crash loop: a poison-pill execution is stopped instead of crashing the server for ever', () => {
  it('after the server died 3 times in the same task without progress, the next start ends the execution FAILED with CRASH_LOOP, stays up, and runs other work', async () => {
    const s = setup('crashloop');
    const poison = uniqueId('poison');
    const innocent = uniqueId('innocent');

    // life 1: apply, trigger, die while rendering `boom` (an instant `log` task: nothing of it is written)
    const child = spawn(process.execPath, [CLI, 'serve'], { env: { ...process.env, AUTOKESTRA_HOST: '127.0.0.1', ...envOf(s, 'boom') } });
    children.add(child);
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', () => {
        const match = /listening on (http:\/\/[^\s]+)/.exec(out);
        if (match) resolve(match[1]);
      });
      child.once('exit', () => reject(new Error(`serve exited early: ${out}`)));
    });
    const first = httpClient(url, s.key);
    await apply(first, poison, `id: ${poison}\ntasks:\n  - {id: first, type: output, values: {v: 7}}\n  - {id: boom, type: log, message: "{{ outputs.first.v }}"}\n  - {id: after, type: output, values: {v: 8}}\n`);
    await apply(first, innocent, `id: ${innocent}\ntasks:\n  - {id: ok, type: output, values: {v: 1}}\n`);
    const id = await start(first, poison, {});
    expect((await exitOf(child)).signal).toBe('SIGKILL');

    // lives 2 and 3: each start recovers it (crash 1, then 2), claims it again and dies again
    for (let life = 2; life <= 3; life++) {
      const death = await serveUntilItDies(s, 'boom');
      expect(death.signal, death.output).toBe('SIGKILL');
    }

    // life 4, with the crash still armed: recovery 3 reaches the limit; the execution is stopped, not re-run
    const last = await serve(s, 'boom');
    const done = await waitTerminal(last.api, id, 10_000);
    expect(done.state).toBe('FAILED');
    expect(done.error).toEqual({
      message: "the server process died 3 times while running task 'boom' (attempt 1) without progress; the execution was stopped to protect the server",
      taskId: 'boom',
      kind: 'CRASH_LOOP',
    });
    expect(states(done)).toEqual(['QUEUED', 'RUNNING', 'QUEUED', 'RUNNING', 'QUEUED', 'RUNNING', 'FAILED']);
    expect(done.endedAt).not.toBeNull();
    // completed work is kept and was never re-run; nothing after the poison ran
    expect(runsOf(done, 'first').map((r) => [r.attempt, r.state])).toEqual([[1, 'SUCCESS']]);
    expect(runsOf(done, 'boom')).toEqual([]);
    expect(runsOf(done, 'after')).toEqual([]);
    // the outputs of what completed, as for any FAILED execution
    expect(done.outputs).toEqual({ first: { v: 7 } });

    const lines = await logMessages(last.api, id);
    expect(crashWarnings(lines)).toEqual(['1', '2']);
    expect(lines.at(-1)).toEqual({ level: 'ERROR', message: `execution FAILED: ${done.error.message}` });

    // audit events are buffered (flushed every 100 ms)
    let audit = await last.api.request('GET', '/api/v1/audit?action=execution.crash_loop');
    for (let i = 0; i < 20 && audit.body.items?.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
      audit = await last.api.request('GET', '/api/v1/audit?action=execution.crash_loop');
    }
    expect(audit.status, audit.text).toBe(200);
    expect(audit.body.items).toHaveLength(1);
    expect(audit.body.items[0]).toMatchObject({ actor: 'engine', action: 'execution.crash_loop', resourceId: id, outcome: 'failure' });

    // the server keeps serving: ready, other executions run, the stopped one stays FAILED
    await expectServing(last.api, last.proc);
    const other = await runToEnd(last.api, innocent, {});
    expect(other.outputs).toEqual({ ok: { v: 1 } });
    await new Promise((r) => setTimeout(r, 500));
    await expectServing(last.api, last.proc);
    const again = await inspect(last.api, id);
    expect(again.state).toBe('FAILED');
    expect(again.history).toEqual(done.history);
    // a terminal execution cannot be cancelled any more
    const cancel = await last.api.request('POST', `/api/v1/executions/${id}/cancel`);
    expect(cancel.status).toBe(409);
    expect(cancel.body.error.code).toBe('EXECUTION_FINISHED');
  });

  it('an innocent execution that was running when the poison pill crashed the server is not blamed: recovered executions run one at a time, so it finishes and only the poison pill is stopped', async () => {
    // Without that isolation both would be re-claimed together on every restart, the innocent
    // one's sleep interrupted by each crash, and both would end CRASH_LOOP.
    const s = setup('crashloop-bystander');
    const poison = uniqueId('poison');
    const innocent = uniqueId('bystander');
    const one = await serve(s, 'boom');
    await apply(one.api, poison, `id: ${poison}\ntasks:\n  - {id: first, type: output, values: {v: 1}}\n  - {id: boom, type: log, message: boom}\n`);
    // test.yaml: leaseMs 3000; a suspect holds the isolation slot for at most one lease
    await apply(one.api, innocent, `id: ${innocent}\ntasks:\n  - {id: nap, type: sleep, duration: 1500ms}\n`);
    const bystander = await start(one.api, innocent, {});
    await waitFor(one.api, bystander, (e) => runsOf(e, 'nap')[0]?.state === 'RUNNING');
    const pill = await start(one.api, poison, {});
    expect((await exitOf(one.proc.child)).signal).toBe('SIGKILL');

    for (let life = 2; life <= 3; life++) {
      const death = await serveUntilItDies(s, 'boom');
      expect(death.signal, death.output).toBe('SIGKILL');
    }
    const last = await serve(s, 'boom');
    const stopped = await waitTerminal(last.api, pill, 10_000);
    expect(stopped.state).toBe('FAILED');
    expect(stopped.error).toMatchObject({ kind: 'CRASH_LOOP', taskId: 'boom', message: expect.stringContaining('died 3 times') });
    const spared = await waitTerminal(last.api, bystander, 10_000);
    expect(spared.state, JSON.stringify(spared.error)).toBe('SUCCESS');
    // interrupted once (the first crash), then it ran alone among the recovered and completed
    expect(runsOf(spared, 'nap').map((r) => [r.attempt, r.state, r.error?.kind ?? null])).toEqual([
      [1, 'FAILED', 'INTERRUPTED'],
      [2, 'SUCCESS', null],
    ]);
    await expectServing(last.api, last.proc);
  });

  it('crashes separated by progress do not add up: two deaths in task a, then a succeeds and b kills the server twice more, and the execution still completes', async () => {
    // With the default limit 3, four deaths would stop it if the count were not reset when `a`
    // finished: deaths 1-2 in a (count 2), a succeeds (count 0), deaths 3-4 in b (count 1, 2).
    const s = setup('crashloop-progress');
    const wf = uniqueId('progress');
    const one = await serve(s);
    await apply(one.api, wf, `id: ${wf}\ntasks:\n  - {id: a, type: log, message: a}\n  - {id: b, type: log, message: b}\n  - {id: c, type: output, values: {v: 3}}\n`);
    // a process with no crash armed applies, then stops (SIGTERM: it leaves nothing running)
    one.proc.child.kill('SIGTERM');
    await exitOf(one.proc.child);

    const trigger = await serve(s, 'a');
    const id = await start(trigger.api, wf, {});
    expect((await exitOf(trigger.proc.child)).signal).toBe('SIGKILL');
    for (const crashOn of ['a', 'b', 'b']) {
      const death = await serveUntilItDies(s, crashOn);
      expect(death.signal, death.output).toBe('SIGKILL');
    }

    const last = await serve(s);
    const done = await waitTerminal(last.api, id, 10_000);
    expect(done.state, JSON.stringify(done.error)).toBe('SUCCESS');
    expect(states(done).filter((st) => st === 'RUNNING')).toHaveLength(5);
    for (const task of ['a', 'b', 'c']) expect(runsOf(done, task).map((r) => [r.attempt, r.state])).toEqual([[1, 'SUCCESS']]);
    // the count: 1, 2 (in a) — reset by a's success — then 1, 2 (in b)
    expect(crashWarnings(await logMessages(last.api, id))).toEqual(['1', '2', '1', '2']);
    await expectServing(last.api, last.proc);
  });

  it('a crash while evaluating an `if` condition inside a foreach (no task run of its own yet) is named in the error, and the open foreach run is closed', async () => {
    const dir = tempDir('autokestra-crashloop-if-');
    const config = join(dir, 'config.yaml');
    writeFileSync(config, 'server:\n  host: 127.0.0.1\n  port: 0\nlogging:\n  level: silent\nengine:\n  pollIntervalMs: 25\n  leaseMs: 3000\n  heartbeatMs: 500\n  crashLoopLimit: 2\n');
    const s: Setup = { db: databaseUrl(dir), key: randomKey(), config };
    const wf = uniqueId('if-crash');
    const one = await serve(s, 'check');
    await apply(
      one.api,
      wf,
      `id: ${wf}\ntasks:\n  - id: each\n    type: foreach\n    items: [1, 2]\n    tasks:\n      - id: check\n        type: if\n        condition: "{{ item > 1 }}"\n        then: [{id: yes, type: log, message: big}]\n`,
    );
    const id = await start(one.api, wf, {});
    expect((await exitOf(one.proc.child)).signal).toBe('SIGKILL');
    const death = await serveUntilItDies(s, 'check');
    expect(death.signal, death.output).toBe('SIGKILL');

    const last = await serve(s, 'check');
    const done = await waitTerminal(last.api, id, 10_000);
    expect(done.state).toBe('FAILED');
    expect(done.error).toEqual({
      message: "the server process died 2 times while running task 'check' without progress; the execution was stopped to protect the server",
      taskId: 'check',
      kind: 'CRASH_LOOP',
    });
    expect(done.taskRuns.map((r: any) => [r.taskId, r.state, r.error?.kind])).toEqual([['each', 'FAILED', 'CRASH_LOOP']]);
    await expectServing(last.api, last.proc);
  });

  it('a real crash inside a running task (a shell command that SIGKILLs the server): with crashLoopLimit 2, the interrupted attempt is re-run once, then the task runs are closed with CRASH_LOOP', async () => {
    const dir = tempDir('autokestra-crashloop-shell-');
    const config = join(dir, 'config.yaml');
    writeFileSync(
      config,
      'server:\n  host: 127.0.0.1\n  port: 0\nlogging:\n  level: silent\nengine:\n  pollIntervalMs: 25\n  leaseMs: 3000\n  heartbeatMs: 500\n  crashLoopLimit: 2\n  tasks:\n    shell:\n      enabled: true\n',
    );
    const s: Setup = { db: databaseUrl(dir), key: randomKey(), config };
    const wf = uniqueId('shell-kill');
    const innocent = uniqueId('innocent');
    const one = await serve(s);
    await apply(one.api, wf, `id: ${wf}\ntasks:\n  - {id: ok, type: output, values: {v: 1}}\n  - id: group\n    type: parallel\n    tasks:\n      - id: kill\n        type: shell\n        commands: [[sh, -c, 'kill -9 $PPID']]\n`);
    await apply(one.api, innocent, `id: ${innocent}\ntasks:\n  - {id: fine, type: output, values: {v: 2}}\n`);
    const id = await start(one.api, wf, {});
    expect((await exitOf(one.proc.child)).signal).toBe('SIGKILL');

    const death = await serveUntilItDies(s);
    expect(death.signal, death.output).toBe('SIGKILL');

    const last = await serve(s);
    const done = await waitTerminal(last.api, id, 10_000);
    expect(done.state).toBe('FAILED');
    expect(done.error).toEqual({
      message: "the server process died 2 times while running task 'kill' (attempt 1) without progress; the execution was stopped to protect the server",
      taskId: 'kill',
      kind: 'CRASH_LOOP',
    });
    expect(states(done)).toEqual(['QUEUED', 'RUNNING', 'QUEUED', 'RUNNING', 'FAILED']);
    expect(runsOf(done, 'ok').map((r) => r.state)).toEqual(['SUCCESS']);
    // attempt 1 was closed as interrupted when it was re-run; attempt 2 (and its container) end with the crash-loop error
    expect(runsOf(done, 'kill').map((r) => [r.attempt, r.state, r.error?.kind])).toEqual([
      [1, 'FAILED', 'INTERRUPTED'],
      [2, 'FAILED', 'CRASH_LOOP'],
    ]);
    expect(runsOf(done, 'group').map((r) => [r.state, r.error?.kind])).toEqual([['FAILED', 'CRASH_LOOP']]);
    for (const run of done.taskRuns) expect(run.endedAt, run.taskId).not.toBeNull();

    await expectServing(last.api, last.proc);
    expect((await runToEnd(last.api, innocent, {})).outputs).toEqual({ fine: { v: 2 } });
  });
});
