/**
 * Memory after hostile traffic (issue 7, "Tests and figures"): a real `autokestra serve`
 * process is warmed up with the same kinds of requests, then takes a burst of hundreds of bad
 * requests, a few expression bombs and big YAML bodies. Its resident set (VmRSS from
 * /proc/<pid>/status) afterwards must stay within RSS_BOUND_MIB of where it was after warm-up:
 * bad input may cost CPU while it is refused, but it must not leave memory behind.
 *
 * The bound (+150 MiB) leaves room for V8 keeping freed pages and for SQLite's cache; a leak of
 * the refused bodies (hundreds of ~1 MiB documents) or of a bomb's intermediate values exceeds it.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnTestServe, stopProcess, type ServeProcess } from '../support/cli';
import { httpClient, start, waitTerminal, type Api } from '../e2e/engine-helpers';
import { expectHealthy } from './hostile-helpers';

export const RSS_BOUND_MIB = 150;

let proc: ServeProcess;
let api: Api;

beforeAll(async () => {
  const served = await spawnTestServe({ NODE_OPTIONS: '--max-old-space-size=1024' }, 'autokestra-hostile-memory-');
  proc = served;
  api = httpClient(proc.url, served.key);
});

afterAll(() => stopProcess(proc?.child));

function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)\s+kB/.exec(status)?.[1]);
  return kb / 1024;
}

const LIST = `[${Array.from({ length: 1000 }, (_, i) => i).join(',')}]`;
const BOMB = `id: ID\nvariables: {l: "{{ ${LIST} }}"}\ntasks:\n  - {id: bomb, type: output, values: {v: "{{ size(vars.l.map(a, vars.l.map(b, vars.l + [b]))) }}"}}\n`;
const bigYaml = (id: string, i: number) => `id: ${id}\nlabels:\n${Array.from({ length: 30_000 }, (_, k) => `  k${k}_${i}: v`).join('\n')}\n  k0_${i}: duplicate\ntasks:\n  - {id: a, type: log, message: x}\n`;

/** Hundreds of refused requests of every kind, `n` of each, 10 at a time. */
async function badRequests(n: number): Promise<void> {
  const kinds: Array<() => Promise<unknown>> = [
    () => api.request('POST', '/api/v1/workflows/mem-ok/executions', { raw: '{"inputs": {', contentType: 'application/json' }),
    () => api.request('POST', '/api/v1/workflows/mem-ok/executions', { raw: `{"inputs": {"j": ${'['.repeat(1000)}${']'.repeat(1000)}}}`, contentType: 'application/json' }),
    () => api.request('PUT', '/api/v1/workflows/mem-bad', { raw: 'id: mem-bad\ntasks: [{id: a, type: nope}]\n', contentType: 'application/yaml' }),
    () => api.request('GET', '/api/v1/status', { auth: 'ak_notavalidkeyatall' }),
    () => api.request('GET', '/api/v1/status', { auth: false }),
    () => api.request('GET', '/api/v1/executions/does-not-exist'),
    () => api.request('POST', '/api/v1/workflows/mem-ok/executions', { raw: `{"inputs": {"s": "${'x'.repeat(1024 * 1024)}"}}`, contentType: 'application/json' }),
    () => api.request('PUT', '/api/v1/workflows/mem-bad', { raw: 'x: 1', contentType: 'text/plain' }),
  ];
  const jobs: Array<() => Promise<unknown>> = [];
  for (let i = 0; i < n; i++) for (const kind of kinds) jobs.push(kind);
  for (let i = 0; i < jobs.length; i += 10) await Promise.all(jobs.slice(i, i + 10).map((job) => job()));
}

async function bombs(n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const id = `mem-bomb-${i}-${Date.now()}`;
    await api.request('PUT', `/api/v1/workflows/${id}`, { raw: BOMB.replace('ID', id), contentType: 'application/yaml' });
    const done = await waitTerminal(api, await start(api, id, {}), 30_000);
    expect(done.state).toBe('FAILED');
  }
}

async function bigBodies(n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const id = `mem-big-${i}`;
    const res = await api.request('PUT', `/api/v1/workflows/${id}`, { raw: bigYaml(id, i), contentType: 'application/yaml' });
    expect(res.status, res.text.slice(0, 300)).toBe(400);
  }
}

async function normalRuns(n: number): Promise<void> {
  const ids = await Promise.all(Array.from({ length: n }, () => start(api, 'mem-ok', { inputs: { j: { a: [1, 2, 3] } } })));
  for (const id of ids) expect((await waitTerminal(api, id)).state).toBe('SUCCESS');
}

describe('memory after a burst of hostile traffic', () => {
  it(`stays within +${RSS_BOUND_MIB} MiB of the warmed-up resident set`, async () => {
    const put = await api.request('PUT', '/api/v1/workflows/mem-ok', {
      raw: 'id: mem-ok\ninputs: [{id: j, type: json, required: false}, {id: s, type: string, required: false}]\ntasks:\n  - {id: o, type: output, values: {j: "{{ inputs.j }}"}}\n',
      contentType: 'application/yaml',
    });
    expect([200, 201], put.text).toContain(put.status);

    // warm-up: the same kinds of work, so the heap reaches its working size first
    await normalRuns(20);
    await badRequests(5);
    await bigBodies(2);
    await bombs(1);
    await new Promise((r) => setTimeout(r, 1000));
    const baseline = rssMiB(proc.child.pid!);

    // the burst: 400 bad requests, 3 bombs, 6 big bodies, 50 ordinary runs
    await badRequests(50);
    await bombs(3);
    await bigBodies(6);
    await normalRuns(50);
    await new Promise((r) => setTimeout(r, 2000));
    const after = rssMiB(proc.child.pid!);

    expect(proc.child.exitCode, proc.output().slice(-2000)).toBeNull();
    expect(after - baseline, `RSS went from ${baseline.toFixed(0)} MiB to ${after.toFixed(0)} MiB`).toBeLessThan(RSS_BOUND_MIB);
    await expectHealthy({ url: proc.url });
  }, 180_000);
});
