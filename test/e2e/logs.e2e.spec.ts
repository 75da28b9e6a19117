/**
 * Execution logs API (issue 3 "Logs", DESIGN §4): shape, newest first, limits, level minimum,
 * taskId filter, stable `before` paging and `after` tail polling while lines keep arriving.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyWorkflow, sleep, startTestServer, type TestServer } from '../support/server';
import { expectError, uniqueId } from './helpers';
import { allLogs, inspect, LOG_FIELDS, runToEnd, runsOf, sortedKeys, start, TERMINAL, waitFor, waitTerminal } from './engine-helpers';

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
});

afterAll(async () => {
  await server?.close();
});

function logsPath(id: string, query = ''): string {
  return `/api/v1/executions/${id}/logs${query ? `?${query}` : ''}`;
}

/** A workflow writing `count` numbered lines, one task run each, optionally pausing between them. */
function manyLines(wf: string, count: number, pause?: string): string {
  const items = JSON.stringify(Array.from({ length: count }, (_, i) => i));
  return `id: ${wf}
tasks:
  - id: loop
    type: foreach
    items: ${items}
    tasks:
      - {id: line, type: log, message: "line {{ item }}"}
${pause ? `      - {id: pause, type: sleep, duration: ${pause}}\n` : ''}`;
}

function expectNewestFirst(items: any[]): void {
  for (let i = 1; i < items.length; i++) expect(items[i].id).toBeLessThan(items[i - 1].id);
}

describe('GET /api/v1/executions/:id/logs', () => {
  let id: string;

  beforeAll(async () => {
    const wf = uniqueId('logs-basic');
    await applyWorkflow(server, wf, manyLines(wf, 150));
    id = (await runToEnd(server, wf)).id;
  });

  it('answers {items, limit, offset, hasMore}, newest first, 100 lines by default', async () => {
    const res = await server.request('GET', logsPath(id));
    expect(res.status, res.text).toBe(200);
    expect(sortedKeys(res.body)).toEqual(['hasMore', 'items', 'limit', 'offset']);
    expect(res.body).toMatchObject({ limit: 100, offset: 0, hasMore: true });
    expect(res.body.items).toHaveLength(100);
    expectNewestFirst(res.body.items);
    for (const line of res.body.items) {
      expect(sortedKeys(line)).toEqual(LOG_FIELDS);
      expect(typeof line.id).toBe('number');
      expect(new Date(line.ts).toISOString()).toBe(line.ts);
      expect(['DEBUG', 'INFO', 'WARN', 'ERROR']).toContain(line.level);
    }
    // the newest line is the execution's own end line (no task)
    expect(res.body.items[0]).toMatchObject({ taskId: null, taskRunId: null, attempt: null });
    expect(res.body.items[0].message).toMatch(/SUCCESS/);
    const taskLine = res.body.items.find((l: any) => l.taskId === 'line');
    expect(taskLine).toMatchObject({ level: 'INFO', attempt: 1 });
    expect(taskLine.taskRunId).toMatch(/^[0-9A-Z]{26}$/);
  });

  it('every task line carries the id of its task run', async () => {
    const detail = await inspect(server, id);
    const runIds = new Set(runsOf(detail, 'line').map((r) => r.id));
    const lines = (await allLogs(server, id)).filter((l) => l.taskId === 'line');
    expect(lines).toHaveLength(150);
    expect(lines.map((l) => l.message)).toEqual(Array.from({ length: 150 }, (_, i) => `line ${i}`));
    for (const line of lines) expect(runIds.has(line.taskRunId)).toBe(true);
    expect(new Set(lines.map((l) => l.taskRunId)).size).toBe(150);
  });

  it('offset and limit page through the rest; limit 1000 is accepted', async () => {
    const first = await server.request('GET', logsPath(id, 'limit=1000'));
    expect(first.status).toBe(200);
    expect(first.body.hasMore).toBe(false);
    const all = first.body.items;
    const page = await server.request('GET', logsPath(id, 'limit=10&offset=100'));
    expect(page.status).toBe(200);
    expect(page.body).toMatchObject({ limit: 10, offset: 100, hasMore: true });
    expect(page.body.items.map((l: any) => l.id)).toEqual(all.slice(100, 110).map((l: any) => l.id));
  });

  it('rejects limit 1001, limit 0, before+after together, a non-numeric cursor and an unknown level with 400 VALIDATION_ERROR', async () => {
    expectError(await server.request('GET', logsPath(id, 'limit=1001')), 400, 'VALIDATION_ERROR');
    expectError(await server.request('GET', logsPath(id, 'limit=0')), 400, 'VALIDATION_ERROR');
    expectError(await server.request('GET', logsPath(id, 'before=10&after=5')), 400, 'VALIDATION_ERROR');
    expectError(await server.request('GET', logsPath(id, 'before=abc')), 400, 'VALIDATION_ERROR');
    expectError(await server.request('GET', logsPath(id, 'level=TRACE')), 400, 'VALIDATION_ERROR');
  });

  it('404 NOT_FOUND for the logs of an unknown execution', async () => {
    expectError(await server.request('GET', logsPath('01ARZ3NDEKTSV4RRFFQ69G5FAV')), 404, 'NOT_FOUND');
  });

  it('`after` returns the OLDEST `limit` lines newer than the cursor, sorted newest first, with hasMore', async () => {
    const all = await allLogs(server, id);
    const cursor = all[10].id;
    const res = await server.request('GET', logsPath(id, `after=${cursor}&limit=5`));
    expect(res.status, res.text).toBe(200);
    expect(res.body.hasMore).toBe(true);
    expect(res.body.items.map((l: any) => l.id)).toEqual(all.slice(11, 16).map((l) => l.id).reverse());
    const tail = await server.request('GET', logsPath(id, `after=${all.at(-2).id}`));
    expect(tail.body.items.map((l: any) => l.id)).toEqual([all.at(-1).id]);
    expect(tail.body.hasMore).toBe(false);
    const none = await server.request('GET', logsPath(id, `after=${all.at(-1).id}`));
    expect(none.body).toMatchObject({ items: [], hasMore: false });
  });

  it('`before` returns only older lines, newest first', async () => {
    const all = await allLogs(server, id);
    const cursor = all[50].id;
    const res = await server.request('GET', logsPath(id, `before=${cursor}&limit=5`));
    expect(res.status).toBe(200);
    expect(res.body.items.map((l: any) => l.id)).toEqual(all.slice(45, 50).map((l) => l.id).reverse());
    expect(res.body.hasMore).toBe(true);
  });
});

