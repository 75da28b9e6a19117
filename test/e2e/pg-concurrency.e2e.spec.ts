import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomKey, startTestServer, type TestServer } from '../support/server';
import { createTestDatabase, type TestDatabase } from '../support/postgres';
import { httpClient, apply, start, waitTerminal } from './engine-helpers';

// Two replicas (two full servers with their own worker pools) on one PostgreSQL database.
describe('concurrency.limit across replicas on PostgreSQL', () => {
  let db: TestDatabase;
  const servers: TestServer[] = [];
  beforeAll(async () => {
    db = await createTestDatabase('ak_conc');
    const key = randomKey();
    for (let i = 0; i < 2; i++) servers.push(await startTestServer({ key, env: { AUTOKESTRA_DATABASE_URL: db.url } }));
  });
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.close()));
    await db?.drop();
  });

  it('never more RUNNING than the limit, sampled while both replicas claim', async () => {
    const apis = servers.map((s) => httpClient(s.url, s.key));
    const wf = 'pg_conc_limit';
    await apply(apis[0], wf, `id: ${wf}\nconcurrency: {limit: 2}\ntasks:\n  - {id: nap, type: sleep, duration: 150ms}\n`);
    const ids = await Promise.all(Array.from({ length: 24 }, (_, i) => start(apis[i % 2], wf)));

    let max = 0;
    let samples = 0;
    const owners = new Set<string>();
    let done = false;
    const sampler = (async () => {
      while (!done) {
        const rows = await db.query<{ n: string }>(
          `select count(*) as n from executions where workflow_id = $1 and state in ('RUNNING', 'CANCELLING')`,
          [wf],
        );
        for (const r of await db.query<{ owner: string }>(`select distinct owner from executions where workflow_id = $1 and owner is not null`, [wf]))
          owners.add(r.owner);
        max = Math.max(max, Number(rows[0].n));
        samples++;
      }
    })();
    const finals = await Promise.all(ids.map((id, i) => waitTerminal(apis[i % 2], id, 30_000)));
    done = true;
    await sampler;

    expect(finals.map((e) => e.state)).toEqual(ids.map(() => 'SUCCESS'));
    expect(samples).toBeGreaterThan(20);
    expect(max).toBeGreaterThan(0);
    expect(max).toBeLessThanOrEqual(2);
    // both replicas claimed (otherwise the test proves nothing about cross-replica claims)
    expect(owners.size).toBe(2);
  });
});
