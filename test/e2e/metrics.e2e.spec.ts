/**
 * Prometheus metrics (issue 9, §4): a listener of their own (never the API port), off by
 * default, a clear startup error when the port is taken, and counters that move by exactly what
 * the API calls and executions did.
 */
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runCli, spawnServe, spawnTestServe, stopProcess, type ServeProcess } from '../support/cli';
import { eventually, randomKey, startTestServer, tempDir, TEST_CONFIG, type TestServer } from '../support/server';
import { apply, allLogs, httpClient, inspect, runToEnd, runsOf, start, waitFor, waitTerminal } from './engine-helpers';
import { expectError } from './helpers';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The Prometheus text format, as far as prom-client writes it (no timestamps, simple label values). */
function parseMetrics(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) throw new Error(`not a Prometheus sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const pair of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[pair[1]] = pair[2];
    samples.push({ name: match[1], labels, value: Number(match[3]) });
  }
  return samples;
}

class Scrape {
  constructor(
    readonly samples: Sample[],
    readonly text: string,
  ) {}

  /** the sum over every sample of `name` whose labels include `labels` (0 when none) */
  sum(name: string, labels: Record<string, string> = {}): number {
    return this.samples
      .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
      .reduce((total, s) => total + s.value, 0);
  }

  has(name: string): boolean {
    return this.samples.some((s) => s.name === name);
  }
}

async function scrape(metricsUrl: string): Promise<Scrape> {
  const res = await fetch(`${metricsUrl}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  const text = await res.text();
  return new Scrape(parseMetrics(text), text);
}

/** TCP ports a process listens on (Linux: its socket inodes matched against /proc/net/tcp*). */
function listeningPorts(pid: number): number[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const link = readlinkSync(`/proc/${pid}/fd/${fd}`);
      const match = /^socket:\[(\d+)\]$/.exec(link);
      if (match) inodes.add(match[1]);
    } catch {
      // the descriptor closed meanwhile
    }
  }
  const ports = new Set<number>();
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    if (!existsSync(file)) continue;
    for (const line of readFileSync(file, 'utf8').split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 10) continue;
      if (cols[3] === '0A' && inodes.has(cols[9])) ports.add(parseInt(cols[1].split(':').at(-1)!, 16));
    }
  }
  return [...ports].sort((a, b) => a - b);
}

interface WritableDb {
  exec(sql: string): void;
  close(): void;
}

/** A second connection to the server's SQLite file (another process would do the same). */
function openDb(path: string): WritableDb {
  const Database = createRequire(__filename)('better-sqlite3') as new (file: string, options: { fileMustExist: boolean; timeout: number }) => WritableDb;
  return new Database(path, { fileMustExist: true, timeout: 5000 });
}

function portOf(url: string): number {
  return Number(new URL(url).port);
}

