/**
 * Helpers shared by the engine-runtime e2e specs (executions, tasks, logs, cancel, schedules,
 * recovery, secrets). Everything goes over real HTTP against a real server.
 */
import { expect } from 'vitest';
import { canTransition, TERMINAL_STATES, type ExecutionState } from '../../src/engine/execution-state';
import { httpClient as supportHttpClient, type TestResponse } from '../support/server';

export const TERMINAL: ReadonlySet<string> = TERMINAL_STATES;

/** Every step of an execution's history is a move the state machine allows (src/engine/execution-state.ts). */
export function expectLegalHistory(execution: { id: string; history: { state: string }[] }): void {
  const states = execution.history.map((h) => h.state as ExecutionState);
  expect(states[0], execution.id).toBe('QUEUED');
  for (let i = 1; i < states.length; i++) expect(canTransition(states[i - 1], states[i]), `${execution.id}: ${states.join(' → ')}`).toBe(true);
}

export const EXECUTION_FIELDS = [
  'createdAt',
  'durationMs',
  'endedAt',
  'error',
  'history',
  'id',
  'inputs',
  'labels',
  'namespace',
  'outputs',
  'revision',
  'startedAt',
  'state',
  'trigger',
  'workflowId',
  'workflowOutputs',
];

export const TASK_RUN_FIELDS = ['attempt', 'durationMs', 'endedAt', 'error', 'id', 'iteration', 'outputs', 'parentTaskRunId', 'startedAt', 'state', 'taskId'];

export const LOG_FIELDS = ['attempt', 'id', 'level', 'message', 'taskId', 'taskRunId', 'ts'];

/** Crockford base32 ULID: 26 chars. */
export const ULID = /^[0-9A-HJKMNP-TV-Z]{26}$/;

/** Anything with `request` (an in-process TestServer, or an HTTP client of a spawned process). */
export interface Api {
  request(method: string, path: string, init?: { body?: unknown; raw?: string; contentType?: string; headers?: Record<string, string>; auth?: false | string }): Promise<TestResponse>;
}

/** An authenticated JSON client for any base URL (used for spawned `serve` processes). */
export function httpClient(url: string, key: string): Api {
  return { request: supportHttpClient(url, key) };
}

export async function apply(api: Api, id: string, yaml: string): Promise<TestResponse> {
  const res = await api.request('PUT', `/api/v1/workflows/${id}`, { raw: yaml, contentType: 'application/yaml' });
  expect([200, 201], `apply ${id}: ${res.status} ${res.text}`).toContain(res.status);
  return res;
}

/** POST /workflows/:id/executions; `body` undefined sends no body at all. */
export function trigger(
  api: Api,
  workflowId: string,
  body?: unknown,
  options: { query?: string; headers?: Record<string, string> } = {},
): Promise<TestResponse> {
  return api.request('POST', `/api/v1/workflows/${workflowId}/executions${options.query ?? ''}`, { body, headers: options.headers });
}

/** Triggers and asserts the 202 QUEUED answer; returns the execution id. */
export async function start(api: Api, workflowId: string, body?: unknown): Promise<string> {
  const res = await trigger(api, workflowId, body);
  expect(res.status, res.text).toBe(202);
  expect(res.body.state, res.text).toBe('QUEUED');
  return res.body.id as string;
}

export async function inspect(api: Api, id: string): Promise<any> {
  const res = await api.request('GET', `/api/v1/executions/${id}`);
  expect(res.status, res.text).toBe(200);
  return res.body;
}

/** Polls the inspect endpoint until `predicate` holds; fails with the last state seen. */
export async function waitFor(api: Api, id: string, predicate: (e: any) => boolean, timeoutMs = 15_000, intervalMs = 20): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  let last: any;
  for (;;) {
    last = await inspect(api, id);
    if (predicate(last)) return last;
    if (Date.now() > deadline) {
      throw new Error(`execution ${id} did not reach the expected condition in ${timeoutMs} ms; last: ${JSON.stringify(last)}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Waits for the end, and holds the history it took to the state machine. */
export async function waitTerminal(api: Api, id: string, timeoutMs = 15_000): Promise<any> {
  const execution = await waitFor(api, id, (e) => TERMINAL.has(e.state), timeoutMs);
  expectLegalHistory(execution);
  return execution;
}

/** Runs an execution to its end and asserts the final state. */
export async function runToEnd(api: Api, workflowId: string, body?: unknown, expected = 'SUCCESS', timeoutMs = 15_000): Promise<any> {
  const id = await start(api, workflowId, body);
  const done = await waitTerminal(api, id, timeoutMs);
  expect(done.state, JSON.stringify(done)).toBe(expected);
  return done;
}

/** Task runs of one task id, by attempt then iteration. */
export function runsOf(execution: any, taskId: string): any[] {
  return (execution.taskRuns as any[])
    .filter((r) => r.taskId === taskId)
    .sort((a, b) => (a.iteration ?? 0) - (b.iteration ?? 0) || a.attempt - b.attempt);
}

export function ms(iso: string): number {
  return Date.parse(iso);
}

export async function listAll(api: Api, query: string): Promise<any[]> {
  const items: any[] = [];
  for (let offset = 0; ; offset += 500) {
    const res = await api.request('GET', `/api/v1/executions?${query}&limit=500&offset=${offset}`);
    expect(res.status, res.text).toBe(200);
    items.push(...res.body.items);
    if (!res.body.hasMore) return items;
  }
}

/** Every log line of an execution, oldest first (pages with `before`). */
export async function allLogs(api: Api, id: string, extra = ''): Promise<any[]> {
  const lines: any[] = [];
  let before: number | null = null;
  for (;;) {
    const res = await api.request('GET', `/api/v1/executions/${id}/logs?limit=1000${extra}${before !== null ? `&before=${before}` : ''}`);
    expect(res.status, res.text).toBe(200);
    lines.push(...res.body.items);
    if (!res.body.hasMore || res.body.items.length === 0) break;
    before = res.body.items.at(-1).id;
  }
  return lines.reverse();
}

export function sortedKeys(value: object): string[] {
  return Object.keys(value).sort();
}