describe('filters', () => {
  let id: string;

  beforeAll(async () => {
    const wf = uniqueId('logs-levels');
    await applyWorkflow(
      server,
      wf,
      `id: ${wf}
tasks:
  - {id: d, type: log, level: debug, message: a debug line}
  - {id: i, type: log, level: info, message: an info line}
  - {id: w, type: log, level: warn, message: a warn line}
  - {id: e, type: log, level: error, message: an error line}
`,
    );
    id = (await runToEnd(server, wf)).id;
  });

  it('`level` is a minimum: WARN returns WARN and ERROR lines only', async () => {
    const res = await server.request('GET', logsPath(id, 'level=WARN'));
    expect(res.status, res.text).toBe(200);
    expect(res.body.items.map((l: any) => [l.level, l.message])).toEqual([
      ['ERROR', 'an error line'],
      ['WARN', 'a warn line'],
    ]);
    const lower = await server.request('GET', logsPath(id, 'level=warn'));
    expect(lower.body.items).toEqual(res.body.items);
    const errors = await server.request('GET', logsPath(id, 'level=ERROR'));
    expect(errors.body.items.map((l: any) => l.message)).toEqual(['an error line']);
  });

  it('DEBUG (and no level) returns every line, debug included', async () => {
    const debug = await server.request('GET', logsPath(id, 'level=DEBUG'));
    const all = await server.request('GET', logsPath(id));
    expect(debug.body.items).toEqual(all.body.items);
    const taskMessages = all.body.items.filter((l: any) => l.taskId !== null).map((l: any) => [l.level, l.message]);
    expect(taskMessages).toEqual([
      ['ERROR', 'an error line'],
      ['WARN', 'a warn line'],
      ['INFO', 'an info line'],
      ['DEBUG', 'a debug line'],
    ]);
  });

  it('`taskId` returns the lines of that task only; an unknown task gives an empty page', async () => {
    const res = await server.request('GET', logsPath(id, 'taskId=w'));
    expect(res.status).toBe(200);
    expect(res.body.items).toHaveLength(1);
    expect(res.body.items[0]).toMatchObject({ taskId: 'w', level: 'WARN', message: 'a warn line' });
    const none = await server.request('GET', logsPath(id, 'taskId=nope'));
    expect(none.body).toMatchObject({ items: [], hasMore: false });
    const combined = await server.request('GET', logsPath(id, 'taskId=i&level=WARN'));
    expect(combined.body.items).toEqual([]);
  });
});

