/**
 * Retention (issue 3): finished executions with their task runs and logs older than
 * `retention.days` are purged; unfinished ones never are. Executions are produced by a real
 * server, then the sweeper runs against the real store on the same SQLite file at a shifted "now".
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EngineLogger } from '../../src/engine/engine';
import { RetentionSweeper } from '../../src/engine/runtime/retention';
import { openStore, type OpenedStore } from '../../src/engine/store/open-store';
import { applyWorkflow, startTestServer } from '../support/server';

const DAY = 86_400_000;
const quiet: EngineLogger = { info() {}, warn() {}, error() {}, debug() {} };

let opened: OpenedStore;
const finished: string[] = [];
let unfinished: string[] = [];

async function post(server: Awaited<ReturnType<typeof startTestServer>>, wf: string, wait = ''): Promise<any> {
  const res = await server.request('POST', `/api/v1/workflows/${wf}/executions${wait}`, { body: {} });
  expect([200, 202]).toContain(res.status);
  return res.body;
}

beforeAll(async () => {
  const server = await startTestServer({ configure: (c) => (c.engine.shutdownGraceMs = 0) });
  try {
    await applyWorkflow(server, 'ret-done', 'id: ret-done\ntasks:\n  - {id: say, type: log, message: hello}\n  - {id: out, type: output, values: {v: 1}}\n');
    await applyWorkflow(server, 'ret-fail', 'id: ret-fail\ntasks:\n  - {id: f, type: fail, message: nope}\n');
    await applyWorkflow(server, 'ret-open', 'id: ret-open\nconcurrency: {limit: 1}\ntasks:\n  - {id: nap, type: sleep, duration: 30s}\n');
    for (const wf of ['ret-done', 'ret-done', 'ret-fail']) {
      const e = await post(server, wf, '?wait=10s');
      expect(['SUCCESS', 'FAILED']).toContain(e.state);
      finished.push(e.id);
    }
    unfinished = [(await post(server, 'ret-open')).id, (await post(server, 'ret-open')).id];
    const deadline = Date.now() + 5000;
    while ((await server.request('GET', `/api/v1/executions/${unfinished[0]}`)).body.state !== 'RUNNING') {
      if (Date.now() > deadline) throw new Error('never started');
      await new Promise((r) => setTimeout(r, 20));
    }
  } finally {
    // shutdownGraceMs 0: the running one goes back to the queue
    await server.close();
  }
  opened = await openStore({ url: server.dbPath });
});

afterAll(async () => {
  await opened?.store.close();
});

describe('RetentionSweeper.sweep', () => {
  it('purges nothing while the finished executions are younger than retention.days', async () => {
    const sweeper = new RetentionSweeper(opened.store, { days: 30, intervalMs: 3_600_000 }, quiet);
    expect(await sweeper.sweep(Date.now() + 29 * DAY)).toEqual({ executions: 0, logs: 0 });
    for (const id of finished) expect(await opened.store.executions.getExecution(id)).not.toBeNull();
  });

  it('purges finished executions older than retention.days with their task runs and logs, and keeps unfinished ones', async () => {
    for (const id of finished) {
      expect((await opened.store.executions.listTaskRuns(id)).length).toBeGreaterThan(0);
    }
    const logsBefore = (await opened.store.executions.queryLogs({ executionId: finished[0], limit: 1000, offset: 0 })).items.length;
    expect(logsBefore).toBeGreaterThan(0);

    const sweeper = new RetentionSweeper(opened.store, { days: 30, intervalMs: 3_600_000 }, quiet);
    const result = await sweeper.sweep(Date.now() + 31 * DAY);
    expect(result.executions).toBe(finished.length);
    expect(result.logs).toBeGreaterThanOrEqual(logsBefore);
    for (const id of finished) {
      expect(await opened.store.executions.getExecution(id)).toBeNull();
      expect(await opened.store.executions.listTaskRuns(id)).toEqual([]);
      expect((await opened.store.executions.queryLogs({ executionId: id, limit: 10, offset: 0 })).items).toEqual([]);
    }
    for (const id of unfinished) {
      const e = await opened.store.executions.getExecution(id);
      expect(e?.state).toBe('QUEUED');
    }
    // the workflows themselves are untouched
    expect(await opened.store.getWorkflow('ret-done')).not.toBeNull();
    // a second sweep finds nothing more
    expect(await sweeper.sweep(Date.now() + 31 * DAY)).toEqual({ executions: 0, logs: 0 });
  });
});
