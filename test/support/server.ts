import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AppConfig } from '../../src/common/config/config.schema';
import { loadConfig } from '../../src/common/config/load-config';
import { startServer, type BootstrapOptions, type StartedServer, type StartServerOptions } from '../../src/server';
import { contractOf } from './contract';
import { PG_LEG, legDatabaseUrl } from './postgres';

export const TEST_CONFIG = join(__dirname, '..', '..', 'config', 'test.yaml');

export interface TestServer {
  url: string;
  /** a static admin key (plaintext) valid on this server */
  key: string;
  dbPath: string;
  /** what the server runs on: dbPath, or the PG leg's database URL */
  databaseUrl: string;
  logPath: string;
  dir: string;
  server: StartedServer;
  config: AppConfig;
  /** fetch relative to the server, authenticated with `key` unless headers say otherwise */
  request(method: string, path: string, init?: RequestOptions): Promise<TestResponse>;
  close(): Promise<void>;
  /** everything the server logged so far */
  logs(): Promise<string>;
}

export interface RequestOptions {
  body?: unknown;
  /** raw body text; sent as is */
  raw?: string | Buffer;
  contentType?: string;
  headers?: Record<string, string>;
  /** false = send no credentials; a string = use this key instead */
  auth?: false | string;
  /** false = do not hold this response to the OpenAPI document (see test/support/contract.ts) */
  contract?: false;
}

export interface TestResponse {
  status: number;
  headers: Headers;
  text: string;
  body: any;
}

/**
 * An HTTP client for a base URL: JSON or raw bodies, authenticated with `key` unless the call
 * sends its own credentials or `auth: false`. Used for in-process and spawned servers alike.
 */
export function httpClient(url: string, key: string): (method: string, path: string, init?: RequestOptions) => Promise<TestResponse> {
  return async (method, path, init = {}) => {
    const headers: Record<string, string> = { ...(init.headers ?? {}) };
    if (init.auth !== false && !('authorization' in headers) && !('x-api-key' in headers)) {
      headers.authorization = `Bearer ${init.auth ?? key}`;
    }
    let body: string | Buffer | undefined;
    if (init.raw !== undefined) {
      body = init.raw;
      if (init.contentType) headers['content-type'] = init.contentType;
    } else if (init.body !== undefined) {
      body = JSON.stringify(init.body);
      headers['content-type'] = init.contentType ?? 'application/json';
    }
    const res = await fetch(`${url}${path}`, { method, headers, body });
    const text = await res.text();
    let parsed: unknown = undefined;
    try {
      parsed = text.length ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    if (init.contract !== false && !path.startsWith('/api/v1/openapi.json')) {
      const contract = await contractOf(url);
      const problems = contract?.check({ method, path, status: res.status, headers: res.headers, text, body: parsed }) ?? [];
      if (problems.length) throw new Error(`the response breaks the OpenAPI contract:\n${problems.join('\n')}`);
    }
    return { status: res.status, headers: res.headers, text, body: parsed };
  };
}

export function tempDir(prefix = 'autokestra-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function randomKey(): string {
  return randomBytes(24).toString('hex');
}

export interface StartOptions {
  dir?: string;
  key?: string;
  /** extra settings applied to the loaded config */
  configure?: (config: AppConfig) => void;
  env?: Record<string, string>;
  /** task types added to the built-in ones (startServer's taskTypes) */
  taskTypes?: StartServerOptions['taskTypes'];
  /** Nest modules served beside Autokestra's (bootstrap's imports) */
  imports?: BootstrapOptions['imports'];
}

/** Starts the real server (Nest + Fastify + engine) on a temp SQLite file (PG leg: a PostgreSQL database). */
export async function startTestServer(options: StartOptions = {}): Promise<TestServer> {
  const dir = options.dir ?? tempDir();
  const key = options.key ?? randomKey();
  const dbPath = join(dir, 'autokestra.db');
  const logPath = join(dir, `server-${Date.now()}-${randomBytes(3).toString('hex')}.log`);
  // PG leg: the same suites on PostgreSQL (a database per directory, see test/support/postgres.ts)
  const databaseUrl = PG_LEG ? await legDatabaseUrl(dir) : dbPath;
  const config = loadConfig({
    file: TEST_CONFIG,
    env: { AUTOKESTRA_API_KEYS: key, AUTOKESTRA_DATABASE_URL: databaseUrl, ...options.env },
  });
  config.logging.level = 'debug';
  options.configure?.(config);
  const server = await startServer(config, { logDestination: logPath, env: { ...process.env, ...options.env }, taskTypes: options.taskTypes, imports: options.imports });
  const url = server.url;

  const request = httpClient(url, key);

  return {
    url,
    key,
    dbPath,
    databaseUrl,
    logPath,
    dir,
    server,
    config,
    request,
    close: () => server.close(),
    async logs() {
      (server.logger as unknown as { flush?: () => void }).flush?.();
      await new Promise((r) => setTimeout(r, 50));
      return existsSync(logPath) ? readFileSync(logPath, 'utf8') : '';
    },
  };
}

/** Applies a workflow YAML and asserts it was accepted. */
export async function applyWorkflow(server: TestServer, id: string, yaml: string): Promise<TestResponse> {
  const res = await server.request('PUT', `/api/v1/workflows/${id}`, { raw: yaml, contentType: 'application/yaml' });
  if (res.status !== 201 && res.status !== 200) {
    throw new Error(`apply ${id} failed: ${res.status} ${res.text}`);
  }
  return res;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `fn` until it returns a truthy value or the timeout passes. */
export async function eventually<T>(fn: () => Promise<T | undefined | false | null>, timeoutMs = 10_000, intervalMs = 25): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await fn();
      if (value) return value;
    } catch (error) {
      last = error;
    }
    await sleep(intervalMs);
  }
  throw new Error(`condition not met within ${timeoutMs} ms${last ? `: ${String(last)}` : ''}`);
}
