import { createServer, connect, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, PG_ADMIN_URL, type TestDatabase } from '../support/postgres';
import { eventually, sleep, startTestServer, type TestServer } from '../support/server';
import { apply, start, waitTerminal } from './engine-helpers';

/**
 * A TCP proxy between the server and PostgreSQL that the test can cut (every open connection
 * reset, new ones refused) and restore: the database "goes away" the way a failover or a network
 * partition looks to the client.
 */
class CuttableProxy {
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();
  private cut = false;
  private stalled = false;
  port = 0;

  constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {}

  async listen(port = 0): Promise<void> {
    this.server = createServer((client) => {
      if (this.cut) {
        client.destroy();
        return;
      }
      const upstream = connect(this.targetPort, this.targetHost);
      for (const [a, b] of [
        [client, upstream],
        [upstream, client],
      ] as const) {
        this.sockets.add(a);
        if (this.stalled) a.pause();
        a.on('error', () => b.destroy());
        a.on('close', () => {
          this.sockets.delete(a);
          b.destroy();
        });
        a.pipe(b);
      }
    });
    await new Promise<void>((resolve) => this.server!.listen(port, '127.0.0.1', resolve));
    this.port = (this.server.address() as { port: number }).port;
  }

  /** Resets every connection and refuses new ones until restore(). */
  sever(): void {
    this.cut = true;
    for (const socket of this.sockets) socket.resetAndDestroy();
  }

  /** A partition without resets: bytes stop flowing, connections stay open (queries hang). */
  stall(): void {
    this.stalled = true;
    for (const socket of this.sockets) socket.pause();
  }

  restore(): void {
    this.cut = false;
    this.stalled = false;
    for (const socket of this.sockets) socket.resume();
  }

  close(): Promise<void> {
    this.sever();
    return new Promise((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

describe('losing PostgreSQL for a while (TCP proxy cut and restored)', () => {
  let db: TestDatabase;
  let proxy: CuttableProxy;
  let server: TestServer;

  beforeAll(async () => {
    db = await createTestDatabase('ak_outage');
    const target = new URL(PG_ADMIN_URL);
    proxy = new CuttableProxy(target.hostname, Number(target.port || 5432));
    await proxy.listen();
    const url = new URL(db.url);
    url.host = `127.0.0.1:${proxy.port}`;
    server = await startTestServer({ env: { AUTOKESTRA_DATABASE_URL: url.toString() } });
  });
  afterAll(async () => {
    await server?.close();
    await proxy?.close();
    await db?.drop();
  });

  it('readiness turns 503 while it is unreachable, the process stays up, and every execution ends once when it returns', async () => {
    const wf = 'outage_flow';
    await apply(server, wf, `id: ${wf}\ntasks:\n  - {id: one, type: sleep, duration: 300ms}\n  - {id: two, type: log, message: done}\n  - {id: three, type: sleep, duration: 300ms}\n`);
    const ids = await Promise.all(Array.from({ length: 12 }, () => start(server, wf)));
    expect((await server.request('GET', '/health/ready')).status).toBe(200);

    await sleep(400); // some are mid-task now
    proxy.sever();
    const ready = await eventually(async () => {
      const res = await server.request('GET', '/health/ready');
      return res.status === 503 ? res : undefined;
    }, 15_000, 200);
    expect(ready.body.error.code).toBe('NOT_READY');
    // Liveness checks nothing external: the pod must not be restarted for a database outage.
    expect((await server.request('GET', '/health/live')).status).toBe(200);
    // API calls that need the database fail in the error shape, not by hanging or crashing.
    const during = await server.request('GET', `/api/v1/executions/${ids[0]}`);
    expect(during.status).toBeGreaterThanOrEqual(500);
    expect(during.body.error.code).toMatch(/^(INTERNAL_ERROR|NOT_READY)$/);
    await sleep(4000); // longer than the lease (3 s): leases expire while the database is gone

    proxy.restore();
    await eventually(async () => (await server.request('GET', '/health/ready')).status === 200, 30_000, 200);
    const finals = await Promise.all(ids.map((id) => waitTerminal(server, id, 60_000)));
    expect(finals.map((e) => e.state)).toEqual(ids.map(() => 'SUCCESS'));

    // Nothing ran twice: each task has exactly one successful run per execution.
    const runs = await db.query<{ execution_id: string; task_id: string; n: string }>(
      `select execution_id, task_id, count(*) as n from task_runs where state = 'SUCCESS' group by execution_id, task_id`,
    );
    expect(runs.length).toBe(ids.length * 3);
    expect(runs.filter((r) => Number(r.n) !== 1)).toEqual([]);

    // And new work is accepted and runs after the outage.
    const after = await start(server, wf);
    expect((await waitTerminal(server, after, 30_000)).state).toBe('SUCCESS');
  }, 120_000);

  it('a partition that hangs queries (no reset) still turns readiness 503 within seconds, and work resumes', async () => {
    const wf = 'stall_flow';
    await apply(server, wf, `id: ${wf}\ntasks:\n  - {id: one, type: sleep, duration: 200ms}\n  - {id: two, type: sleep, duration: 200ms}\n`);
    const ids = await Promise.all(Array.from({ length: 6 }, () => start(server, wf)));
    await sleep(300);
    proxy.stall();
    const startedAt = Date.now();
    await eventually(async () => (await server.request('GET', '/health/ready')).status === 503, 15_000, 200);
    // a probe that hangs is a probe that times out: the answer must come on its own, quickly
    expect(Date.now() - startedAt).toBeLessThan(10_000);
    expect((await server.request('GET', '/health/live')).status).toBe(200);
    await sleep(2000);
    proxy.restore();
    await eventually(async () => (await server.request('GET', '/health/ready')).status === 200, 30_000, 200);
    const finals = await Promise.all(ids.map((id) => waitTerminal(server, id, 60_000)));
    expect(finals.map((e) => e.state)).toEqual(ids.map(() => 'SUCCESS'));
    const runs = await db.query<{ n: string }>(
      `select count(*) as n from task_runs r join executions e on e.id = r.execution_id where e.workflow_id = $1 and r.state = 'SUCCESS' group by r.execution_id, r.task_id`,
      [wf],
    );
    expect(runs.length).toBe(ids.length * 2);
    expect(runs.filter((r) => Number(r.n) !== 1)).toEqual([]);
  }, 120_000);
});
