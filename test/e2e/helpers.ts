import { createHash } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { expect } from 'vitest';
import type { TestResponse, TestServer } from '../support/server';

export const YAML = 'application/yaml';

export function sha256hex(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('hex');
}

/** A stack frame as V8 prints it: "at fn (file.ts:12:3)" or "at /x/y.js:1:2". */
const STACK_FRAME = /\bat\s+[^\n]*\.(ts|js|mjs|cjs):\d+/;

/** No stack traces, no frames, no internal file paths in a response body. */
export function expectNoStack(text: string): void {
  expect(text).not.toMatch(STACK_FRAME);
  expect(text).not.toMatch(/node_modules|\/src\/|\/dist\//);
  expect(text).not.toContain('"stack"');
}

/**
 * Asserts the one error shape of docs/api.md (Errors): exactly `{"error":{"code","message","details?"}}`,
 * the given status and code, JSON content type, an X-Request-Id header, and no stack trace.
 */
export function expectError(res: Pick<TestResponse, 'status' | 'headers' | 'text' | 'body'>, status: number, code: string): any {
  const context = `${res.status} ${res.text}`;
  expect(res.status, context).toBe(status);
  expect(res.body, context).toBeTypeOf('object');
  expect(Object.keys(res.body), context).toEqual(['error']);
  const error = res.body.error;
  expect(error, context).toBeTypeOf('object');
  const keys = Object.keys(error).sort();
  expect(['code,message', 'code,details,message'], context).toContain(keys.join(','));
  expect(error.code, context).toBe(code);
  expect(error.code).toMatch(/^[A-Z][A-Z0-9_]*$/);
  expect(typeof error.message, context).toBe('string');
  expect(error.message.length, context).toBeGreaterThan(0);
  expect(res.headers.get('content-type') ?? '', context).toMatch(/^application\/json/);
  expect(res.headers.get('x-request-id'), context).toBeTruthy();
  expectNoStack(res.text);
  return error;
}

/** Any 4xx in the error shape (for cases where the router legitimately picks 400 or 404). */
export function expectClientError(res: TestResponse, allowed: Record<number, string>): any {
  const context = `${res.status} ${res.text}`;
  expect(Object.keys(allowed).map(Number), context).toContain(res.status);
  return expectError(res, res.status, allowed[res.status]);
}

/**
 * A raw HTTP request: the path is sent byte for byte (fetch would normalize `%2e%2e` and
 * reject some characters), so hostile paths reach the server as an attacker would send them.
 */
export function rawRequest(
  baseUrl: string,
  method: string,
  path: string,
  options: { headers?: Record<string, string>; body?: string | Buffer } = {},
): Promise<TestResponse> {
  const url = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: url.hostname, port: url.port, method, path, headers: options.headers ?? {} },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: unknown;
          try {
            body = text.length ? JSON.parse(text) : undefined;
          } catch {
            body = undefined;
          }
          const headers = new Headers();
          for (const [name, value] of Object.entries(res.headers)) {
            if (value === undefined) continue;
            headers.set(name, Array.isArray(value) ? value.join(', ') : value);
          }
          resolve({ status: res.statusCode ?? 0, headers, text, body });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (options.body !== undefined) req.write(options.body);
    req.end();
  });
}

/** A small valid workflow; `extra` lines are appended at the top level. */
export function workflowYaml(id: string, options: { namespace?: string; description?: string; message?: string; extra?: string } = {}): string {
  const lines = [`id: ${id}`];
  if (options.namespace) lines.push(`namespace: ${options.namespace}`);
  if (options.description) lines.push(`description: ${options.description}`);
  lines.push('tasks:', '  - id: hello', '    type: log', `    message: ${options.message ?? 'Hello'}`);
  if (options.extra) lines.push(options.extra);
  return `${lines.join('\n')}\n`;
}

let counter = 0;
/** A unique, valid workflow id for one test. */
export function uniqueId(prefix = 'wf'): string {
  counter += 1;
  return `${prefix}-${Date.now().toString(36)}-${counter}-${Math.random().toString(36).slice(2, 6)}`;
}

export function put(server: TestServer, id: string, yaml: string, contentType = YAML): Promise<TestResponse> {
  return server.request('PUT', `/api/v1/workflows/${id}`, { raw: yaml, contentType });
}

export function get(server: TestServer, id: string): Promise<TestResponse> {
  return server.request('GET', `/api/v1/workflows/${id}`);
}

/** Ids of every stored workflow (pages through the whole list). */
export async function allWorkflowIds(server: TestServer): Promise<string[]> {
  const ids: string[] = [];
  for (let offset = 0; ; offset += 500) {
    const res = await server.request('GET', `/api/v1/workflows?limit=500&offset=${offset}`);
    expect(res.status, res.text).toBe(200);
    ids.push(...res.body.items.map((w: { id: string }) => w.id));
    if (!res.body.hasMore) return ids;
  }
}

/** Parsed JSON log lines (non-JSON lines are returned as {raw}). */
export function parseLogLines(text: string): Record<string, any>[] {
  return text
    .split('\n')
    .filter((line) => line.trim().length > 0)
    .map((line) => {
      try {
        return JSON.parse(line) as Record<string, any>;
      } catch {
        return { raw: line };
      }
    });
}

/**
 * The log destination is asynchronous and buffered: poll until `predicate` holds for the
 * captured text (or the timeout passes), then return the text.
 */
export async function waitForLogs(server: TestServer, predicate: (text: string, lines: Record<string, any>[]) => boolean, timeoutMs = 5000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let text = '';
  while (Date.now() < deadline) {
    text = await server.logs();
    if (predicate(text, parseLogLines(text))) return text;
    await new Promise((r) => setTimeout(r, 50));
  }
  return text;
}

/** Sends raw bytes over TCP and returns what the server wrote back before closing (or the timeout). */
export function rawSocket(baseUrl: string, payload: string | Buffer, timeoutMs = 3000): Promise<string> {
  const url = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: url.hostname, port: Number(url.port) }, () => socket.write(payload));
    let out = '';
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(out);
    }, timeoutMs);
    socket.on('data', (d) => {
      out += d.toString('utf8');
    });
    socket.on('end', () => {
      clearTimeout(timer);
      resolve(out);
    });
    socket.on('error', (error) => {
      clearTimeout(timer);
      if (out) resolve(out);
      else reject(error);
    });
  });
}

/** Splits a raw HTTP/1.1 response into status, lower-cased headers and body. */
export function parseRawResponse(raw: string): TestResponse {
  const [head, ...rest] = raw.split('\r\n\r\n');
  const [statusLine, ...headerLines] = head.split('\r\n');
  const headers = new Headers();
  for (const line of headerLines) {
    const i = line.indexOf(':');
    if (i > 0) headers.set(line.slice(0, i).trim(), line.slice(i + 1).trim());
  }
  const text = rest.join('\r\n\r\n');
  let body: unknown;
  try {
    body = text.length ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  return { status: Number(statusLine.split(' ')[1]), headers, text, body };
}
