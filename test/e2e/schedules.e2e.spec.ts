/**
 * Schedule triggers (issue 3 "Runtime", DESIGN §6): each tick fires exactly once even with two
 * processes on one database; a disabled or deleted workflow stops firing at once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyWorkflow, sleep, startTestServer, type TestServer } from '../support/server';
import { expectError, uniqueId } from './helpers';
import { listAll, waitTerminal } from './engine-helpers';

let a: TestServer;
let b: TestServer;

beforeAll(async () => {
  a = await startTestServer();
  b = await startTestServer({ dir: a.dir, key: a.key });
});

afterAll(async () => {
  await Promise.all([a?.close(), b?.close()]);
});

const everySecond = (wf: string, extra = '') => `id: ${wf}
${extra}tasks:
  - {id: out, type: output, values: {n: "{{ inputs.n }}", at: "{{ execution.trigger.scheduledAt }}"}}
triggers:
  - {id: tick, type: schedule, cron: "* * * * * *", inputs: {n: "5"}}
`;
const scheduleInputs = 'inputs:\n  - {id: n, type: integer, required: true}\n';

async function scheduled(server: TestServer, wf: string): Promise<any[]> {
  return (await listAll(server, `workflowId=${wf}`)).filter((e) => e.trigger?.type === 'schedule');
}

describe('schedule triggers with two processes on one database', () => {
  it('fires every tick exactly once (no duplicate scheduledAt), with the trigger inputs coerced', async () => {
    const wf = uniqueId('sched-once');
    await applyWorkflow(a, wf, everySecond(wf, scheduleInputs));
    await sleep(3500);
    const fromA = await scheduled(a, wf);
    const fromB = await scheduled(b, wf);
    expect(fromB.map((e) => e.id)).toEqual(fromA.map((e) => e.id));
    expect(fromA.length).toBeGreaterThanOrEqual(2);
    expect(fromA.length).toBeLessThanOrEqual(5);
    const ticks = fromA.map((e) => e.trigger.scheduledAt as string);
    expect(new Set(ticks).size).toBe(ticks.length);
    for (const e of fromA) {
      expect(e.trigger).toMatchObject({ type: 'schedule', id: 'tick' });
      expect(Date.parse(e.trigger.scheduledAt) % 1000).toBe(0);
      expect(e.inputs).toEqual({ n: 5 });
    }
    // consecutive seconds: nothing skipped between the first and the last tick
    const sorted = ticks.map((t) => Date.parse(t)).sort((x, y) => x - y);
    expect(sorted.at(-1)! - sorted[0]).toBe((sorted.length - 1) * 1000);
    const done = await waitTerminal(a, fromA.at(-1).id);
    expect(done.state).toBe('SUCCESS');
    expect(done.outputs.out).toEqual({ n: 5, at: done.trigger.scheduledAt });
    await a.request('PATCH', `/api/v1/workflows/${wf}`, { body: { enabled: false } });
  });

  it('PATCH enabled:false stops firing at once', async () => {
    const wf = uniqueId('sched-disable');
    await applyWorkflow(a, wf, everySecond(wf, scheduleInputs));
    await sleep(1600);
    expect((await scheduled(a, wf)).length).toBeGreaterThanOrEqual(1);
    const res = await b.request('PATCH', `/api/v1/workflows/${wf}`, { body: { enabled: false } });
    expect(res.status, res.text).toBe(200);
    expect(res.body.enabled).toBe(false);
    const count = (await scheduled(a, wf)).length;
    await sleep(1600);
    expect((await scheduled(a, wf)).length).toBe(count);
    // enabling again resumes from now (no backfill of the ticks missed while disabled)
    const enabledAt = Date.now();
    expect((await a.request('PATCH', `/api/v1/workflows/${wf}`, { body: { enabled: true } })).status).toBe(200);
    await sleep(1600);
    const after = await scheduled(a, wf);
    expect(after.length).toBeGreaterThan(count);
    const fresh = after.slice(0, after.length - count);
    for (const e of fresh) expect(Date.parse(e.trigger.scheduledAt)).toBeGreaterThanOrEqual(enabledAt - 1000);
    await a.request('PATCH', `/api/v1/workflows/${wf}`, { body: { enabled: false } });
  });

  it('DELETE stops firing at once and keeps the execution history', async () => {
    const wf = uniqueId('sched-delete');
    await applyWorkflow(a, wf, everySecond(wf, scheduleInputs));
    await sleep(1600);
    const before = await scheduled(a, wf);
    expect(before.length).toBeGreaterThanOrEqual(1);
    const res = await a.request('DELETE', `/api/v1/workflows/${wf}`);
    expect(res.status, res.text).toBe(204);
    const count = (await scheduled(a, wf)).length;
    await sleep(1600);
    const after = await scheduled(b, wf);
    expect(after.length).toBe(count);
    expect(after.map((e) => e.id)).toEqual(expect.arrayContaining(before.map((e) => e.id)));
    expectError(await a.request('GET', `/api/v1/workflows/${wf}`), 404, 'NOT_FOUND');
  });

  it('applying a revision without the trigger stops it; applying an invalid cron is rejected', async () => {
    const wf = uniqueId('sched-remove');
    await applyWorkflow(a, wf, everySecond(wf, scheduleInputs));
    await sleep(1300);
    await applyWorkflow(a, wf, `id: ${wf}\n${scheduleInputs}tasks:\n  - {id: out, type: output, values: {n: "{{ inputs.n }}"}}\n`);
    const count = (await scheduled(a, wf)).length;
    await sleep(1600);
    expect((await scheduled(a, wf)).length).toBe(count);
    const bad = await a.request('PUT', `/api/v1/workflows/${wf}`, {
      raw: `id: ${wf}\ntasks:\n  - {id: l, type: log, message: x}\ntriggers:\n  - {id: t, type: schedule, cron: "not a cron"}\n`,
      contentType: 'application/yaml',
    });
    expectError(bad, 400, 'INVALID_WORKFLOW');
  });
});
