/**
 * Live logs (issue 11 §3): GET /api/v1/executions/:id/logs/stream, Server-Sent Events over the
 * real server and store. Backlog after a cursor, live lines, the end event, Last-Event-ID
 * resume, errors before the stream, disconnects, shutdown and heartbeats; `executions logs
 * --follow` of the CLI (same follower, on the database). Runs on the PG leg too.
 */
import type { ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOG_STREAM_SETTINGS } from '../../src/modules/logs/log-stream';
import { killAll, runCli, spawnServe, stopProcess } from '../support/cli';
import { createTestDatabase, PG_LEG } from '../support/postgres';
import { applyWorkflow, randomKey, sleep, startTestServer, tempDir, type TestServer } from '../support/server';
import { endEvent, hasEnd, logEvents, openSse, type SseStream } from '../support/sse';
import { createKey } from './access-helpers';
import { expectError, parseLogLines, uniqueId } from './helpers';
import { allLogs, apply, httpClient, inspect, LOG_FIELDS, sortedKeys, start, TERMINAL, waitFor, waitTerminal } from './engine-helpers';

let server: TestServer;
const streams: SseStream[] = [];

beforeAll(async () => {
  server = await startTestServer();
});

afterAll(async () => {
  for (const s of streams) s.abort();
  await server?.close();
});

function streamPath(id: string, query = ''): string {
  return `/api/v1/executions/${id}/logs/stream${query ? `?${query}` : ''}`;
}

async function open(target: TestServer, id: string, query = '', headers: Record<string, string> = {}, key: string | false = target.key): Promise<SseStream> {
  const s = await openSse(`${target.url}${streamPath(id, query)}`, { ...(key === false ? {} : { authorization: `Bearer ${key}` }), ...headers });
  streams.push(s);
  return s;
}

/** What a non-200 answer to the stream looks like to expectError. */
function asResponse(s: SseStream) {
  let body: unknown;
  try {
    body = JSON.parse(s.text);
  } catch {
    body = undefined;
  }
  return { status: s.status, headers: s.headers, text: s.text, body };
}

/** Lines over time: a, pause, b, pause, c (then the execution's own end line). */
function slowLogger(wf: string, pause = '400ms', extra = ''): string {
  return `id: ${wf}
tasks:
  - {id: a, type: log, message: "line a"}
  - {id: p1, type: sleep, duration: ${pause}}
  - {id: b, type: log, message: "line b"}
  - {id: warn, type: log, level: warn, message: "careful"}
  - {id: p2, type: sleep, duration: ${pause}}
  - {id: c, type: log, message: "line c"}
${extra}`;
}

function longRunner(wf: string, duration = '30s'): string {
  return `id: ${wf}
tasks:
  - {id: hello, type: log, message: "started"}
  - {id: wait, type: sleep, duration: ${duration}}
`;
}

function expectIncreasingIds(lines: any[]): void {
  for (let i = 1; i < lines.length; i++) expect(lines[i].id).toBeGreaterThan(lines[i - 1].id);
}

function stripEventId(lines: any[]): any[] {
  return lines.map(({ eventId: _e, ...rest }) => rest);
}

