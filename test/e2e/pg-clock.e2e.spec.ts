import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/postgres';
import { randomKey, startTestServer, type TestServer } from '../support/server';
import { apply, start, waitTerminal } from './engine-helpers';

/**
 * Leases on PostgreSQL run on the database's clock (issue 9 §1): three replicas on one database,
 * one with a clock 20 s fast and one 20 s slow (AUTOKESTRA_TEST_CLOCK_OFFSET_MS shifts the whole
 * engine's clock in that process). With replica clocks, the fast one's recovery sweep would see
 * every other lease (3 s) as long expired and steal it, and the slow one's own leases would be
 * granted already expired and be stolen by the others.
 */
describe('leases use the database clock on PostgreSQL (replica clocks 20 s apart)', () => {
  let db: TestDatabase;
  const servers: TestServer[] = [];
  beforeAll(async () => {
    db = await createTestDatabase('ak_clock');
    const key = randomKey();
    for (const offset of ['0', '20000', '-20000']) {
      servers.push(
        await startTestServer({
          key,
          env: { AUTOKESTRA_DATABASE_URL: db.url, AUTOKESTRA_TEST_CLOCK_OFFSET_MS: offset },
          configure: (config) => {
            config.engine.workers = 2;
          },
        }),
      );
    }
  });
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.close()));
    await db?.drop();
  });

  it('no replica steals a live lease and no execution is claimed twice, while every replica runs some', async () => {
    const wf = 'clock_skew';
    // Longer than the 3-s lease: only heartbeats keep these leases, so a sweep on a skewed clock would take them.
    await apply(servers[0], wf, `id: ${wf}\ntasks:\n  - {id: nap, type: sleep, duration: 4500ms}\n  - {id: done, type: log, message: done}\n`);
    const ids = await Promise.all(Array.from({ length: 6 }, (_, i) => start(servers[i % 3], wf)));
    const finals = await Promise.all(ids.map((id, i) => waitTerminal(servers[i % 3], id, 40_000)));
    expect(finals.map((e) => e.state)).toEqual(ids.map(() => 'SUCCESS'));

    const executions = await db.query<{ id: string; attempt: number; crash_recoveries: number }>(
      `select id, attempt, crash_recoveries from executions where workflow_id = $1`,
      [wf],
    );
    // claimed exactly once each, never recovered
    expect(executions.map((e) => [Number(e.attempt), Number(e.crash_recoveries)])).toEqual(ids.map(() => [1, 0]));
    for (const execution of finals) expect(execution.history.map((h: { state: string }) => h.state)).toEqual(['QUEUED', 'RUNNING', 'SUCCESS']);
    const runs = await db.query<{ task_key: string; n: string }>(
      `select r.task_key, count(*) as n from task_runs r join executions e on e.id = r.execution_id where e.workflow_id = $1 group by r.execution_id, r.task_key`,
      [wf],
    );
    expect(runs.filter((r) => Number(r.n) !== 1)).toEqual([]);
    // the skewed replicas took part (2 workers each, 6 long executions: all three must claim)
    const workers = await db.query<{ worker: string }>(
      `select distinct r.worker from task_runs r join executions e on e.id = r.execution_id where e.workflow_id = $1`,
      [wf],
    );
    const owners = new Set(servers.map((s) => s.server.engine.owner));
    expect(new Set(workers.map((w) => w.worker))).toEqual(owners);
  }, 60_000);
});
