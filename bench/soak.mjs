// npm run bench:soak — N seconds (default 600; SOAK_SECONDS or the first argument) of mixed load
// against one server process: workflow applies, triggers, execution reads, log pages, list
// pages and failed authentications. Prints the server's RSS every ~10 s, p50/p99 per route,
// errors (must be 0; 401/429 answers to the failed-auth requests are expected, not errors) and
// executions lost (triggered minus those that reached a terminal state; must be 0).
// Exits non-zero when errors or lost executions are not 0.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startChild, stopChild, tempDir } from './lib.mjs';

const SECONDS = Number(process.argv[2] ?? process.env.SOAK_SECONDS ?? 600);
const CONCURRENCY = Number(process.env.SOAK_CONCURRENCY ?? 8);
const SAMPLE_MS = 10_000;
const TERMINAL = new Set(['SUCCESS', 'FAILED', 'CANCELLED']);

const dir = tempDir('autokestra-bench-soak-');
const staticKey = randomBytes(32).toString('hex');
const server = await startChild(new URL('./autokestra-server.mjs', import.meta.url).pathname, {
  AUTOKESTRA_API_KEYS: staticKey,
  AUTOKESTRA_DATABASE_URL: join(dir, 'soak.db'),
  AUTOKESTRA_CONFIG: '',
  BENCH_LOG: join(dir, 'server.log'),
});

