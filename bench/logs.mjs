// npm run bench:logs — log ingest (lines/s through the engine's batched writer) and page
// latency of the 100 newest lines of an execution holding 1,000,000 lines, over HTTP.
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { load, printTable, startChild, stopChild, tempDir } from './lib.mjs';

const require = createRequire(import.meta.url);
const { openStore } = require('../dist/engine/store/open-store.js');
const { LogWriter } = require('../dist/engine/runtime/log-writer.js');
const { SecretMasker } = require('../dist/engine/expressions/index.js');

const LINES = Number(process.env.BENCH_LINES ?? 1_000_000);
const dir = tempDir('autokestra-bench-logs-');
const dbPath = join(dir, 'bench.db');
const key = randomBytes(32).toString('hex');

// 1. a workflow and one execution to hold the lines, written through the store
const { store } = await openStore({ url: dbPath });
const definition = { id: 'noisy', namespace: 'default', description: null, labels: {}, inputs: [], variables: {}, timeoutMs: null, concurrency: null, tasks: [{ id: 'talk', type: 'log', description: null, timeoutMs: null, retry: null, message: 'x', level: 'info' }], errors: [], triggers: [] };
await store.applyWorkflow({ id: 'noisy', namespace: 'default', description: null, source: 'id: noisy', definition, now: Date.now() });
const executionId = 'BENCHLOGS0000000000000000';
await store.executions.insertExecution({ id: executionId, workflowId: 'noisy', namespace: 'default', revision: 1, inputs: {}, labels: {}, trigger: { type: 'api' }, createdAt: Date.now(), concurrencyLimit: null, timeoutMs: null, parentExecutionId: null, depth: 0, idempotencyKey: null, idempotencyHash: null });

// 2. ingest through the batched writer (the path tasks use), masking on
const masker = new SecretMasker(['never-in-these-lines']);
const writer = new LogWriter(store.executions, masker, { flushIntervalMs: 50, maxBuffered: 1000, onError: (e) => { throw e; } });
const levels = ['DEBUG', 'INFO', 'INFO', 'INFO', 'WARN', 'ERROR'];
const t0 = performance.now();
for (let i = 0; i < LINES; i++) {
  writer.write({ executionId, taskId: 'talk', taskRunId: null, attempt: 1, level: levels[i % levels.length], ts: Date.now(), message: `line ${i}: the quick brown fox jumps over the lazy dog` });
  if (i % 10_000 === 9_999) await writer.flush();
}
await writer.flush();
const ingestSeconds = (performance.now() - t0) / 1000;
await store.close();

// 3. page latency over HTTP against the real server on the same file
const server = await startChild(new URL('./autokestra-server.mjs', import.meta.url).pathname, { AUTOKESTRA_API_KEYS: key, AUTOKESTRA_DATABASE_URL: dbPath, AUTOKESTRA_CONFIG: '', BENCH_LOG: join(dir, 'server.log') });
const headers = { authorization: `Bearer ${key}` };
const base = `${server.url}/api/v1/executions/${executionId}/logs`;
const first = await (await fetch(`${base}?limit=100`, { headers })).json();
if (first.items.length !== 100) throw new Error('expected 100 lines');
const middle = first.items[99].id - 500_000;
const rows = [];
try {
  await load('warmup', { url: `${base}?limit=100`, headers, duration: 2, connections: 10 });
  // latency: one client at a time (what a user paging sees); throughput: 10 concurrent clients
  rows.push(await load('100 newest of 1M lines, 1 client', { url: `${base}?limit=100`, headers, connections: 1 }));
  rows.push(await load('100 before a cursor half-way (before=), 1 client', { url: `${base}?limit=100&before=${middle}`, headers, connections: 1 }));
  rows.push(await load('100 newest at level >= WARN, 1 client', { url: `${base}?limit=100&level=WARN`, headers, connections: 1 }));
  rows.push(await load('100 newest of 1M lines, 10 clients', { url: `${base}?limit=100`, headers, connections: 10 }));
} finally {
  await stopChild(server.child);
}
printTable(rows);
console.log(`\ningest: ${LINES} lines in ${ingestSeconds.toFixed(2)} s → ${Math.round(LINES / ingestSeconds)} lines/s (batched writer, SQLite)`);
console.log('direction: page p99 < 10 ms');
