// npm run bench:tools — one 2-task tool (output + log) called three ways against one server, in
// the same run: MCP `tools/call` (POST /mcp, JSON-RPC, stateless), REST `POST /api/v1/tools/:name`,
// and the plain trigger `POST /api/v1/workflows/:id/executions?wait=5s` (the baseline: the same
// execution without the tool surface). Prints req/s and p50/p99 each (means over BENCH_ROUNDS
// rounds of BENCH_SECONDS, default 2 x 10 s), and the ratios.
// Direction (issue 8 §5): MCP >= 0.5 x the trigger.
//
// Every measured request must be answered 200 (finished within the wait): a 202 "still running"
// would be cheaper than a finished call and flatter the number, so it invalidates the run.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { load, printTable, startChild, stopChild, tempDir } from './lib.mjs';

const dir = tempDir('autokestra-bench-tools-');
const key = randomBytes(32).toString('hex');
const env = {
  AUTOKESTRA_API_KEYS: key,
  AUTOKESTRA_DATABASE_URL: join(dir, 'bench.db'),
  AUTOKESTRA_CONFIG: '',
  BENCH_LOG: join(dir, 'server.log'),
  // 50 connections each wait for their own execution: enough workers that none queues behind another
  BENCH_WORKERS: process.env.BENCH_WORKERS ?? '64',
};

/** measurements per target, in alternating order; the table shows their means */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const WORKFLOW = 'bench-tool';
const TOOL = 'bench_tool';
const yaml = [
  `id: ${WORKFLOW}`,
  'namespace: bench',
  'description: benchmark tool',
  'inputs:',
  '  - {id: name, type: string, default: world, description: "who to greet"}',
  'outputs:',
  '  - {id: greeting, type: string, value: "{{ outputs.greet.text }}"}',
  'tool:',
  `  name: ${TOOL}`,
  '  wait: 5s',
  'tasks:',
  '  - {id: greet, type: output, values: {text: "hello {{ inputs.name }}"}}',
  '  - {id: say, type: log, message: "{{ outputs.greet.text }}"}',
  '',
].join('\n');

const auth = { authorization: `Bearer ${key}` };
const json = { ...auth, 'content-type': 'application/json' };
const mcpHeaders = { ...json, accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-06-18' };
const args = { name: 'bench' };

const ours = await startChild(new URL('./autokestra-server.mjs', import.meta.url).pathname, env);
const base = ours.url;

const targets = [
  {
    title: `POST /api/v1/workflows/:id/executions?wait=5s (trigger)`,
    url: `${base}/api/v1/workflows/${WORKFLOW}/executions?wait=5s`,
    headers: json,
    body: JSON.stringify({ inputs: args }),
    check: (status, text) => status === 200 && JSON.parse(text).state === 'SUCCESS',
  },
  {
    title: `REST POST /api/v1/tools/:name`,
    url: `${base}/api/v1/tools/${TOOL}`,
    headers: json,
    body: JSON.stringify({ inputs: args }),
    check: (status, text) => status === 200 && JSON.parse(text).status === 'SUCCESS',
  },
  {
    title: 'MCP tools/call (POST /mcp)',
    url: `${base}/mcp`,
    headers: mcpHeaders,
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: TOOL, arguments: args } }),
    check: (status, text) => status === 200 && mcpResult(text)?.structuredContent?.status === 'SUCCESS' && mcpResult(text)?.isError !== true,
  },
];

/** The JSON-RPC result of an MCP answer, sent as JSON or as one SSE `message` event. */
function mcpResult(text) {
  const trimmed = text.trim();
  const payload = trimmed.startsWith('{')
    ? trimmed
    : trimmed
        .split('\n')
        .filter((line) => line.startsWith('data:'))
        .map((line) => line.slice(5).trim())
        .find((data) => data.includes('"result"') || data.includes('"error"'));
  if (!payload) return undefined;
  return JSON.parse(payload).result;
}

/** Autocannon counts any 2xx as success: insist on 200 only (a 202 is an unfinished call). */
async function measure(title, target, duration) {
  return load(title, { url: target.url, method: 'POST', headers: target.headers, body: target.body, ...(duration ? { duration } : {}) }, { only: 200 });
}

const rows = [];
try {
  let res = await fetch(`${base}/api/v1/workflows/${WORKFLOW}`, { method: 'PUT', headers: { ...auth, 'content-type': 'application/yaml' }, body: yaml });
  if (res.status !== 201) throw new Error(`apply failed: ${res.status} ${await res.text()}`);
  // one call each by hand first: the benchmark measures correct answers only
  for (const target of targets) {
    res = await fetch(target.url, { method: 'POST', headers: target.headers, body: target.body });
    const text = await res.text();
    if (!target.check(res.status, text)) throw new Error(`${target.title}: unexpected answer ${res.status} ${text.slice(0, 500)}`);
  }
  for (const target of targets) await measure('warmup', target, 2);
  // Every call adds an execution: later measurements run on a bigger database. Rounds in
  // alternating order (A B C, C B A, ...) spread that drift evenly over the three targets.
  const runs = new Map(targets.map((t) => [t.title, []]));
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? targets : [...targets].reverse();
    for (const target of order) runs.get(target.title).push(await measure(target.title, target));
  }
  const mean = (values) => values.reduce((a, b) => a + b, 0) / values.length;
  for (const target of targets) {
    const r = runs.get(target.title);
    rows.push({ title: target.title, rps: mean(r.map((x) => x.rps)), p50: Math.round(mean(r.map((x) => x.p50))), p99: Math.round(mean(r.map((x) => x.p99))) });
  }
} finally {
  await stopChild(ours.child);
}

printTable(rows);
const [trigger, rest, mcp] = rows;
console.log(`\n(means of ${ROUNDS} rounds of ${process.env.BENCH_SECONDS ?? 10} s each, 50 connections)`);
console.log('');
console.log(`ratio REST / trigger: ${(rest.rps / trigger.rps).toFixed(2)}`);
console.log(`ratio MCP / trigger:  ${(mcp.rps / trigger.rps).toFixed(2)} (direction: >= 0.5)`);
