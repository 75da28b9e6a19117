// npm run bench:engine — N executions (default 2000) of a 2-task workflow triggered over HTTP,
// end to end: executions/s and trigger→SUCCESS latency (p50/p99, from the server's timestamps).
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { startChild, stopChild, tempDir } from './lib.mjs';

const N = Number(process.env.BENCH_EXECUTIONS ?? 2000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 64);
const dir = tempDir('autokestra-bench-engine-');
const key = randomBytes(32).toString('hex');
const env = {
  AUTOKESTRA_API_KEYS: key,
  AUTOKESTRA_DATABASE_URL: join(dir, 'bench.db'),
  AUTOKESTRA_CONFIG: '',
  BENCH_LOG: join(dir, 'server.log'),
  BENCH_WORKERS: process.env.BENCH_WORKERS ?? '64',
  BENCH_POLL_MS: '50',
};
const server = await startChild(new URL('./autokestra-server.mjs', import.meta.url).pathname, env);
const headers = { authorization: `Bearer ${key}` };
const api = (path, init = {}) => fetch(`${server.url}${path}`, { ...init, headers: { ...headers, ...(init.headers ?? {}) } });

const yaml = ['id: bench', 'tasks:', '  - {id: greet, type: log, message: "hello {{ execution.id }}"}', '  - {id: result, type: output, values: {n: "{{ 1 + 1 }}"}}', ''].join('\n');
let res = await api('/api/v1/workflows/bench', { method: 'PUT', headers: { 'content-type': 'application/yaml' }, body: yaml });
if (res.status !== 201) throw new Error(`apply failed: ${res.status}`);

// autocannon fires exactly N triggers with CONCURRENCY connections: a light client, so the
// numbers describe the server rather than the load generator (both share this machine's 2 cores).
const started = performance.now();
const triggerRun = await autocannon({
  url: `${server.url}/api/v1/workflows/bench/executions`,
  method: 'POST',
  headers,
  connections: CONCURRENCY,
  amount: N,
});
if (triggerRun.non2xx > 0 || triggerRun.errors > 0) throw new Error(`triggers failed: ${triggerRun.non2xx} non-2xx, ${triggerRun.errors} errors`);
const triggeredMs = performance.now() - started;

async function countIn(state) {
  const r = await api(`/api/v1/executions?workflowId=bench&state=${state}&limit=1`);
  return (await r.json()).items.length;
}
for (;;) {
  if ((await countIn('QUEUED')) === 0 && (await countIn('RUNNING')) === 0) break;
  await new Promise((r) => setTimeout(r, 20));
}
const totalMs = performance.now() - started;

// collect server-side timings
const latencies = [];
let states = {};
for (let offset = 0; ; offset += 500) {
  const page = await (await api(`/api/v1/executions?workflowId=bench&limit=500&offset=${offset}`)).json();
  for (const e of page.items) {
    states[e.state] = (states[e.state] ?? 0) + 1;
    latencies.push(Date.parse(e.endedAt) - Date.parse(e.createdAt));
  }
  if (!page.hasMore) break;
}
await stopChild(server.child);
latencies.sort((a, b) => a - b);
const pct = (p) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))];
console.log(`\nexecutions: ${N} (2 tasks each), trigger concurrency ${CONCURRENCY}, workers ${env.BENCH_WORKERS}, SQLite`);
console.log(`states: ${JSON.stringify(states)}`);
console.log(`triggered in ${(triggeredMs / 1000).toFixed(2)} s (${Math.round(N / (triggeredMs / 1000))} triggers/s)`);
console.log(`all finished in ${(totalMs / 1000).toFixed(2)} s → ${Math.round(N / (totalMs / 1000))} executions/s end to end`);
console.log(`trigger→SUCCESS latency: p50 ${pct(50)} ms, p99 ${pct(99)} ms (direction: >= 1000 executions/s)`);
if ((states.SUCCESS ?? 0) !== N) process.exitCode = 1;
