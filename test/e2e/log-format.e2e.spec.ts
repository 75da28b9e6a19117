/**
 * Friendly local runs (issue 11 §5): human-readable logs and a banner at a terminal, JSON lines
 * everywhere else, `logging.format` to force either, and the same credential redaction in both
 * formats. The terminal cases run the built CLI under `script` (a real pseudo-terminal).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI, spawnTestServe, stopProcess } from '../support/cli';
import { eventually, sleep, startTestServer, TEST_CONFIG, tempDir } from '../support/server';

const MANAGED_SHAPED = `ak_${'Q'.repeat(30)}`;

/** Requests whose credentials must not reach any log line. */
async function leakyRequests(url: string, key: string): Promise<void> {
  await fetch(`${url}/api/v1/workflows?api_key=${key}`, { headers: { authorization: `Bearer ${key}` } });
  await fetch(`${url}/api/v1/workflows`, { headers: { 'x-api-key': key } });
  await fetch(`${url}/api/v1/workflows/${MANAGED_SHAPED}?token=${MANAGED_SHAPED}`, { headers: { authorization: `Bearer ${MANAGED_SHAPED}` } });
}

function jsonLines(text: string): unknown[] {
  return text
    .split(/\r?\n/)
    .filter((line) => line.trim().startsWith('{'))
    .map((line) => JSON.parse(line));
}

describe('logging.format: pretty (forced) on an in-process server', () => {
  it('writes human-readable lines, with every credential redacted as in JSON', async () => {
    const server = await startTestServer({ configure: (c) => (c.logging.format = 'pretty') });
    try {
      await leakyRequests(server.url, server.key);
      const logs = await eventually(async () => {
        const text = await server.logs();
        return (text.match(/request completed/g) ?? []).length >= 3 ? text : undefined;
      });
      expect(server.server.logger.format).toBe('pretty');
      // pino-pretty lines: "[HH:MM:ss.mmm] INFO: request completed" and indented fields, no JSON
      expect(logs).toMatch(/^\[\d{2}:\d{2}:\d{2}\.\d{3}\] INFO: request completed/m);
      expect(logs.split('\n').filter((line) => line.startsWith('{'))).toEqual([]);
      expect(logs).toContain('[redacted]');
      expect(logs).not.toContain(server.key);
      expect(logs).not.toContain(MANAGED_SHAPED);
      expect(logs).not.toContain('Q'.repeat(16));
    } finally {
      await server.close();
    }
  });
});

describe('logging.format: auto (the default) when the destination is not a terminal', () => {
  it('an in-process server logging to a file writes JSON lines', async () => {
    const server = await startTestServer();
    try {
      expect(server.config.logging.format).toBe('auto');
      await leakyRequests(server.url, server.key);
      const logs = await eventually(async () => {
        const text = await server.logs();
        return text.includes('request completed') ? text : undefined;
      });
      const lines = logs.split('\n').filter((line) => line.trim().length > 0);
      expect(lines.length).toBeGreaterThan(0);
      for (const line of lines) expect(() => JSON.parse(line), line).not.toThrow();
      expect(logs).not.toContain(server.key);
    } finally {
      await server.close();
    }
  });

  it('`serve` with stdout on a pipe prints JSON lines and no banner', async () => {
    const serve = await spawnTestServe({ AUTOKESTRA_LOG_LEVEL: 'info' });
    try {
      await leakyRequests(serve.url, serve.key);
      await eventually(async () => jsonLines(serve.output()).some((l: any) => l.msg === 'request completed'));
      const out = serve.output();
      expect(out).not.toContain('API docs');
      expect(out).not.toContain(serve.key);
      // Nest's start-up narration is debug: not a line per module and per route at info
      expect(out).not.toMatch(/Mapped \{|dependencies initialized/);
      expect(out).toContain('autokestra listening');
      const lines = out.split('\n').filter((line) => line.trim().length > 0 && !/listening on/.test(line));
      for (const line of lines) expect(() => JSON.parse(line), line).not.toThrow();
    } finally {
      await stopProcess(serve.child);
    }
  });
});

const hasScript = existsSync('/usr/bin/script') || spawnSync('script', ['--version']).status === 0;

/** The built CLI on a pseudo-terminal (`script`), its output as the terminal shows it. */
function onTerminal(args: string[], env: Record<string, string>): { child: ChildProcess; output(): string } {
  // `exec`: script runs the command with $SHELL -c; dash (CI's /bin/sh) does not exec a lone
  // command, so without it Ctrl+C would also kill the shell and script would report 130.
  const command = `exec ${[process.execPath, CLI, ...args].map((part) => `'${part.replace(/'/g, `'\\''`)}'`).join(' ')}`;
  const child = spawn('script', ['-qfec', command, '/dev/null'], {
    env: { ...process.env, AUTOKESTRA_CONFIG: TEST_CONFIG, AUTOKESTRA_PORT: '0', AUTOKESTRA_LOG_LEVEL: 'info', TERM: 'dumb', ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d.toString()));
  child.stderr!.on('data', (d) => (out += d.toString()));
  return { child, output: () => out };
}

