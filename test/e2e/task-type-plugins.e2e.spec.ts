/**
 * Task types as plugins (issue 10 §2): extra TaskTypes passed to the server (startServer's
 * `taskTypes`, EngineOptions.taskTypes) are validated at apply like the built-in ones and run
 * through the real engine; a name already taken stops the start.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { abortableDelay, TaskFailure, type TaskType } from '../../src/engine/tasks/task-type';
import { applyWorkflow, startTestServer, type TestServer } from '../support/server';
import { expectError, uniqueId } from './helpers';
import { allLogs, runToEnd, runsOf } from './engine-helpers';

const greet: TaskType = {
  name: 'acme.greet',
  properties: {
    name: { type: 'template', required: true },
    times: { type: 'integer', min: 1, max: 5, default: 1 },
  },
  async run(task, ctx) {
    const name = String(ctx.render(task.name));
    for (let i = 0; i < (task.times as number); i++) ctx.log('info', `hello ${name}`);
    return { greeting: `hello ${name}`, attempt: ctx.attempt };
  },
};

/** waits until aborted: shows that the task's timeout reaches a plugin through ctx.signal */
const wait: TaskType = {
  name: 'acme.wait',
  properties: { for: { type: 'duration', required: true, as: 'forMs' } },
  async run(task, ctx) {
    await abortableDelay(task.forMs as number, ctx.signal);
    return null;
  },
};

/** fails with its own kind on the first attempt, succeeds on the retry */
let flaky = 0;
const flakyType: TaskType = {
  name: 'acme.flaky',
  properties: {},
  async run() {
    flaky += 1;
    if (flaky === 1) throw new TaskFailure('not yet', 'ACME_NOT_YET');
    return { tries: flaky };
  },
};

let server: TestServer;
const TOKEN = 'acme-plugin-s3cr3t-value';

beforeAll(async () => {
  server = await startTestServer({ taskTypes: [greet, wait, flakyType], env: { AUTOKESTRA_SECRET_ACME_TOKEN: TOKEN } });
});

afterAll(async () => {
  await server?.close();
});

describe('extra task types', () => {
  it('a workflow using one validates and runs to SUCCESS; later tasks read its outputs', async () => {
    const id = uniqueId('plugin');
    await applyWorkflow(
      server,
      id,
      `id: ${id}\ninputs:\n  - {id: who, type: string, default: world}\ntasks:\n  - id: greet\n    type: acme.greet\n    name: "{{ inputs.who }}"\n    times: 2\n  - id: after\n    type: log\n    message: "{{ outputs.greet.greeting }}!"\n`,
    );
    const done = await runToEnd(server, id, { inputs: { who: 'team' } });
    expect(runsOf(done, 'greet').map((r) => [r.state, r.attempt])).toEqual([['SUCCESS', 1]]);
    expect(runsOf(done, 'greet')[0].outputs).toEqual({ greeting: 'hello team', attempt: 1 });
    const messages = (await allLogs(server, done.id)).map((l) => l.message);
    expect(messages.filter((m) => m === 'hello team')).toHaveLength(2);
    expect(messages).toContain('hello team!');
  });

  it('an unknown, a missing and a wrongly typed property are apply-time diagnostics with lines', async () => {
    const id = uniqueId('plugin');
    const res = await server.request('PUT', `/api/v1/workflows/${id}`, {
      raw: `id: ${id}\ntasks:\n  - id: greet\n    type: acme.greet\n    nmae: x\n  - id: again\n    type: acme.greet\n    name: x\n    times: 7\n`,
      contentType: 'application/yaml',
    });
    const error = expectError(res, 400, 'INVALID_WORKFLOW');
    expect(error.details).toEqual([
      { path: 'tasks[0].nmae', message: "unknown property 'nmae'; did you mean 'name'?", line: 5 },
      { path: 'tasks[1].times', message: 'must be an integer between 1 and 5', line: 9 },
    ]);
    const missing = await server.request('PUT', `/api/v1/workflows/${id}`, { raw: `id: ${id}\ntasks:\n  - id: greet\n    type: acme.greet\n`, contentType: 'application/yaml' });
    expect(expectError(missing, 400, 'INVALID_WORKFLOW').details).toEqual([{ path: 'tasks[0].name', message: "missing required property 'name'", line: 3 }]);
    // nothing was stored
    expectError(await server.request('GET', `/api/v1/workflows/${id}`), 404, 'NOT_FOUND');
  });

  it('gets the task timeout through its AbortSignal, and retries like a built-in type', async () => {
    const id = uniqueId('plugin');
    await applyWorkflow(
      server,
      id,
      `id: ${id}\ntasks:\n  - id: flaky\n    type: acme.flaky\n    retry: {maxAttempts: 2, delay: 10ms}\n  - id: stuck\n    type: acme.wait\n    for: 1h\n    timeout: 200ms\n`,
    );
    const done = await runToEnd(server, id, undefined, 'FAILED');
    expect(runsOf(done, 'flaky').map((r) => [r.state, r.attempt, r.error?.kind ?? null])).toEqual([
      ['FAILED', 1, 'ACME_NOT_YET'],
      ['SUCCESS', 2, null],
    ]);
    expect(done.error).toMatchObject({ taskId: 'stuck', kind: 'TIMEOUT', message: "task 'stuck' timed out after 200ms" });
  });
});

describe('secrets in a plugin type', () => {
  it('are rendered for it and masked in what it logs and returns', async () => {
    const id = uniqueId('plugin');
    await applyWorkflow(server, id, `id: ${id}\ntasks:\n  - id: greet\n    type: acme.greet\n    name: "{{ secret('ACME_TOKEN') }}"\n`);
    const done = await runToEnd(server, id);
    expect(runsOf(done, 'greet')[0].outputs).toEqual({ greeting: 'hello ***', attempt: 1 });
    const logs = await allLogs(server, done.id);
    expect(logs.map((l) => l.message)).toContain('hello ***');
    expect(JSON.stringify(done) + JSON.stringify(logs)).not.toContain(TOKEN);
  });
});

describe('starting with a task type whose name is taken', () => {
  it('fails with a message naming the type and both registrations', async () => {
    await expect(startTestServer({ taskTypes: [{ ...greet, name: 'log' }] })).rejects.toThrow(
      "duplicate task type 'log': registered by built-in and again by engine options taskTypes[0]; task type names must be unique",
    );
    await expect(startTestServer({ taskTypes: [greet, { ...greet }] })).rejects.toThrow(/duplicate task type 'acme\.greet'/);
  });
});
