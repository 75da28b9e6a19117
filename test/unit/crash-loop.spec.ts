/**
 * Poison pills (issue 7, item 2): the counting rule, and the store's recovery statement against a
 * real SQLite file. The end-to-end proof with real crashing processes is in
 * test/e2e/crash-loop.e2e.spec.ts.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/common/config/load-config';
import { crashLoopError, recoveryDecision } from '../../src/engine/runtime/crash-loop';
import { newId } from '../../src/engine/runtime/ids';
import type { ExecutionRecord, Fence, NewExecution, TaskRunRecord } from '../../src/engine/store/execution-types';
import { openStore, type OpenedStore } from '../../src/engine/store/open-store';
import { tempDir } from '../support/server';

describe('recoveryDecision', () => {
  it('with the default limit 3, re-queues the 1st and 2nd recovery without progress and stops at the 3rd', () => {
    // recoveriesSoFar counts earlier re-queues; this recovery is number recoveriesSoFar + 1
    expect([0, 1, 2, 3].map((soFar) => recoveryDecision(soFar, 3))).toEqual(['requeue', 'requeue', 'fail', 'fail']);
  });

  it('with limit 1, the first crash already stops the execution (never re-run after a crash)', () => {
    expect(recoveryDecision(0, 1)).toBe('fail');
  });
});

describe('engine.crashLoopLimit configuration', () => {
  function load(yaml: string) {
    const file = join(tempDir('autokestra-crashloop-config-'), 'config.yaml');
    writeFileSync(file, yaml);
    return loadConfig({ file, env: {} });
  }

  it('defaults to 3', () => {
    expect(loadConfig({ env: {}, cwd: tempDir('autokestra-crashloop-cwd-') }).engine.crashLoopLimit).toBe(3);
  });

  it('accepts 1 (never re-run after a crash) and 100', () => {
    expect(load('engine:\n  crashLoopLimit: 1\n').engine.crashLoopLimit).toBe(1);
    expect(load('engine:\n  crashLoopLimit: 100\n').engine.crashLoopLimit).toBe(100);
  });

  it.each([
    ['0', 'engine.crashLoopLimit: must not be less than 1'],
    ['101', 'engine.crashLoopLimit: must not be greater than 100'],
    ['2.5', 'engine.crashLoopLimit: must be an integer number'],
  ])('refuses crashLoopLimit %s with one line naming the setting', (value, problem) => {
    let error: unknown;
    try {
      load(`engine:\n  crashLoopLimit: ${value}\n`);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toEqual([problem]);
  });
});

describe('crashLoopError', () => {
  it('names the task and its attempt when they are known', () => {
    expect(crashLoopError(3, { taskId: 'x', attempt: 1 })).toEqual({
      message: "the server process died 3 times while running task 'x' (attempt 1) without progress; the execution was stopped to protect the server",
      taskId: 'x',
      kind: 'CRASH_LOOP',
    });
  });

  it('says the variables were being rendered when the crash came before the first task', () => {
    expect(crashLoopError(2, { taskId: null, attempt: null }).message).toBe(
      "the server process died 2 times while rendering the workflow's variables without progress; the execution was stopped to protect the server",
    );
  });

  it('still says what happened when the task is unknown (a first crash before anything was written)', () => {
    const error = crashLoopError(1, null);
    expect(error).toMatchObject({ taskId: null, kind: 'CRASH_LOOP' });
    expect(error.message).toBe('the server process died 1 time while running this execution without progress; the execution was stopped to protect the server');
  });
});

/**
 * SQLite always; PostgreSQL too when AUTOKESTRA_TEST_POSTGRES_URL names an empty database (the
 * recovery SQL is shared between the dialects, so both must run it).
 */
const DATABASES: [string, () => string][] = [['SQLite file', () => join(tempDir('autokestra-crashloop-unit-'), 'autokestra.db')]];
if (process.env.AUTOKESTRA_TEST_POSTGRES_URL) DATABASES.push(['PostgreSQL', () => process.env.AUTOKESTRA_TEST_POSTGRES_URL!]);