/** Ctrl+C on the terminal (SIGINT to the server), SIGKILL if it does not stop. */
async function interrupt(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.stdin!.write('\x03');
  const timer = setTimeout(() => child.kill('SIGKILL'), 8000);
  await exited;
  clearTimeout(timer);
}

// ANSI colour codes around pino-pretty's fields, and the terminal's \r\n
const plain = (text: string) => text.replace(/\u001b\[[0-9;]*m/g, '').replace(/\r/g, '');

describe.runIf(hasScript)('at a terminal', () => {
  const children: ChildProcess[] = [];
  afterAll(async () => {
    for (const child of children) await interrupt(child);
  });

  it('quickstart prints the banner (URL, OpenAPI document, the minted key) and human-readable, redacted logs', async () => {
    const dir = tempDir('autokestra-tty-');
    const term = onTerminal(['quickstart'], { AUTOKESTRA_DATABASE_URL: join(dir, 'db.sqlite') });
    children.push(term.child);
    const url = await eventually(async () => /listening on (http:\/\/[^\s]+)/.exec(plain(term.output()))?.[1], 20_000);
    const key = /^\s+(ak_[0-9A-Za-z]+)\s*$/m.exec(plain(term.output()))?.[1];
    expect(key, term.output()).toBeTruthy();
    await eventually(async () => plain(term.output()).includes('Ctrl+C'));
    const banner = plain(term.output());
    expect(banner).toContain(`${url}/api/v1/openapi.json`);
    expect(banner).toContain(`${url}/health/ready`);
    expect(banner).toMatch(/API keys\s+admin key minted just now, printed above/);
    expect(banner).toMatch(/Logs\s+human-readable/);

    const res = await fetch(`${url}/api/v1/workflows`, { headers: { authorization: `Bearer ${key}` } });
    expect(res.status).toBe(200);
    // a key pasted into a URL is refused, and its access line shows it redacted
    const pasted = await fetch(`${url}/api/v1/workflows?api_key=${key}`, { headers: { authorization: `Bearer ${key}` } });
    expect(pasted.status).toBe(400);
    // lines reach a terminal as they happen (no 4 KiB batching there)
    await eventually(async () => (plain(term.output()).match(/(INFO|WARN).*request completed/g) ?? []).length >= 2, 3000);
    await sleep(100);
    const text = plain(term.output());
    const afterBanner = text.slice(text.indexOf('Ctrl+C'));
    expect(afterBanner).toMatch(/^\[\d{2}:\d{2}:\d{2}\.\d{3}\] INFO.*: request completed/m);
    expect(jsonLines(afterBanner)).toEqual([]);
    // printed by quickstart itself (the key and a curl example), never in a log line
    expect(afterBanner).not.toContain(key!);
    // redactUrl's query value, URL-encoded as the rest of the query is
    expect(afterBanner).toMatch(/api_key=(%5Bredacted%5D|\[redacted\])/);
    await interrupt(term.child);
    expect(term.child.exitCode, plain(term.output()).slice(-2000)).toBe(0);
  });

  it('logging.format json (AUTOKESTRA_LOG_FORMAT=json) keeps JSON lines at a terminal', async () => {
    const dir = tempDir('autokestra-tty-json-');
    const term = onTerminal(['serve'], { AUTOKESTRA_DATABASE_URL: join(dir, 'db.sqlite'), AUTOKESTRA_API_KEYS: 'k'.repeat(40), AUTOKESTRA_LOG_FORMAT: 'json' });
    children.push(term.child);
    const url = await eventually(async () => /listening on (http:\/\/[^\s]+)/.exec(plain(term.output()))?.[1], 20_000);
    await fetch(`${url}/api/v1/workflows`, { headers: { authorization: `Bearer ${'k'.repeat(40)}` } });
    await eventually(async () => jsonLines(plain(term.output())).some((l: any) => l.msg === 'request completed'), 3000);
    const text = plain(term.output());
    expect(text).toMatch(/API keys\s+static keys from AUTOKESTRA_API_KEYS/);
    expect(text).toMatch(/Logs\s+JSON lines/);
    expect(text).not.toContain('k'.repeat(40));
    await interrupt(term.child);
  });
});
