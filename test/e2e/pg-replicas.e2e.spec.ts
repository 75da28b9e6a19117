/**
 * Scale-out on PostgreSQL (issue 9 §2): several real `node dist/cli.js serve` processes on one
 * PostgreSQL database. Needs the PostgreSQL on 127.0.0.1:5432 (trust auth); fails loudly when it
 * is unreachable. Creates its own database and drops it. Run `npm run build` first.
 *
 * What a replica did is read from the database: every task run records the engine instance
 * (`host/pid/nonce`) that wrote it (task_runs.worker), so a pid names a replica.
 */
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killAll, spawnServe, type ServeProcess } from '../support/cli';
import { randomKey, tempDir } from '../support/server';
import { apply, httpClient, type Api } from './engine-helpers';

const ADMIN_URL = process.env.AUTOKESTRA_TEST_PG_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
const dbName = `autokestra_replicas_${randomBytes(4).toString('hex')}`;
const dbUrl = (() => {
  const url = new URL(ADMIN_URL);
  url.pathname = `/${dbName}`;
  return url.toString();
})();

// A short lease so recovery of a dead replica takes seconds; enough workers per replica that
// three of them keep the database busy.
const dir = tempDir('autokestra-replicas-');
const CONFIG = join(dir, 'replicas.yaml');
writeFileSync(
  CONFIG,
  `server: {host: 127.0.0.1, port: 0, drainDelayMs: 0}
logging: {level: warn}
engine: {workers: 32, pollIntervalMs: 25, leaseMs: 2000, heartbeatMs: 300, shutdownGraceMs: 1500}
auth: {failedAttemptsLimit: 100000}
`,
);
const key = randomKey();
const children = new Set<ChildProcess>();

interface Replica {
  proc: ServeProcess;
  api: Api;
  pid: number;
}

let db: pg.Client;
let replicas: Replica[] = [];

async function spawnReplica(env: Record<string, string> = {}): Promise<Replica> {
  const proc = await spawnServe({ AUTOKESTRA_CONFIG: CONFIG, AUTOKESTRA_API_KEYS: key, AUTOKESTRA_DATABASE_URL: dbUrl, AUTOKESTRA_PORT: '0', ...env });
  children.add(proc.child);
  return { proc, api: httpClient(proc.url, key), pid: proc.child.pid! };
}