describe('metrics on their own listener', () => {
  let server: TestServer;
  let metricsUrl: string;
  let ipCounter = 0;
  const freshIp = () => `10.77.0.${++ipCounter}`;

  beforeAll(async () => {
    server = await startTestServer({
      configure: (c) => {
        c.metrics.enabled = true;
        c.metrics.host = '127.0.0.1';
        c.metrics.port = 0;
        c.server.trustProxy = true;
        c.auth.failedAttemptsLimit = 2;
      },
    });
    metricsUrl = server.server.metricsUrl!;
  });
  afterAll(async () => {
    await server?.close();
  });

  it('listens on a port of its own; GET /metrics only, never on the API port', async () => {
    expect(metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(portOf(metricsUrl)).not.toBe(portOf(server.url));
    // the API port has no /metrics, with or without a key
    expectError(await server.request('GET', '/metrics'), 404, 'NOT_FOUND');
    expectError(await server.request('GET', '/metrics', { auth: false }), 404, 'NOT_FOUND');
    // the metrics port has nothing but /metrics
    for (const path of ['/', '/health/ready', '/api/v1/status', '/metrics/x']) {
      const res = await fetch(`${metricsUrl}${path}`);
      expect(res.status, path).toBe(404);
    }
    const post = await fetch(`${metricsUrl}/metrics`, { method: 'POST' });
    expect(post.status).toBe(405);
    const head = await fetch(`${metricsUrl}/metrics`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    const page = await scrape(metricsUrl);
    // default Node process metrics, on this server's own registry
    expect(page.has('process_cpu_user_seconds_total')).toBe(true);
    expect(page.has('nodejs_eventloop_lag_seconds')).toBe(true);
    expect(page.has('nodejs_heap_size_used_bytes')).toBe(true);
    expect(page.sum('autokestra_build_info')).toBe(1);
    // every metric of the issue is exposed (counters with known labels start at 0)
    for (const name of [
      'autokestra_lease_recoveries_total',
      'autokestra_rate_limited_requests_total',
      'autokestra_store_errors_total',
      'autokestra_log_lines_total',
      'autokestra_queue_depth',
      'autokestra_executions_running',
      'autokestra_worker_slots',
    ]) {
      expect(page.has(name), name).toBe(true);
    }
    expect(page.sum('autokestra_worker_slots')).toBe(server.config.engine.workers);
    expect(page.sum('autokestra_store_errors_total')).toBe(0);
  });

  it('HTTP requests by route pattern and status; auth failures and rate-limited requests by reason', async () => {
    const before = await scrape(metricsUrl);
    const route = (path: string, status: number) => ({ route: path, status: String(status), method: 'GET' });
    // 3 successful status calls
    for (let i = 0; i < 3; i++) expect((await server.request('GET', '/api/v1/status')).status).toBe(200);
    // raw ids go into one route pattern, not one series per id
    for (const id of ['01ARZ3NDEKTSV4RRFFQ69G5FAV', '01ARZ3NDEKTSV4RRFFQ69G5FAW']) {
      expectError(await server.request('GET', `/api/v1/executions/${id}`), 404, 'NOT_FOUND');
    }
    // no key: 401 (reason missing); a key of the wrong shape: 401 (reason malformed)
    expectError(await server.request('GET', '/api/v1/status', { auth: false, headers: { 'x-forwarded-for': freshIp() } }), 401, 'MISSING_API_KEY');
    expectError(await server.request('GET', '/api/v1/status', { auth: 'not-a-key-at-all', headers: { 'x-forwarded-for': freshIp() } }), 401, 'INVALID_API_KEY');
    // failedAttemptsLimit 2: the third failure from one address is refused with 429
    const ip = freshIp();
    for (let i = 0; i < 2; i++) expectError(await server.request('GET', '/api/v1/status', { auth: false, headers: { 'x-forwarded-for': ip } }), 401, 'MISSING_API_KEY');
    expectError(await server.request('GET', '/api/v1/status', { auth: false, headers: { 'x-forwarded-for': ip } }), 429, 'RATE_LIMITED');

    const after = await eventually(async () => {
      const page = await scrape(metricsUrl);
      return page.sum('autokestra_http_request_duration_seconds_count', route('/api/v1/status', 429)) - before.sum('autokestra_http_request_duration_seconds_count', route('/api/v1/status', 429)) >= 1 && page;
    });
    const delta = (name: string, labels: Record<string, string> = {}) => after.sum(name, labels) - before.sum(name, labels);
    expect(delta('autokestra_http_request_duration_seconds_count', route('/api/v1/status', 200))).toBe(3);
    expect(delta('autokestra_http_request_duration_seconds_count', route('/api/v1/status', 401))).toBe(4);
    expect(delta('autokestra_http_request_duration_seconds_count', route('/api/v1/status', 429))).toBe(1);
    expect(delta('autokestra_http_request_duration_seconds_count', route('/api/v1/executions/:id', 404))).toBe(2);
    // the duration sum moved too (seconds, > 0)
    expect(delta('autokestra_http_request_duration_seconds_sum', route('/api/v1/status', 200))).toBeGreaterThan(0);
    // no raw URL ever becomes a label value
    expect(after.text).not.toContain('01ARZ3NDEKTSV4RRFFQ69G5FAV');
    // the /metrics probes on the API port: unmatched routes, one series
    expect(after.sum('autokestra_http_request_duration_seconds_count', { route: 'unmatched', status: '404' })).toBeGreaterThanOrEqual(2);
    // 4 failures answered 401 + the one refused with 429 (it failed authentication first)
    expect(delta('autokestra_auth_failures_total', { reason: 'missing' })).toBe(4);
    expect(delta('autokestra_auth_failures_total', { reason: 'malformed' })).toBe(1);
    expect(delta('autokestra_auth_failures_total')).toBe(5);
    expect(delta('autokestra_rate_limited_requests_total', { limiter: 'failed_auth' })).toBe(1);
    expect(delta('autokestra_rate_limited_requests_total', { limiter: 'api_key' })).toBe(0);
  });

  it('executions started/finished by workflow and state, task durations, retries and log lines move by what ran', async () => {
    const ok = `metrics-ok-${Date.now()}`;
    const flaky = `metrics-flaky-${Date.now()}`;
    await apply(server, ok, `id: ${ok}\ntasks:\n  - {id: hello, type: log, message: hi}\n  - {id: nap, type: sleep, duration: 20ms}\n`);
    await apply(server, flaky, `id: ${flaky}\ntasks:\n  - id: broken\n    type: fail\n    message: always broken\n    retry: {maxAttempts: 3, delay: 20ms}\n`);
    const before = await scrape(metricsUrl);

    const done = [await runToEnd(server, ok), await runToEnd(server, ok), await runToEnd(server, flaky, undefined, 'FAILED')];
    expect(runsOf(done[2], 'broken').map((r) => r.attempt)).toEqual([1, 2, 3]);
    let storedLines = 0;
    for (const execution of done) storedLines += (await allLogs(server, execution.id)).length;

    const after = await eventually(async () => {
      const page = await scrape(metricsUrl);
      return page.sum('autokestra_executions_finished_total') - before.sum('autokestra_executions_finished_total') >= 3 && page;
    });
    const delta = (name: string, labels: Record<string, string> = {}) => after.sum(name, labels) - before.sum(name, labels);
    expect(delta('autokestra_executions_started_total', { workflow: ok })).toBe(2);
    expect(delta('autokestra_executions_started_total', { workflow: flaky })).toBe(1);
    expect(delta('autokestra_executions_finished_total', { workflow: ok, state: 'SUCCESS' })).toBe(2);
    expect(delta('autokestra_executions_finished_total', { workflow: flaky, state: 'FAILED' })).toBe(1);
    expect(delta('autokestra_executions_finished_total')).toBe(3);
    expect(delta('autokestra_execution_duration_seconds_count', { state: 'SUCCESS' })).toBe(2);
    expect(delta('autokestra_execution_duration_seconds_count', { state: 'FAILED' })).toBe(1);
    // the two sleeps took >= 20 ms each
    expect(delta('autokestra_execution_duration_seconds_sum', { state: 'SUCCESS' })).toBeGreaterThanOrEqual(0.04);
    expect(delta('autokestra_task_duration_seconds_count', { type: 'log', state: 'SUCCESS' })).toBe(2);
    expect(delta('autokestra_task_duration_seconds_count', { type: 'sleep', state: 'SUCCESS' })).toBe(2);
    expect(delta('autokestra_task_duration_seconds_count', { type: 'fail', state: 'FAILED' })).toBe(3);
    expect(delta('autokestra_task_duration_seconds_sum', { type: 'sleep', state: 'SUCCESS' })).toBeGreaterThanOrEqual(0.04);
    // 3 attempts: 2 retries
    expect(delta('autokestra_task_retries_total', { workflow: flaky, type: 'fail' })).toBe(2);
    expect(delta('autokestra_task_retries_total', { workflow: ok })).toBe(0);
    // every stored log line was counted once
    expect(storedLines).toBeGreaterThan(0);
    expect(delta('autokestra_log_lines_total')).toBe(storedLines);
    expect(delta('autokestra_log_lines_total', { level: 'ERROR' })).toBeGreaterThanOrEqual(3);
    expect(after.sum('autokestra_store_errors_total')).toBe(0);
  });

  it('running executions on this replica, while they run', async () => {
    const slow = `metrics-slow-${Date.now()}`;
    await apply(server, slow, `id: ${slow}\ntasks:\n  - {id: nap, type: sleep, duration: 1500ms}\n`);
    const id = await start(server, slow);
    await waitFor(server, id, (e) => e.state === 'RUNNING');
    expect((await scrape(metricsUrl)).sum('autokestra_executions_running')).toBe(1);
    await waitFor(server, id, (e) => e.state === 'SUCCESS', 10_000);
    await eventually(async () => (await scrape(metricsUrl)).sum('autokestra_executions_running') === 0);
  });

  it('store errors are counted by operation while the store fails, and work resumes when it is back', async () => {
    const wf = `metrics-after-outage-${Date.now()}`;
    await apply(server, wf, `id: ${wf}\ntasks:\n  - {id: hello, type: log, message: hi}\n`);
    const before = await scrape(metricsUrl);
    expect(before.sum('autokestra_store_errors_total')).toBe(0);
    // the executions table vanishes for a moment: every claim and queue read fails
    const db = openDb(server.dbPath);
    try {
      db.exec('alter table executions rename to executions_away');
      const during = await eventually(async () => {
        const page = await scrape(metricsUrl);
        return page.sum('autokestra_store_errors_total', { operation: 'claim' }) >= 2 && page;
      }, 5000);
      expect(during.sum('autokestra_store_errors_total', { operation: 'queue_depth' })).toBeGreaterThanOrEqual(1);
    } finally {
      db.exec('alter table executions_away rename to executions');
      db.close();
    }
    // the process kept running; work goes on
    expect((await server.request('GET', '/health/ready', { auth: false })).status).toBe(200);
    await runToEnd(server, wf, undefined, 'SUCCESS', 15_000);
  });
});

describe('queue depth', () => {
  let server: TestServer;
  beforeAll(async () => {
    // no workers: what is triggered stays QUEUED
    server = await startTestServer({
      configure: (c) => {
        c.metrics.enabled = true;
        c.metrics.host = '127.0.0.1';
        c.metrics.port = 0;
        c.engine.workers = 0;
      },
    });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('is the number of QUEUED executions in the store, read at scrape time', async () => {
    const wf = `metrics-queued-${Date.now()}`;
    await apply(server, wf, `id: ${wf}\ntasks:\n  - {id: hello, type: log, message: hi}\n`);
    const metricsUrl = server.server.metricsUrl!;
    expect((await scrape(metricsUrl)).sum('autokestra_queue_depth')).toBe(0);
    const ids = [await start(server, wf), await start(server, wf), await start(server, wf)];
    expect((await scrape(metricsUrl)).sum('autokestra_queue_depth')).toBe(3);
    // a QUEUED execution cancelled: it left the queue, and finished CANCELLED without ever starting
    expect((await server.request('POST', `/api/v1/executions/${ids[0]}/cancel`)).status).toBe(202);
    expect((await inspect(server, ids[0])).state).toBe('CANCELLED');
    const page = await scrape(metricsUrl);
    expect(page.sum('autokestra_queue_depth')).toBe(2);
    expect(page.sum('autokestra_executions_finished_total', { workflow: wf, state: 'CANCELLED' })).toBe(1);
    expect(page.sum('autokestra_executions_started_total', { workflow: wf })).toBe(0);
    expect(page.sum('autokestra_executions_running')).toBe(0);
    expect(page.sum('autokestra_worker_slots')).toBe(0);
  });
});

describe('lease recoveries', () => {
  let victim: ServeProcess | undefined;
  let server: TestServer | undefined;
  afterAll(async () => {
    if (victim?.child.exitCode === null) victim.child.kill('SIGKILL');
    await server?.close();
  });

  it('a process killed mid-execution: the next one takes its execution back (dead_process) and counts it finished, not started', async () => {
    const dir = tempDir('autokestra-metrics-kill9-');
    const key = randomKey();
    victim = await spawnServe({ AUTOKESTRA_CONFIG: TEST_CONFIG, AUTOKESTRA_API_KEYS: key, AUTOKESTRA_DATABASE_URL: join(dir, 'autokestra.db'), AUTOKESTRA_PORT: '0' });
    const api = httpClient(victim.url, key);
    const wf = `metrics-kill9-${Date.now()}`;
    await apply(api, wf, `id: ${wf}\ntasks:\n  - {id: nap, type: sleep, duration: 1500ms}\n  - {id: after, type: log, message: resumed}\n`);
    const id = await start(api, wf);
    await waitFor(api, id, (e) => e.state === 'RUNNING');
    const exited = new Promise((resolve) => victim!.child.once('exit', resolve));
    victim.child.kill('SIGKILL');
    await exited;

    server = await startTestServer({
      dir,
      configure: (c) => {
        c.metrics.enabled = true;
        c.metrics.host = '127.0.0.1';
        c.metrics.port = 0;
      },
    });
    const done = await waitTerminal(server, id);
    expect(done.state).toBe('SUCCESS');
    const page = await eventually(async () => {
      const scraped = await scrape(server!.server.metricsUrl!);
      return scraped.sum('autokestra_executions_finished_total', { workflow: wf }) === 1 && scraped;
    });
    expect(page.sum('autokestra_lease_recoveries_total', { reason: 'dead_process' })).toBe(1);
    expect(page.sum('autokestra_lease_recoveries_total', { reason: 'lease_expired' })).toBe(0);
    // it was started by the process that died: here it is finished, not started again
    expect(page.sum('autokestra_executions_finished_total', { workflow: wf, state: 'SUCCESS' })).toBe(1);
    expect(page.sum('autokestra_executions_started_total', { workflow: wf })).toBe(0);
  });
});

describe('several servers in one process', () => {
  it('each has its own registry: counters do not add up across them', async () => {
    const configure = (c: TestServer['config']) => {
      c.metrics.enabled = true;
      c.metrics.host = '127.0.0.1';
      c.metrics.port = 0;
    };
    const [a, b] = await Promise.all([startTestServer({ configure }), startTestServer({ configure })]);
    try {
      for (let i = 0; i < 2; i++) expect((await a.request('GET', '/api/v1/status')).status).toBe(200);
      const labels = { route: '/api/v1/status', status: '200' };
      await eventually(async () => (await scrape(a.server.metricsUrl!)).sum('autokestra_http_request_duration_seconds_count', labels) === 2);
      expect((await scrape(b.server.metricsUrl!)).sum('autokestra_http_request_duration_seconds_count', labels)).toBe(0);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });
});

describe('serve (a real process)', () => {
  let proc: ServeProcess | undefined;
  let blocker: Server | undefined;
  afterEach(async () => {
    await stopProcess(proc?.child);
    proc = undefined;
    await new Promise<void>((resolve) => (blocker ? blocker.close(() => resolve()) : resolve()));
    blocker = undefined;
  });

  it('is off by default: the process listens on the API port and nothing else', async () => {
    proc = await spawnTestServe();
    expect(proc.output()).not.toContain('metrics');
    expect(listeningPorts(proc.child.pid!)).toEqual([portOf(proc.url)]);
  });

  it('AUTOKESTRA_METRICS_ENABLED=true opens the metrics port too', async () => {
    proc = await spawnTestServe({ AUTOKESTRA_METRICS_ENABLED: 'true', AUTOKESTRA_METRICS_PORT: '0', AUTOKESTRA_METRICS_HOST: '127.0.0.1' });
    const match = /metrics: (http:\/\/[^\s/]+)\/metrics/.exec(proc.output());
    expect(match, proc.output()).not.toBeNull();
    const ports = listeningPorts(proc.child.pid!);
    expect(ports).toHaveLength(2);
    expect(ports).toContain(portOf(proc.url));
    expect(ports).toContain(portOf(match![1]));
    expect((await scrape(match![1])).has('autokestra_build_info')).toBe(true);
    expect((await fetch(`${proc.url}/metrics`)).status).toBe(404);
  });

  it('a metrics port in use stops the start with a message naming the setting, before the database is touched', async () => {
    blocker = createServer();
    await new Promise<void>((resolve) => blocker!.listen(0, '127.0.0.1', () => resolve()));
    const taken = (blocker.address() as { port: number }).port;
    const dbPath = join(tempDir('autokestra-metrics-'), 'db.sqlite');
    const result = await runCli(['serve'], {
      AUTOKESTRA_CONFIG: TEST_CONFIG,
      AUTOKESTRA_API_KEYS: randomKey(),
      AUTOKESTRA_DATABASE_URL: dbPath,
      AUTOKESTRA_PORT: '0',
      AUTOKESTRA_HOST: '127.0.0.1',
      AUTOKESTRA_METRICS_ENABLED: 'true',
      AUTOKESTRA_METRICS_HOST: '127.0.0.1',
      AUTOKESTRA_METRICS_PORT: String(taken),
    });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain(`metrics.port ${taken} is already in use (EADDRINUSE); set metrics.port / AUTOKESTRA_METRICS_PORT or disable metrics.enabled`);
    expect(result.stderr).not.toMatch(/\n\s+at /); // one message, no stack
    expect(existsSync(dbPath)).toBe(false);
  });

  it('bad metrics settings are configuration errors (exit 2, one line each)', async () => {
    const result = await runCli(['serve'], {
      AUTOKESTRA_CONFIG: TEST_CONFIG,
      AUTOKESTRA_API_KEYS: randomKey(),
      AUTOKESTRA_DATABASE_URL: join(tempDir('autokestra-metrics-'), 'db.sqlite'),
      AUTOKESTRA_METRICS_ENABLED: 'maybe',
      AUTOKESTRA_METRICS_PORT: '94x64',
    });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("AUTOKESTRA_METRICS_ENABLED must be true or false, got 'maybe'");
    expect(result.stderr).toContain("AUTOKESTRA_METRICS_PORT must be an integer, got '94x64'");
  });
});