describe('durability', () => {
  it("a task's lines are stored by the time its task run is SUCCESS (flushed at task end)", async () => {
    const wf = uniqueId('logs-flush');
    await applyWorkflow(server, wf, `id: ${wf}\ntasks:\n  - {id: early, type: log, message: written early}\n  - {id: nap, type: sleep, duration: 1500ms}\n`);
    const id = await start(server, wf, {});
    const running = await waitFor(server, id, (e) => runsOf(e, 'early')[0]?.state === 'SUCCESS');
    expect(running.state).toBe('RUNNING');
    const res = await server.request('GET', logsPath(id, 'taskId=early'));
    expect(res.body.items.map((l: any) => l.message)).toEqual(['written early']);
    expect((await waitTerminal(server, id)).state).toBe('SUCCESS');
  });
});

describe('paging while lines are being written', () => {
  it('`before` pages stably: no duplicates and no gaps among the lines that existed when paging started', async () => {
    const wf = uniqueId('logs-before');
    await applyWorkflow(server, wf, manyLines(wf, 400, '5ms'));
    const id = await start(server, wf, {});
    // wait until a good number of lines exist, then page backwards while more arrive
    const deadline = Date.now() + 15_000;
    for (;;) {
      const res = await server.request('GET', logsPath(id, 'limit=1000'));
      if (res.body.items.length >= 100) break;
      if (Date.now() > deadline) throw new Error('lines did not arrive');
      await sleep(20);
    }
    const first = await server.request('GET', logsPath(id, 'limit=20'));
    expect(first.status).toBe(200);
    const startMax = first.body.items[0].id;
    const collected: any[] = [...first.body.items];
    let hasMore = first.body.hasMore;
    let pages = 1;
    while (hasMore) {
      await sleep(10); // let more lines arrive between pages
      const res = await server.request('GET', logsPath(id, `limit=20&before=${collected.at(-1).id}`));
      expect(res.status, res.text).toBe(200);
      expect(res.body.offset).toBe(0);
      for (const line of res.body.items) expect(line.id).toBeLessThan(collected.at(-1).id);
      collected.push(...res.body.items);
      hasMore = res.body.hasMore;
      pages++;
    }
    const done = await waitTerminal(server, id, 30_000);
    expect(done.state).toBe('SUCCESS');

    const ids = collected.map((l) => l.id);
    expect(new Set(ids).size).toBe(ids.length);
    expectNewestFirst(collected);
    const all = await allLogs(server, id);
    const existing = all.filter((l) => l.id <= startMax).map((l) => l.id).reverse();
    expect(ids).toEqual(existing);
    expect(pages).toBeGreaterThan(3);
    // lines kept arriving while we paged
    expect(all.length).toBeGreaterThan(collected.length);
  });

  it('`after` tail polling collects every line exactly once while the execution runs', async () => {
    const wf = uniqueId('logs-after');
    await applyWorkflow(server, wf, manyLines(wf, 300, '3ms'));
    const id = await start(server, wf, {});
    const collected: any[] = [];
    let cursor = 0;
    let polls = 0;
    let terminal = false;
    const deadline = Date.now() + 30_000;
    for (;;) {
      expect(Date.now()).toBeLessThan(deadline);
      const res = await server.request('GET', logsPath(id, `after=${cursor}&limit=25`));
      expect(res.status, res.text).toBe(200);
      polls++;
      const items = res.body.items;
      expectNewestFirst(items);
      for (const line of items) expect(line.id).toBeGreaterThan(cursor);
      if (res.body.hasMore) expect(items).toHaveLength(25);
      collected.push(...items);
      if (items.length > 0) cursor = items[0].id;
      if (items.length === 0 && !res.body.hasMore) {
        if (terminal) break;
        // lines are flushed before the execution ends: once it is terminal, one more empty poll ends the tail
        terminal = TERMINAL.has((await inspect(server, id)).state);
        if (!terminal) await sleep(15);
      }
    }
    const ids = collected.map((l) => l.id);
    expect(new Set(ids).size).toBe(ids.length);
    const all = await allLogs(server, id);
    expect([...ids].sort((a, b) => a - b)).toEqual(all.map((l) => l.id));
    expect(all.filter((l) => l.taskId === 'line')).toHaveLength(300);
    expect(polls).toBeGreaterThan(5);
  });
});
