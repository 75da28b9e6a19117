import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/common/config/load-config';
import { startServer } from '../../src/server';
import { SHUTDOWN_MARGIN_MS } from '../../src/server';
import { CLI } from '../support/cli';
import { randomKey, TEST_CONFIG, tempDir } from '../support/server';
import { httpClient } from './engine-helpers';
import { expectError, workflowYaml, YAML } from './helpers';

/** config/test.yaml: drainDelayMs 0, shutdownGraceMs 2000. */
const GRACE_MS = 2000;
const DEADLINE_MS = GRACE_MS + SHUTDOWN_MARGIN_MS;

interface Served {
  child: ChildProcess;
  url: string;
  key: string;
}

const children: ChildProcess[] = [];
afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

/** `autokestra serve` with its stdout/stderr on pipes this test controls, logging every request. */
function serve(): Promise<Served> {
  const key = randomKey();
  const child = spawn(process.execPath, [CLI, 'serve'], {
    env: {
      ...process.env,
      AUTOKESTRA_CONFIG: TEST_CONFIG,
      AUTOKESTRA_API_KEYS: key,
      AUTOKESTRA_DATABASE_URL: join(tempDir(), 'shutdown.db'),
      AUTOKESTRA_HOST: '127.0.0.1',
      AUTOKESTRA_LOG_LEVEL: 'debug',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const match = /listening on (http:\/\/\S+)/.exec(out);
      if (match) resolve({ child, url: match[1], key });
    });
    child.on('exit', (code) => reject(new Error(`serve exited with ${code}: ${out}`)));
  });
}

/** Milliseconds from SIGTERM to exit, or Infinity if the process is still up after `limitMs`. */
function terminate(child: ChildProcess, limitMs = DEADLINE_MS + 5000): Promise<{ ms: number; code: number | null }> {
  const started = performance.now();
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve({ ms: Number.POSITIVE_INFINITY, code: null }), limitMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ ms: performance.now() - started, code });
    });
    child.kill('SIGTERM');
  });
}

/** Requests that each write log lines (access line, warn for 4xx). */
async function makeLogs(served: Served, count: number): Promise<void> {
  const api = httpClient(served.url, served.key);
  for (let i = 0; i < count; i++) {
    const res = await api.request('GET', i % 2 ? '/api/v1/status' : `/api/v1/workflows/missing-${i}`);
    expect([200, 404]).toContain(res.status);
  }
}

describe('one SIGTERM always ends the process', () => {
  it('exits promptly (code 0) when the reader of its stdout and stderr has gone', async () => {
    const served = await serve();
    served.child.stdout!.destroy();
    served.child.stderr!.destroy();
    await makeLogs(served, 200);
    // Still serving with nobody reading its logs.
    expect((await httpClient(served.url, served.key).request('GET', '/api/v1/status')).status).toBe(200);
    const { ms, code } = await terminate(served.child);
    expect(ms).toBeLessThan(DEADLINE_MS);
    expect(code).toBe(0);
  });

  it('exits within the grace plus margin when the reader stopped reading (a full pipe)', async () => {
    const served = await serve();
    served.child.stdout!.pause();
    served.child.stderr!.pause();
    // Far more than a pipe buffer holds (64 KiB): the log destination blocks.
    await makeLogs(served, 1500);
    expect((await httpClient(served.url, served.key).request('GET', '/api/v1/status')).status).toBe(200);
    const { ms, code } = await terminate(served.child);
    expect(ms).toBeLessThan(DEADLINE_MS);
    expect(code).toBe(0);
  });

  it('exits within the grace plus margin while a client holds a request open mid-body', async () => {
    const served = await serve();
    const url = new URL(served.url);
    const socket = connect(Number(url.port), url.hostname);
    await new Promise((resolve) => socket.once('connect', resolve));
    // Headers and half a body, then nothing: the request never completes by itself.
    socket.write(`PUT /api/v1/workflows/slow HTTP/1.1\r\nHost: ${url.host}\r\nAuthorization: Bearer ${served.key}\r\nContent-Type: ${YAML}\r\nContent-Length: 1000\r\n\r\nid: slow\n`);
    socket.on('error', () => undefined);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const { ms } = await terminate(served.child);
    socket.destroy();
    expect(ms).toBeLessThan(DEADLINE_MS + 1000);
  });
});

describe('a failing log destination', () => {
  it('never fails requests or blocks shutdown (a full disk: /dev/full)', async () => {
    const key = randomKey();
    const config = loadConfig({ file: TEST_CONFIG, env: { AUTOKESTRA_API_KEYS: key, AUTOKESTRA_DATABASE_URL: join(tempDir(), 'full.db') } });
    config.logging.level = 'debug';
    const server = await startServer(config, { logDestination: '/dev/full' });
    try {
      const api = httpClient(server.url, key);
      for (let i = 0; i < 300; i++) {
        const res = await api.request('GET', '/api/v1/status');
        expect(res.status).toBe(200);
      }
      const applied = await api.request('PUT', '/api/v1/workflows/full-disk', { raw: workflowYaml('full-disk'), contentType: YAML });
      expect(applied.status, applied.text).toBe(201);
      expectError(await api.request('GET', '/api/v1/workflows/nope'), 404, 'NOT_FOUND');
      const live = await fetch(`${server.url}/health/live`);
      expect(live.status).toBe(200);
    } finally {
      const started = performance.now();
      await server.close();
      expect(performance.now() - started).toBeLessThan(DEADLINE_MS);
    }
  });
});