function exitOf(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

/** the replica pid inside an owner id `host/pid/nonce` */
const pidOf = (worker: string) => Number(worker.split('/')[1]);

/** Triggers `count` executions round-robin over `targets`, `parallel` requests at a time. */
async function triggerRoundRobin(targets: Replica[], workflowId: string, count: number, parallel = 48): Promise<string[]> {
  const ids: string[] = new Array(count);
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      const res = await targets[i % targets.length].api.request('POST', `/api/v1/workflows/${workflowId}/executions`, { body: {} });
      if (res.status !== 202) throw new Error(`trigger ${i} on replica ${i % targets.length}: ${res.status} ${res.text}`);
      ids[i] = res.body.id;
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  return ids;
}

async function stateCounts(workflowId: string): Promise<Record<string, number>> {
  const { rows } = await db.query('select state, count(*)::int as n from executions where workflow_id = $1 group by state', [workflowId]);
  return Object.fromEntries(rows.map((r) => [r.state, r.n]));
}

/** Waits until `total` executions of the workflow are terminal; returns the state counts. */
async function waitAllTerminal(workflowId: string, total: number, timeoutMs: number): Promise<Record<string, number>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const counts = await stateCounts(workflowId);
    const terminal = (counts.SUCCESS ?? 0) + (counts.FAILED ?? 0) + (counts.CANCELLED ?? 0);
    if (terminal >= total) return counts;
    if (Date.now() > deadline) throw new Error(`only ${terminal}/${total} terminal after ${timeoutMs} ms: ${JSON.stringify(counts)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** (execution, task) pairs whose number of SUCCESS runs is not exactly one. */
async function tasksNotSucceededOnce(workflowId: string, taskIds: string[]): Promise<unknown[]> {
  const { rows } = await db.query(
    `select e.id, t.task_id, count(r.id) filter (where r.state = 'SUCCESS')::int as ok
       from executions e cross join unnest($2::text[]) as t(task_id)
       left join task_runs r on r.execution_id = e.id and r.task_key = t.task_id
      where e.workflow_id = $1
      group by e.id, t.task_id
     having count(r.id) filter (where r.state = 'SUCCESS') <> 1`,
    [workflowId, taskIds],
  );
  return rows;
}

beforeAll(async () => {
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  try {
    await admin.connect();
  } catch (error) {
    throw new Error(`PostgreSQL is required for this suite and is unreachable at ${ADMIN_URL}: ${(error as Error).message}`);
  }
  await admin.query(`create database ${dbName}`);
  await admin.end();
  db = new pg.Client({ connectionString: dbUrl });
  await db.connect();
  // three replicas started at the same moment on the empty database: all of them come up
  // (the migration runs once, under an advisory lock)
  replicas = await Promise.all([spawnReplica(), spawnReplica(), spawnReplica()]);
}, 60_000);

afterAll(async () => {
  await killAll(children);
  await db?.end();
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  await admin.query(`drop database if exists ${dbName} with (force)`);
  await admin.end();
}, 30_000);

describe('three replicas on one PostgreSQL database', () => {
  it('3,000 executions of a 3-task workflow triggered round-robin: all SUCCESS, every task ran exactly once, claims spread over every replica', async () => {
    const wf = 'replicas-load';
    await apply(
      replicas[0].api,
      wf,
      `id: ${wf}
tasks:
  - {id: hello, type: log, message: "hello {{ execution.id }}"}
  - {id: first, type: output, values: {v: 1}}
  - {id: second, type: output, values: {v: "{{ outputs.first.v + 1 }}"}}
`,
    );
    const N = 3000;
    const ids = await triggerRoundRobin(replicas, wf, N);
    expect(new Set(ids).size).toBe(N);
    const counts = await waitAllTerminal(wf, N, 90_000);
    expect(counts).toEqual({ SUCCESS: N });

    const runs = await db.query(`select count(*)::int as n, count(distinct (execution_id, task_key))::int as keys from task_runs r join executions e on e.id = r.execution_id where e.workflow_id = $1`, [wf]);
    // exactly one run per task: no second attempt of anything anywhere
    expect(runs.rows[0]).toEqual({ n: 3 * N, keys: 3 * N });
    expect(await tasksNotSucceededOnce(wf, ['hello', 'first', 'second'])).toEqual([]);

    // every execution ran on one replica (its three tasks share a worker), and every replica ran a fair share
    const perExecution = await db.query(
      `select count(distinct r.worker)::int as workers from task_runs r join executions e on e.id = r.execution_id where e.workflow_id = $1 group by r.execution_id having count(distinct r.worker) <> 1`,
      [wf],
    );
    expect(perExecution.rows).toEqual([]);
    const perWorker = await db.query(
      `select r.worker, count(distinct r.execution_id)::int as n from task_runs r join executions e on e.id = r.execution_id where e.workflow_id = $1 group by r.worker`,
      [wf],
    );
    const byPid = new Map(perWorker.rows.map((r) => [pidOf(r.worker), r.n as number]));
    for (const replica of replicas) expect(byPid.get(replica.pid) ?? 0, JSON.stringify(perWorker.rows)).toBeGreaterThan(N * 0.1);
    expect([...byPid.keys()].sort()).toEqual(replicas.map((r) => r.pid).sort());

    // the API of any replica shows the same result as the database
    const sample = await replicas[2].api.request('GET', `/api/v1/executions/${ids[0]}`);
    expect(sample.body).toMatchObject({ state: 'SUCCESS', outputs: { first: { v: 1 }, second: { v: 2 } } });
  }, 150_000);

  it('a 1-second schedule on three replicas fires exactly once per tick', async () => {
    const wf = 'replicas-schedule';
    await apply(
      replicas[1].api,
      wf,
      `id: ${wf}
tasks:
  - {id: tick, type: output, values: {at: "{{ execution.trigger.scheduledAt }}"}}
triggers:
  - {id: every-second, type: schedule, cron: "* * * * * *"}
`,
    );
    await new Promise((r) => setTimeout(r, 5500));
    const disabled = await replicas[2].api.request('DELETE', `/api/v1/workflows/${wf}`);
    expect([200, 204], disabled.text).toContain(disabled.status);
    await new Promise((r) => setTimeout(r, 1500));
    const { rows } = await db.query(`select trigger from executions where workflow_id = $1`, [wf]);
    const ticks = rows.map((r) => Date.parse(JSON.parse(r.trigger).scheduledAt)).sort((a, b) => a - b);
    expect(ticks.length).toBeGreaterThanOrEqual(4);
    expect(new Set(ticks).size, 'a tick fired twice').toBe(ticks.length);
    // one per second, none skipped in between
    for (let i = 1; i < ticks.length; i++) expect(ticks[i] - ticks[i - 1]).toBe(1000);
    const fires = await db.query(`select count(*)::int as n from schedule_fires where workflow_id = $1`, [wf]);
    expect(fires.rows[0].n).toBe(ticks.length);
  }, 30_000);

  // The victim is a fourth replica that looks like another machine: another host name (so the
  // survivors cannot see its pid is gone and only lease expiry recovers its work) and a clock 20 s
  // fast (leases on its own clock would keep its dead executions for 22 s instead of 2).
  it('kill -9 of a replica on "another host" with a fast clock: its executions are recovered by lease expiry within seconds and finish on the others, completed tasks are not re-run, nothing is lost', async () => {
    const wf = 'replicas-kill';
    await apply(
      replicas[0].api,
      wf,
      `id: ${wf}
tasks:
  - {id: first, type: output, values: {v: 7}}
  - {id: slow, type: sleep, duration: 400ms}
  - {id: last, type: output, values: {v: "{{ outputs.first.v }}"}}
`,
    );
    const N = 600;
    const victim = await spawnReplica({ AUTOKESTRA_TEST_HOSTNAME: 'replica-elsewhere', AUTOKESTRA_TEST_CLOCK_OFFSET_MS: '20000' });
    await triggerRoundRobin([...replicas, victim], wf, N);
    // wait until the victim is in the middle of its share: tasks done, a sleep running
    const deadline = Date.now() + 20_000;
    let inFlight: string[] = [];
    for (;;) {
      const { rows } = await db.query(
        `select e.id from executions e where e.workflow_id = $1 and e.state = 'RUNNING' and e.owner like $2
            and exists (select 1 from task_runs r where r.execution_id = e.id and r.task_key = 'slow' and r.state = 'RUNNING')`,
        [wf, `%/${victim.pid}/%`],
      );
      if (rows.length >= 5) {
        victim.proc.child.kill('SIGKILL');
        break;
      }
      if (Date.now() > deadline) throw new Error('the victim never ran anything');
      await new Promise((r) => setTimeout(r, 20));
    }
    const killedAt = Date.now();
    expect((await exitOf(victim.proc.child)).signal).toBe('SIGKILL');
    // What the kill interrupted is read after it: on a loaded machine a sleep sampled above as
    // RUNNING may have ended before the signal landed. Nobody writes these rows until the lease
    // (2 s) expires, so this is the state the victim died in.
    {
      const { rows } = await db.query(
        `select r.execution_id as id from task_runs r join executions e on e.id = r.execution_id
          where e.workflow_id = $1 and r.task_key = 'slow' and r.state = 'RUNNING' and r.worker like $2`,
        [wf, `%/${victim.pid}/%`],
      );
      inFlight = rows.map((r) => r.id);
    }
    expect(inFlight.length, 'the kill interrupted no sleep').toBeGreaterThan(0);
    const survivors = replicas;
    // lease (2 s) + sweep interval (1 s) + load; a lease on the victim's clock would need 22 s
    for (;;) {
      const { rows } = await db.query(`select count(*)::int as n from executions where owner like $1`, [`%/${victim.pid}/%`]);
      if (rows[0].n === 0) break;
      if (Date.now() - killedAt > 15_000) throw new Error(`${rows[0].n} executions still owned by the dead replica after 15 s`);
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(Date.now() - killedAt).toBeLessThan(12_000);

    const counts = await waitAllTerminal(wf, N, 60_000);
    expect(counts).toEqual({ SUCCESS: N });
    expect(await tasksNotSucceededOnce(wf, ['first', 'slow', 'last'])).toEqual([]);

    // what the victim was running: finished by a survivor, its completed `first` not run again,
    // the interrupted sleep closed as INTERRUPTED and run again elsewhere
    const { rows } = await db.query(`select execution_id, task_key, attempt, state, error, worker from task_runs where execution_id = any($1) order by id`, [inFlight]);
    for (const id of inFlight) {
      const mine = rows.filter((r) => r.execution_id === id);
      const first = mine.filter((r) => r.task_key === 'first');
      expect(first).toHaveLength(1);
      expect(pidOf(first[0].worker)).toBe(victim.pid);
      const slow = mine.filter((r) => r.task_key === 'slow');
      expect(slow.map((r) => [r.attempt, r.state])).toEqual([
        [1, 'FAILED'],
        [2, 'SUCCESS'],
      ]);
      expect(JSON.parse(slow[0].error)).toMatchObject({ kind: 'INTERRUPTED' });
      expect(survivors.map((s) => s.pid)).toContain(pidOf(slow[1].worker));
      const last = mine.filter((r) => r.task_key === 'last');
      expect(last).toHaveLength(1);
      expect(survivors.map((s) => s.pid)).toContain(pidOf(last[0].worker));
    }
    const history = await replicas[0].api.request('GET', `/api/v1/executions/${inFlight[0]}`);
    expect(history.body.history.map((h: any) => h.state)).toEqual(['QUEUED', 'RUNNING', 'QUEUED', 'RUNNING', 'SUCCESS']);
    // the victim's owner id named another host: only the lease-expiry sweep could take its work
    const victimRuns = rows.filter((r) => pidOf(r.worker) === victim.pid);
    expect(victimRuns.length).toBeGreaterThan(0);
    for (const run of victimRuns) expect(run.worker.startsWith('replica-elsewhere/')).toBe(true);
  }, 90_000);

  it('SIGTERM of one replica under load: it drains and exits 0, its leftovers run on the others, nothing is lost', async () => {
    const wf = 'replicas-term';
    await apply(
      replicas[0].api,
      wf,
      `id: ${wf}
tasks:
  - {id: first, type: output, values: {v: 1}}
  - {id: slow, type: sleep, duration: 4s}
  - {id: last, type: output, values: {v: 2}}
`,
    );
    const N = 240;
    await triggerRoundRobin(replicas, wf, N);
    const leaving = replicas[1];
    const deadline = Date.now() + 20_000;
    let held: string[] = [];
    for (;;) {
      const { rows } = await db.query(`select id from executions where workflow_id = $1 and state = 'RUNNING' and owner like $2`, [wf, `%/${leaving.pid}/%`]);
      if (rows.length >= 10) {
        held = rows.map((r) => r.id);
        break;
      }
      if (Date.now() > deadline) throw new Error('the leaving replica never ran anything');
      await new Promise((r) => setTimeout(r, 20));
    }
    leaving.proc.child.kill('SIGTERM');
    // the 4 s sleep outlasts the 1.5 s shutdown grace: what it still runs then goes back to the queue
    expect(await exitOf(leaving.proc.child)).toEqual({ code: 0, signal: null });
    const others = [replicas[0], replicas[2]];

    const counts = await waitAllTerminal(wf, N, 60_000);
    expect(counts).toEqual({ SUCCESS: N });
    expect(await tasksNotSucceededOnce(wf, ['first', 'slow', 'last'])).toEqual([]);

    const { rows } = await db.query(`select execution_id, task_key, state, worker from task_runs where execution_id = any($1) and task_key = 'last'`, [held]);
    expect(rows).toHaveLength(held.length);
    const released = rows.filter((r) => others.map((o) => o.pid).includes(pidOf(r.worker)));
    expect(released.length, 'the leaving replica handed nothing over').toBeGreaterThan(0);
    for (const r of released) {
      const firsts = await db.query(`select worker from task_runs where execution_id = $1 and task_key = 'first'`, [r.execution_id]);
      expect(firsts.rows).toHaveLength(1);
      expect(pidOf(firsts.rows[0].worker)).toBe(leaving.pid);
    }
    replicas[1] = await spawnReplica();
  }, 90_000);
});