describe.each(DATABASES)('SqlExecutionStore crash recovery (real %s)', (_name, url) => {
  let opened: OpenedStore;
  const LEASE = 3000;

  beforeAll(async () => {
    opened = await openStore({ url: url(), migrate: true });
  });

  afterAll(async () => {
    await opened?.store.close();
  });

  const store = () => opened.store.executions;

  async function queued(): Promise<string> {
    const e: NewExecution = {
      id: newId(),
      workflowId: 'wf',
      namespace: 'team.a',
      revision: 1,
      inputs: {},
      labels: {},
      trigger: { type: 'api' },
      createdAt: Date.now(),
      concurrencyLimit: null,
      timeoutMs: null,
      parentExecutionId: null,
      depth: 0,
      idempotencyKey: null,
      idempotencyHash: null,
    };
    await store().insertExecution(e);
    return e.id;
  }

  /** Claims until it gets `id` (other tests' leftovers are claimed and ended out of the way). */
  async function claim(id: string, owner: string, now = Date.now()): Promise<ExecutionRecord> {
    for (;;) {
      const claimed = await store().claimNext(owner, now + LEASE, now);
      if (!claimed) throw new Error(`${id} is not claimable`);
      if (claimed.id === id) return claimed;
      await store().finishExecution(fenceOf(claimed), 'SUCCESS', null, null, now);
    }
  }

  const fenceOf = (e: ExecutionRecord): Fence => ({ executionId: e.id, owner: e.owner!, claim: e.claim });

  function runningRun(e: ExecutionRecord, taskId: string, attempt = 1): TaskRunRecord {
    return { id: newId(), executionId: e.id, taskId, taskKey: taskId, parentTaskRunId: null, iteration: null, attempt, state: 'RUNNING', startedAt: Date.now(), endedAt: null, outputs: null, error: null };
  }

  it('a dead owner\'s execution is re-queued twice with its count going up, then the third recovery ends it FAILED with CRASH_LOOP', async () => {
    const id = await queued();
    const deaths: number[] = [];
    for (let life = 1; life <= 2; life++) {
      const owner = `host/100${life}/a`;
      const claimed = await claim(id, owner);
      expect(claimed.crashRecoveries).toBe(life - 1);
      const result = await store().recoverAbandoned(Date.now(), { owner, crashLoopLimit: 3 });
      expect(result).toEqual({ requeued: [id], cancelled: [], crashLooped: [] });
      deaths.push((await store().getExecution(id))!.crashRecoveries);
    }
    expect(deaths).toEqual([1, 2]);

    const third = await claim(id, 'host/1003/a');
    expect(third.crashRecoveries).toBe(2);
    await store().insertTaskRun(fenceOf(third), runningRun(third, 'boom'));
    const result = await store().recoverAbandoned(Date.now(), { owner: 'host/1003/a', crashLoopLimit: 3 });
    expect(result.requeued).toEqual([]);
    expect(result.crashLooped).toHaveLength(1);
    expect(result.crashLooped[0]).toMatchObject({ id, workflowId: 'wf', namespace: 'team.a', error: { kind: 'CRASH_LOOP', taskId: 'boom' } });

    const after = (await store().getExecution(id))!;
    expect(after.state).toBe('FAILED');
    expect(after.owner).toBeNull();
    expect(after.endedAt).not.toBeNull();
    expect(after.error).toEqual({
      message: "the server process died 3 times while running task 'boom' (attempt 1) without progress; the execution was stopped to protect the server",
      taskId: 'boom',
      kind: 'CRASH_LOOP',
    });
    expect(after.history.map((h) => h.state)).toEqual(['QUEUED', 'RUNNING', 'QUEUED', 'RUNNING', 'QUEUED', 'RUNNING', 'FAILED']);
    const runs = await store().listTaskRuns(id);
    expect(runs.map((r) => [r.taskId, r.state, r.error?.kind])).toEqual([['boom', 'FAILED', 'CRASH_LOOP']]);
    expect(runs[0].endedAt).not.toBeNull();
    const logs = await store().queryLogs({ executionId: id, limit: 10, offset: 0 });
    expect(logs.items.map((l) => [l.level, l.message])).toEqual([
      ['ERROR', `execution FAILED: ${after.error!.message}`],
      ['WARN', expect.stringContaining('re-queued after crash 2 without progress')],
      ['WARN', expect.stringContaining('re-queued after crash 1 without progress')],
    ]);
  });

  it('expired leases (a dead or frozen owner on another host) count the same way', async () => {
    const id = await queued();
    let now = Date.now();
    for (const expected of ['requeue', 'requeue', 'fail']) {
      await claim(id, 'other-host/1/b', now);
      now += LEASE + 1;
      const result = await store().recoverAbandoned(now, { crashLoopLimit: 3 });
      if (expected === 'requeue') expect(result.requeued).toContain(id);
      else expect(result.crashLooped.map((c) => c.id)).toEqual([id]);
    }
    const after = (await store().getExecution(id))!;
    expect(after.state).toBe('FAILED');
    // no task run was ever written (a crash before the first task): the message says so plainly
    expect(after.error).toMatchObject({ kind: 'CRASH_LOOP', taskId: null, message: expect.stringContaining('died 3 times while running this execution') });
  });

  it('a lease that has not expired yet is not recovered and not counted', async () => {
    const id = await queued();
    const now = Date.now();
    const claimed = await claim(id, 'other-host/2/c', now);
    const result = await store().recoverAbandoned(now + LEASE - 1, { crashLoopLimit: 1 });
    expect(result.requeued).not.toContain(id);
    expect(result.crashLooped.map((c) => c.id)).not.toContain(id);
    expect((await store().getExecution(id))!).toMatchObject({ state: 'RUNNING', crashRecoveries: 0 });
    await store().finishExecution(fenceOf(claimed), 'SUCCESS', null, null, now);
  });

  it('a finished task attempt written with resetCrashCount starts the count over, so crashes separated by progress never add up', async () => {
    const id = await queued();
    const first = await claim(id, 'host/2001/d');
    await store().recoverAbandoned(Date.now(), { owner: 'host/2001/d', crashLoopLimit: 2 });
    const second = await claim(id, 'host/2002/d');
    expect(second.crashRecoveries).toBe(1);
    await store().recordCrashSite(fenceOf(second), { taskId: 'a', attempt: 1 });
    const done = { ...runningRun(second, 'a'), state: 'SUCCESS' as const, endedAt: Date.now() };
    expect(await store().insertTaskRun(fenceOf(second), done, [], { resetCrashCount: true })).toBe(true);
    expect((await store().getExecution(id))!.crashRecoveries).toBe(0);
    // limit 2: without the reset, this recovery would be the 2nd and stop it
    const result = await store().recoverAbandoned(Date.now(), { owner: 'host/2002/d', crashLoopLimit: 2 });
    expect(result.requeued).toEqual([id]);
    expect((await store().getExecution(id))!).toMatchObject({ state: 'QUEUED', crashRecoveries: 1 });
    expect(first.claim).toBe(1);
  });

  it('the crash site recorded by a suspect names the task in the error, even for an instant task with no task run', async () => {
    const id = await queued();
    await claim(id, 'host/3001/e');
    await store().recoverAbandoned(Date.now(), { owner: 'host/3001/e', crashLoopLimit: 2 });
    const suspect = await claim(id, 'host/3002/e');
    expect(await store().recordCrashSite(fenceOf(suspect), { taskId: 'render', attempt: 2 })).toBe(true);
    const result = await store().recoverAbandoned(Date.now(), { owner: 'host/3002/e', crashLoopLimit: 2 });
    expect(result.crashLooped[0].error.message).toBe(
      "the server process died 2 times while running task 'render' (attempt 2) without progress; the execution was stopped to protect the server",
    );
  });

  it('writes of a stale owner change nothing: neither the crash site nor the reset', async () => {
    const id = await queued();
    const stale = await claim(id, 'host/4001/f');
    await store().recoverAbandoned(Date.now(), { owner: 'host/4001/f', crashLoopLimit: 5 });
    const current = await claim(id, 'host/4002/f');
    expect(await store().recordCrashSite(fenceOf(stale), { taskId: 'x', attempt: 1 })).toBe(false);
    expect(await store().insertTaskRun(fenceOf(stale), { ...runningRun(stale, 'x'), state: 'SUCCESS' }, [], { resetCrashCount: true })).toBe(false);
    expect((await store().getExecution(id))!.crashRecoveries).toBe(1);
    await store().finishExecution(fenceOf(current), 'SUCCESS', null, null, Date.now());
  });

  it('terminal executions are final: a recovery sweep never touches them, whatever their count', async () => {
    const id = await queued();
    const claimed = await claim(id, 'host/5001/g');
    await store().finishExecution(fenceOf(claimed), 'SUCCESS', { a: 1 }, null, Date.now());
    const result = await store().recoverAbandoned(Date.now() + 10 * LEASE, { owner: 'host/5001/g', crashLoopLimit: 1 });
    expect(result).toEqual({ requeued: [], cancelled: [], crashLooped: [] });
    expect((await store().getExecution(id))!).toMatchObject({ state: 'SUCCESS', error: null, crashRecoveries: 0 });
  });

  it('a claim with suspects: false skips an execution recovered since its last progress and takes the next one', async () => {
    const suspect = await queued();
    await claim(suspect, 'host/7001/i');
    await store().recoverAbandoned(Date.now(), { owner: 'host/7001/i', crashLoopLimit: 3 });
    const fresh = await queued();
    const now = Date.now();
    const claimed = await store().claimNext('host/7002/i', now + LEASE, now, { suspects: false });
    expect(claimed?.id).toBe(fresh);
    expect(await store().claimNext('host/7002/i', now + LEASE, now, { suspects: false })).toBeNull();
    expect((await store().getExecution(suspect))!.state).toBe('QUEUED');
    const later = await claim(suspect, 'host/7002/i', now);
    expect(later.crashRecoveries).toBe(1);
    for (const e of [claimed!, later]) await store().finishExecution(fenceOf(e), 'SUCCESS', null, null, now);
  });

  it('a CANCELLING execution of a dead owner ends CANCELLED (the cancel completes), not CRASH_LOOP', async () => {
    const id = await queued();
    await claim(id, 'host/6001/h');
    await store().requestCancel(id, Date.now());
    const result = await store().recoverAbandoned(Date.now(), { owner: 'host/6001/h', crashLoopLimit: 1 });
    expect(result).toEqual({ requeued: [], cancelled: [id], crashLooped: [] });
    expect((await store().getExecution(id))!.error).toMatchObject({ kind: 'CANCELLED' });
  });
});