function rssMiB() {
  try {
    const kb = Number(/VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${server.child.pid}/status`, 'utf8'))?.[1]);
    return Math.round(kb / 1024);
  } catch {
    return NaN;
  }
}

async function request(method, path, { key = staticKey, body, contentType } = {}) {
  const headers = {};
  if (key) headers.authorization = `Bearer ${key}`;
  if (body !== undefined) headers['content-type'] = contentType ?? 'application/json';
  const started = performance.now();
  const res = await fetch(`${server.url}${path}`, { method, headers, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, ms: performance.now() - started, json: () => (text ? JSON.parse(text) : undefined) };
}

const workflowYaml = (id) =>
  [
    `id: ${id}`,
    'namespace: soak',
    'inputs: [{id: n, type: integer, default: 1}]',
    'tasks:',
    '  - {id: greet, type: log, message: "hello {{ inputs.n }} from {{ execution.id }}"}',
    '  - {id: more, type: log, level: warn, message: "second line {{ inputs.n * 2 }}"}',
    '  - {id: result, type: output, values: {n: "{{ inputs.n + 1 }}"}}',
    '',
  ].join('\n');

// setup: the triggered workflow, a managed read key, a few applied workflows
let res = await request('PUT', '/api/v1/workflows/soak', { body: workflowYaml('soak'), contentType: 'application/yaml' });
if (res.status !== 201) throw new Error(`apply failed: ${res.status}`);
res = await request('POST', '/api/v1/api-keys', { body: { label: 'soak-reader', scopes: ['executions:read', 'logs:read', 'workflows:read'] } });
if (res.status !== 201) throw new Error(`key creation failed: ${res.status}`);
const readKey = res.json().key;

const latencies = new Map(); // route -> ms[]
const errors = new Map(); // "route status" -> count
let requests = 0;
const triggered = [];
const note = (route, r, ok) => {
  requests += 1;
  if (!latencies.has(route)) latencies.set(route, []);
  latencies.get(route).push(r.ms);
  if (!ok) errors.set(`${route} ${r.status}`, (errors.get(`${route} ${r.status}`) ?? 0) + 1);
};
const pick = (list) => list[Math.floor(Math.random() * list.length)];
const badKeys = ['ak_notavalidkeyatall', 'ak_' + 'A'.repeat(38), randomBytes(24).toString('hex'), ''];

// weights of each operation in the mix
const OPS = [
  [5, async () => {
    // a refused apply (unknown task type): 400 INVALID_WORKFLOW is the expected answer
    const r = await request('PUT', '/api/v1/workflows/soak-invalid', { body: 'id: soak-invalid\ntasks: [{id: a, type: nope}]\n', contentType: 'application/yaml' });
    note('PUT /workflows/:id (invalid)', r, r.status === 400);
  }],
  [10, async () => {
    const id = `soak-applied-${Math.floor(Math.random() * 20)}`;
    const r = await request('PUT', `/api/v1/workflows/${id}`, { body: workflowYaml(id), contentType: 'application/yaml' });
    note('PUT /workflows/:id', r, r.status === 200 || r.status === 201);
  }],
  [30, async () => {
    const r = await request('POST', '/api/v1/workflows/soak/executions', { body: { inputs: { n: Math.floor(Math.random() * 100) } } });
    const ok = r.status === 202;
    if (ok) triggered.push(r.json().id);
    note('POST /workflows/:id/executions', r, ok);
  }],
  [20, async () => {
    if (triggered.length === 0) return;
    const r = await request('GET', `/api/v1/executions/${pick(triggered)}`, { key: readKey });
    note('GET /executions/:id', r, r.status === 200);
  }],
  [15, async () => {
    if (triggered.length === 0) return;
    const r = await request('GET', `/api/v1/executions/${pick(triggered)}/logs?limit=100`, { key: readKey });
    note('GET /executions/:id/logs', r, r.status === 200);
  }],
  [5, async () => {
    const r = await request('GET', '/api/v1/executions?workflowId=soak&limit=50', { key: readKey });
    note('GET /executions', r, r.status === 200);
  }],
  [10, async () => {
    const r = await request('GET', '/api/v1/workflows', { key: pick(badKeys) || null });
    note('GET /workflows (failed auth)', r, r.status === 401 || r.status === 429);
  }],
];
const totalWeight = OPS.reduce((sum, [w]) => sum + w, 0);
function nextOp() {
  let x = Math.random() * totalWeight;
  for (const [w, op] of OPS) {
    if ((x -= w) < 0) return op;
  }
  return OPS[0][1];
}

process.on('uncaughtException', (error) => {
  console.error(error);
  server.child.kill('SIGKILL');
  process.exit(2);
});
process.on('unhandledRejection', (error) => {
  console.error(error);
  server.child.kill('SIGKILL');
  process.exit(2);
});

console.log(`soak: ${SECONDS} s, ${CONCURRENCY} concurrent clients, one server (SQLite, production settings)`);
const startedAt = performance.now();
const deadline = Date.now() + SECONDS * 1000;
const rssSamples = [{ t: 0, rss: rssMiB() }];
console.log(`t=0s rss=${rssSamples[0].rss} MiB`);
let lastRequests = 0;
const sampler = setInterval(() => {
  const t = Math.round((performance.now() - startedAt) / 1000);
  const sample = { t, rss: rssMiB() };
  rssSamples.push(sample);
  console.log(`t=${t}s rss=${sample.rss} MiB requests=${requests} (+${requests - lastRequests}) triggered=${triggered.length} errors=${[...errors.values()].reduce((a, b) => a + b, 0)}`);
  lastRequests = requests;
}, SAMPLE_MS);

let networkErrors = 0;
await Promise.all(
  Array.from({ length: CONCURRENCY }, async () => {
    while (Date.now() < deadline) {
      try {
        await nextOp()();
      } catch (error) {
        networkErrors += 1;
        errors.set(`network ${error?.cause?.code ?? error?.message}`, (errors.get(`network ${error?.cause?.code ?? error?.message}`) ?? 0) + 1);
      }
    }
  }),
);
clearInterval(sampler);

// every triggered execution must reach a terminal state (the drain retries refused reads: an
// address still limited after the failed-auth traffic answers 429 until its window ends)
const drainDeadline = Date.now() + 120_000;
const states = new Map();
async function readAllStates() {
  const seen = new Map();
  for (let offset = 0; ; offset += 500) {
    const page = await request('GET', `/api/v1/executions?workflowId=soak&limit=500&offset=${offset}`);
    if (page.status !== 200) return null;
    const body = page.json();
    for (const e of body.items) seen.set(e.id, e.state);
    if (!body.hasMore) return seen;
  }
}
for (;;) {
  const seen = await readAllStates().catch(() => null);
  if (seen) {
    states.clear();
    for (const [id, state] of seen) states.set(id, state);
    if (triggered.every((id) => TERMINAL.has(states.get(id)))) break;
  }
  if (Date.now() > drainDeadline) break;
  await new Promise((r) => setTimeout(r, 500));
}
const finalRss = rssMiB();
await stopChild(server.child);

const byState = {};
for (const id of triggered) {
  const s = states.get(id) ?? 'MISSING';
  byState[s] = (byState[s] ?? 0) + 1;
}
const lost = triggered.filter((id) => !TERMINAL.has(states.get(id))).length;
const errorCount = [...errors.values()].reduce((a, b) => a + b, 0);

const pct = (sorted, p) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] : NaN);
console.log('');
console.log('| route | requests | p50 ms | p99 ms |');
console.log('|---|---|---|---|');
for (const [route, values] of [...latencies.entries()].sort()) {
  const sorted = values.sort((a, b) => a - b);
  console.log(`| ${route} | ${sorted.length} | ${pct(sorted, 50).toFixed(1)} | ${pct(sorted, 99).toFixed(1)} |`);
}
console.log('');
const rssValues = rssSamples.map((s) => s.rss).filter(Number.isFinite);
console.log(`RSS: start ${rssSamples[0].rss} MiB, max ${Math.max(...rssValues, finalRss)} MiB, end ${finalRss} MiB (after draining)`);
console.log(`requests: ${requests} in ${SECONDS} s (${Math.round(requests / SECONDS)}/s)`);
console.log(`executions: triggered ${triggered.length}, final states ${JSON.stringify(byState)}`);
console.log(`errors: ${errorCount}${errorCount ? ` ${JSON.stringify(Object.fromEntries(errors))}` : ''} (must be 0)`);
console.log(`executions lost: ${lost} (must be 0)`);
if (errorCount > 0 || lost > 0) process.exitCode = 1;