describe('GET /api/v1/executions/:id/logs/stream', () => {
  it('sends the backlog, then live lines as they are written, then an end event, and closes', async () => {
    const wf = uniqueId('stream-live');
    await applyWorkflow(server, wf, slowLogger(wf, '700ms'));
    const id = await start(server, wf);
    await waitFor(server, id, (e) => e.taskRuns.some((r: any) => r.taskId === 'a' && r.state === 'SUCCESS'));
    const s = await open(server, id);
    expect(s.status).toBe(200);
    expect(s.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(s.headers.get('cache-control')).toBe('no-store');
    expect(s.headers.get('x-request-id')).toBeTruthy();
    expect(s.headers.get('x-content-type-options')).toBe('nosniff');

    // "line a" was written before the stream opened (backlog); "line c" comes much later (live)
    await s.until((events) => logEvents(events).some((l) => l.message === 'line a'));
    const whileRunning = await inspect(server, id);
    expect(TERMINAL.has(whileRunning.state), 'the backlog arrived while the execution still ran').toBe(false);
    await s.until(hasEnd);
    await s.done;
    expect(s.ended()).toBe(true);

    const lines = logEvents(s.events);
    const stored = await allLogs(server, id);
    // every stored line exactly once, oldest first, with the list route's exact JSON
    expect(stripEventId(lines)).toEqual(stored);
    for (const line of lines) {
      expect(sortedKeys(stripEventId([line])[0])).toEqual(LOG_FIELDS);
      expect(line.eventId).toBe(String(line.id));
    }
    expectIncreasingIds(lines);
    expect(lines.map((l) => l.message)).toEqual(expect.arrayContaining(['line a', 'line b', 'careful', 'line c']));
    expect(lines.at(-1).message).toMatch(/execution SUCCESS/);
    // the end comes last, after every line, and says how it ended
    expect(s.events.at(-1)!.event).toBe('end');
    expect(endEvent(s.events)).toMatchObject({ state: 'SUCCESS', executionId: id, error: null });
    expect(new Date(endEvent(s.events).endedAt).toISOString()).toBe(endEvent(s.events).endedAt);
    // live: "line c" arrived well after "line a"
    const at = (m: string) => s.events.find((e) => e.event === 'log' && JSON.parse(e.data).message === m)!.at;
    expect(at('line c') - at('line a')).toBeGreaterThan(700);
    expect(s.retry).toBeGreaterThan(0);
  });

  it('a terminal execution: the whole log, then the end at once', async () => {
    const wf = uniqueId('stream-done');
    await applyWorkflow(server, wf, slowLogger(wf, '10ms'));
    const id = await start(server, wf);
    await waitTerminal(server, id);
    const s = await open(server, id);
    await s.done;
    expect(stripEventId(logEvents(s.events))).toEqual(await allLogs(server, id));
    expect(endEvent(s.events)).toMatchObject({ state: 'SUCCESS', executionId: id });
  });

  it('a failed execution ends with state FAILED and its error', async () => {
    const wf = uniqueId('stream-fail');
    await applyWorkflow(server, wf, `id: ${wf}\ntasks:\n  - {id: boom, type: fail, message: "it broke"}\n`);
    const id = await start(server, wf);
    const s = await open(server, id);
    await s.done;
    expect(endEvent(s.events)).toMatchObject({ state: 'FAILED', error: { message: expect.stringContaining('it broke'), taskId: 'boom' } });
    expect(logEvents(s.events).some((l) => l.level === 'ERROR' && l.taskId === 'boom')).toBe(true);
  });

  it('Last-Event-ID resumes after the last line seen: no duplicates, no gaps', async () => {
    const wf = uniqueId('stream-resume');
    await applyWorkflow(server, wf, slowLogger(wf, '400ms'));
    const id = await start(server, wf);
    const first = await open(server, id);
    await first.until((events) => logEvents(events).length >= 2);
    first.abort();
    await first.done;
    const seen = logEvents(first.events);
    const last = seen.at(-1).eventId;
    const second = await open(server, id, '', { 'last-event-id': last });
    await second.done;
    const rest = logEvents(second.events);
    expect(rest.every((l) => l.id > Number(last))).toBe(true);
    const all = [...seen, ...rest];
    expect(stripEventId(all)).toEqual(await allLogs(server, id));
    expect(endEvent(second.events)).toMatchObject({ state: 'SUCCESS' });
    // the header wins over ?after= (a reconnecting EventSource keeps its original URL)
    const third = await open(server, id, 'after=0', { 'last-event-id': last });
    await third.done;
    expect(logEvents(third.events).map((l) => l.id)).toEqual(rest.map((l) => l.id));
  });

  it('?after= starts after that log id; level and taskId filter like the list route', async () => {
    const wf = uniqueId('stream-after');
    await applyWorkflow(server, wf, slowLogger(wf, '10ms'));
    const id = await start(server, wf);
    await waitTerminal(server, id);
    const stored = await allLogs(server, id);
    const cut = stored[2].id;
    const s = await open(server, id, `after=${cut}`);
    await s.done;
    expect(stripEventId(logEvents(s.events))).toEqual(stored.filter((l) => l.id > cut));
    expect(hasEnd(s.events)).toBe(true);
    // an empty Last-Event-ID is no cursor (EventSource sends none before it saw an id)
    const blank = await open(server, id, `after=${cut}`, { 'last-event-id': '' });
    await blank.done;
    expect(logEvents(blank.events).map((l) => l.id)).toEqual(stored.filter((l) => l.id > cut).map((l) => l.id));

    const warn = await open(server, id, 'level=warn');
    await warn.done;
    expect(stripEventId(logEvents(warn.events))).toEqual(await allLogs(server, id, '&level=WARN'));
    expect(logEvents(warn.events).map((l) => l.message)).toEqual(['careful']);
    expect(hasEnd(warn.events)).toBe(true);

    const task = await open(server, id, 'taskId=b');
    await task.done;
    expect(logEvents(task.events).map((l) => l.message)).toEqual(['line b']);
  });

  it('secrets are masked in streamed lines exactly as in the list route', async () => {
    const wf = uniqueId('stream-secret');
    const secretServer = await startTestServer({ env: { AUTOKESTRA_SECRET_STREAM_TOKEN: 'sup3r-s3cret-value' } });
    try {
      await applyWorkflow(secretServer, wf, `id: ${wf}\ntasks:\n  - {id: leak, type: log, message: "token={{ secret('STREAM_TOKEN') }}"}\n`);
      const id = await start(secretServer, wf);
      const s = await open(secretServer, id);
      await s.done;
      const leak = logEvents(s.events).find((l) => l.taskId === 'leak');
      expect(leak?.message).toBe('token=***');
      expect(JSON.stringify(s.events)).not.toContain('sup3r-s3cret-value');
    } finally {
      await secretServer.close();
    }
  });
});

describe('errors before the stream starts are JSON in the error shape', () => {
  let id: string;

  beforeAll(async () => {
    const wf = uniqueId('stream-errors');
    await applyWorkflow(server, wf, slowLogger(wf, '10ms'));
    id = await start(server, wf);
  });

  it('401 without a key', async () => {
    const s = await open(server, id, '', {}, false);
    expectError(asResponse(s), 401, 'MISSING_API_KEY');
  });

  it('403 for a key without logs:read', async () => {
    const key = await createKey(server, { scopes: ['executions:read'] });
    const s = await open(server, id, '', {}, key.key);
    const error = expectError(asResponse(s), 403, 'FORBIDDEN');
    expect(error.details.requiredScopes).toEqual(['logs:read']);
  });

  it('404 for a missing execution and for one outside the key namespaces (the same answer)', async () => {
    const missing = await open(server, '01ARZ3NDEKTSV4RRFFQ69G5FAV');
    const missingError = expectError(asResponse(missing), 404, 'NOT_FOUND');
    const key = await createKey(server, { scopes: ['logs:read'], namespaces: ['elsewhere'] });
    const foreign = await open(server, id, '', {}, key.key);
    const foreignError = expectError(asResponse(foreign), 404, 'NOT_FOUND');
    expect(foreignError.message.replace(id, 'X')).toBe(missingError.message.replace('01ARZ3NDEKTSV4RRFFQ69G5FAV', 'X'));
    // the list route answers the same
    const listed = await server.request('GET', `/api/v1/executions/${id}/logs`, { auth: key.key });
    expect(listed.status).toBe(404);
    const allowed = await createKey(server, { scopes: ['logs:read'], namespaces: ['default'] });
    const ok = await open(server, id, '', {}, allowed.key);
    expect(ok.status).toBe(200);
    await ok.done;
  });

  it('400 VALIDATION_ERROR for a bad cursor or filter', async () => {
    for (const query of ['after=abc', 'after=-1', 'after=1.5', 'after=1e3', 'level=loud']) {
      const s = await open(server, id, query);
      const error = expectError(asResponse(s), 400, 'VALIDATION_ERROR');
      expect(error.message, query).toMatch(/after|level/);
    }
    for (const header of ['abc', '-1', '12x', '99999999999999999999']) {
      const s = await open(server, id, '', { 'last-event-id': header });
      const error = expectError(asResponse(s), 400, 'VALIDATION_ERROR');
      expect(error.details).toEqual([{ field: 'Last-Event-ID', message: expect.any(String) }]);
    }
  });
});

describe('OpenAPI', () => {
  it('documents the route: an event stream on 200, the error shape on 400/401/403/404/429', async () => {
    const doc = (await server.request('GET', '/api/v1/openapi.json')).body;
    const op = doc.paths['/api/v1/executions/{id}/logs/stream'].get;
    expect(Object.keys(op.responses['200'].content)).toEqual(['text/event-stream']);
    for (const status of ['400', '401', '403', '404', '429', '503']) expect(op.responses[status].content['application/json'].schema.required).toEqual(['error']);
    expect(op.operationId).toBe('streamExecutionLogs');
    expect(op.parameters.map((p: any) => p.name)).toEqual(expect.arrayContaining(['id', 'after', 'level', 'taskId', 'Last-Event-ID']));
  });
});

describe('lifecycle', () => {
  it('a client that disconnects mid-stream frees the server: no listener left, no error logged, a prompt shutdown', async () => {
    const own = await startTestServer();
    let closed = false;
    try {
      const wf = uniqueId('stream-gone');
      await applyWorkflow(own, wf, longRunner(wf));
      const id = await start(own, wf);
      // one after the other: fetch's pool, asked for three at once, opens spare sockets that
      // never send a request, and those (not the streams) would hold the server's close
      const clients = [await open(own, id), await open(own, id), await open(own, id)];
      await Promise.all(clients.map((c) => c.until((events) => logEvents(events).some((l) => l.message === 'started'))));
      const writer = (own.server.engine as any).logWriter.written as import('node:events').EventEmitter;
      const finished = (own.server.engine.executions as any).finished as import('node:events').EventEmitter;
      expect(writer.listenerCount(id)).toBe(3);
      for (const c of clients) c.abort();
      await waitUntil(() => writer.listenerCount(id) === 0 && finished.listenerCount(id) === 0);
      // the access log saw the stream (the global hooks ran on the hijacked reply)
      const text = await own.logs();
      const lines = parseLogLines(text);
      expect(lines.filter((l) => l.level >= 50), text).toEqual([]);
      expect(lines.some((l) => l.req?.url?.includes('/logs/stream'))).toBe(true);
      const cancelled = await own.request('POST', `/api/v1/executions/${id}/cancel`);
      expect(cancelled.status).toBe(202);
      await waitTerminal(own, id);
      const started = Date.now();
      await own.close();
      closed = true;
      expect(Date.now() - started).toBeLessThan(1500);
    } finally {
      if (!closed) await own.close();
    }
  });

  it('a server shutdown ends open streams at once (it is not held up until the grace period)', async () => {
    const own = await startTestServer({ configure: (c) => ((c.engine.shutdownGraceMs = 500), (c.server.drainDelayMs = 700)) });
    const wf = uniqueId('stream-drain');
    await applyWorkflow(own, wf, longRunner(wf));
    const id = await start(own, wf);
    const s = await open(own, id);
    await s.until((events) => logEvents(events).length > 0);
    const started = Date.now();
    const closing = own.close();
    await s.done;
    expect(s.ended(), 'the server ended the stream').toBe(true);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(hasEnd(s.events), 'no end event: the execution did not end, the client reconnects elsewhere').toBe(false);
    // still listening during the drain delay, but it takes no new stream
    const refused = await open(own, id);
    expectError(asResponse(refused), 503, 'NOT_READY');
    await closing;
    expect(Date.now() - started).toBeLessThan(700 + 500 + 3000);
  });

  it('a quiet stream outlives the server request and connection timeouts (they are for requests)', async () => {
    const own = await startTestServer({ configure: (c) => ((c.server.requestTimeoutMs = 800), (c.server.headersTimeoutMs = 800)) });
    try {
      const wf = uniqueId('stream-timeout');
      await applyWorkflow(own, wf, longRunner(wf, '2500ms'));
      const id = await start(own, wf);
      const s = await open(own, id);
      await s.done;
      expect(s.ended()).toBe(true);
      expect(endEvent(s.events)).toMatchObject({ state: 'SUCCESS' });
      expect(s.events.at(-1)!.at).toBeGreaterThan(2000);
    } finally {
      await own.close();
    }
  });

  it('open streams per process are capped: one more is 429 RATE_LIMITED with Retry-After, until one closes', async () => {
    const saved = LOG_STREAM_SETTINGS.maxOpen;
    LOG_STREAM_SETTINGS.maxOpen = 1;
    try {
      const wf = uniqueId('stream-cap');
      await applyWorkflow(server, wf, longRunner(wf, '20s'));
      const id = await start(server, wf);
      const first = await open(server, id);
      expect(first.status).toBe(200);
      const second = await open(server, id);
      expectError(asResponse(second), 429, 'RATE_LIMITED');
      expect(Number(second.headers.get('retry-after'))).toBeGreaterThan(0);
      first.abort();
      await first.done;
      let third: SseStream | undefined;
      for (let i = 0; i < 50 && third?.status !== 200; i++) {
        await sleep(20);
        third = await open(server, id);
      }
      expect(third!.status).toBe(200);
      await server.request('POST', `/api/v1/executions/${id}/cancel`);
      await third!.done;
      expect(endEvent(third!.events)).toMatchObject({ state: 'CANCELLED' });
    } finally {
      LOG_STREAM_SETTINGS.maxOpen = saved;
    }
  });

  it('heartbeats arrive on a quiet stream', async () => {
    const saved = LOG_STREAM_SETTINGS.heartbeatMs;
    LOG_STREAM_SETTINGS.heartbeatMs = 150;
    try {
      const wf = uniqueId('stream-quiet');
      await applyWorkflow(server, wf, longRunner(wf, '3s'));
      const id = await start(server, wf);
      const s = await open(server, id);
      const opened = Date.now();
      await waitUntil(() => s.comments.filter((c) => c === 'heartbeat').length >= 3, 5000);
      expect(Date.now() - opened).toBeLessThan(2500);
      s.abort();
      await server.request('POST', `/api/v1/executions/${id}/cancel`);
    } finally {
      LOG_STREAM_SETTINGS.heartbeatMs = saved;
    }
  });
});

describe('autokestra executions logs --follow (the same follower, on the database)', () => {
  it('prints the backlog and the live lines, oldest first, and exits when the execution ends', async () => {
    const wf = uniqueId('cli-follow');
    await applyWorkflow(server, wf, slowLogger(wf, '500ms'));
    const id = await start(server, wf);
    const env = { AUTOKESTRA_API_KEYS: server.key, AUTOKESTRA_DATABASE_URL: server.databaseUrl };
    const followed = await runCli(['executions', 'logs', id, '--follow'], env);
    expect(followed.code, followed.stderr).toBe(0);
    expect((await inspect(server, id)).state).toBe('SUCCESS');
    const stored = await allLogs(server, id);
    const printed = followed.stdout.trim().split('\n');
    expect(printed).toHaveLength(stored.length);
    const message = (l: string) => l.replace(/^\S+ \S+ +\S+ /, '');
    expect(printed.map(message)).toEqual(stored.map((l) => l.message));
    const cut = stored[1].id;
    const after = await runCli(['executions', 'logs', id, '--after', String(cut)], env);
    expect(after.stdout.trim().split('\n').map(message)).toEqual(stored.filter((l) => l.id > cut).map((l) => l.message));
  });
});

interface PgClient {
  connect(): Promise<void>;
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<{ rows: T[] }>;
  end(): Promise<void>;
}
function pgClient(url: string): PgClient {
  const { Client } = createRequire(__filename)('pg') as { Client: new (config: { connectionString: string }) => PgClient };
  return new Client({ connectionString: url });
}

describe.runIf(PG_LEG)('PostgreSQL: lines committed out of id order', () => {
  const insertLine = (db: PgClient, executionId: string, message: string) =>
    db.query<{ id: string }>('insert into logs (execution_id, task_id, task_run_id, attempt, level, ts, message) values ($1, null, null, null, 20, $2, $3) returning id', [executionId, Date.now(), message]);

  it('a line whose transaction commits after a newer one is still sent, before it, exactly once', async () => {
    const wf = uniqueId('stream-pg-order');
    await applyWorkflow(server, wf, longRunner(wf, '20s'));
    const id = await start(server, wf);
    const s = await open(server, id);
    await s.until((events) => logEvents(events).some((l) => l.message === 'started'));
    const slow = pgClient(server.databaseUrl);
    const fast = pgClient(server.databaseUrl);
    await slow.connect();
    await fast.connect();
    try {
      await slow.query('begin');
      const early = Number((await insertLine(slow, id, 'early id, late commit')).rows[0].id);
      const late = Number((await insertLine(fast, id, 'late id, early commit')).rows[0].id);
      expect(late).toBeGreaterThan(early);
      // the newer line is committed, but an older id is still open: nothing passes it
      await sleep(800);
      expect(logEvents(s.events).map((l) => l.message)).not.toContain('late id, early commit');
      await slow.query('commit');
      await s.until((events) => logEvents(events).some((l) => l.message === 'late id, early commit'));
      const messages = logEvents(s.events).map((l) => l.message);
      expect(messages.filter((m) => m.includes('commit'))).toEqual(['early id, late commit', 'late id, early commit']);
      expectIncreasingIds(logEvents(s.events));
    } finally {
      await slow.end();
      await fast.end();
    }
    await server.request('POST', `/api/v1/executions/${id}/cancel`);
    await s.done;
    expect(stripEventId(logEvents(s.events))).toEqual(await allLogs(server, id));
    expect(endEvent(s.events)).toMatchObject({ state: 'CANCELLED' });
  });

  it('a rolled-back write leaves a gap that the stream passes after a few seconds', async () => {
    const wf = uniqueId('stream-pg-rollback');
    await applyWorkflow(server, wf, longRunner(wf, '20s'));
    const id = await start(server, wf);
    const s = await open(server, id);
    await s.until((events) => logEvents(events).some((l) => l.message === 'started'));
    const db = pgClient(server.databaseUrl);
    await db.connect();
    try {
      await db.query('begin');
      await insertLine(db, id, 'never committed');
      await db.query('rollback');
      await insertLine(db, id, 'after the gap');
    } finally {
      await db.end();
    }
    await s.until((events) => logEvents(events).some((l) => l.message === 'after the gap'), 10_000);
    expect(logEvents(s.events).map((l) => l.message)).not.toContain('never committed');
    await server.request('POST', `/api/v1/executions/${id}/cancel`);
    await s.done;
    expect(stripEventId(logEvents(s.events))).toEqual(await allLogs(server, id));
  });
});

describe.runIf(PG_LEG)('two replicas on one PostgreSQL database (dist/: npm run build first)', () => {
  const children = new Set<ChildProcess>();
  let dropDb: (() => Promise<void>) | undefined;

  afterAll(async () => {
    await killAll(children);
    await dropDb?.();
  });

  it('a stream from replica A gets every line of an execution that replica B runs, live, then the end', async () => {
    const db = await createTestDatabase('ak_stream_replicas');
    dropDb = db.drop;
    const dir = tempDir('autokestra-stream-replicas-');
    const config = (workers: number) => {
      const file = join(dir, `replica-${workers}.yaml`);
      writeFileSync(file, `server: {host: 127.0.0.1, port: 0, drainDelayMs: 0}\nlogging: {level: warn}\nengine: {workers: ${workers}, pollIntervalMs: 25, leaseMs: 3000, heartbeatMs: 500, shutdownGraceMs: 1000}\n`);
      return file;
    };
    const key = randomKey();
    const env = (file: string) => ({ AUTOKESTRA_CONFIG: file, AUTOKESTRA_API_KEYS: key, AUTOKESTRA_DATABASE_URL: db.url, AUTOKESTRA_PORT: '0' });
    // A runs nothing (no workers): whatever it streams was written by B
    const a = await spawnServe(env(config(0)));
    children.add(a.child);
    const b = await spawnServe(env(config(2)));
    children.add(b.child);
    const apiA = httpClient(a.url, key);
    const wf = uniqueId('stream-replicas');
    await apply(apiA, wf, slowLogger(wf, '600ms'));
    const id = await start(apiA, wf);
    const s = await openSse(`${a.url}${streamPath(id)}`, { authorization: `Bearer ${key}` });
    streams.push(s);
    expect(s.status).toBe(200);
    await s.until((events) => logEvents(events).some((l) => l.message === 'line a'));
    expect(TERMINAL.has((await inspect(apiA, id)).state), 'line a arrived live, while B still ran the execution').toBe(false);
    await s.done;
    expect(s.ended()).toBe(true);
    expect(stripEventId(logEvents(s.events))).toEqual(await allLogs(apiA, id));
    expect(logEvents(s.events).map((l) => l.message)).toEqual(expect.arrayContaining(['line a', 'line b', 'careful', 'line c']));
    expect(endEvent(s.events)).toMatchObject({ state: 'SUCCESS', executionId: id });
    const workers = await db.query<{ worker: string }>('select distinct worker from task_runs where execution_id = $1', [id]);
    expect(workers.map((w) => Number(w.worker.split('/')[1]))).toEqual([b.child.pid]);
    await Promise.all([stopProcess(a.child), stopProcess(b.child)]);
  }, 90_000);
});

async function waitUntil(predicate: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(20);
  }
}
