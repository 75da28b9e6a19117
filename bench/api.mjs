// npm run bench:api — authenticated GET /api/v1/workflows/:id vs a bare Fastify server returning
// the same JSON from memory, measured in the same run. Prints req/s, p99 and the ratio.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { load, printTable, startChild, stopChild, tempDir } from './lib.mjs';

const dir = tempDir('autokestra-bench-api-');
const key = randomBytes(32).toString('hex');
const env = { AUTOKESTRA_API_KEYS: key, AUTOKESTRA_DATABASE_URL: join(dir, 'bench.db'), AUTOKESTRA_CONFIG: '', BENCH_LOG: join(dir, 'server.log') };

const ours = await startChild(new URL('./autokestra-server.mjs', import.meta.url).pathname, env);
const yaml = ['id: bench', 'namespace: bench', 'description: benchmark workflow', 'tasks:', '  - {id: hello, type: log, message: "hello {{ inputs.name }}"}', '  - {id: wait, type: sleep, duration: 10ms}', ''].join('\n');
const headers = { authorization: `Bearer ${key}` };
let res = await fetch(`${ours.url}/api/v1/workflows/bench`, { method: 'PUT', headers: { ...headers, 'content-type': 'application/yaml' }, body: yaml });
if (res.status !== 201) throw new Error(`apply failed: ${res.status} ${await res.text()}`);
res = await fetch(`${ours.url}/api/v1/workflows/bench`, { headers });
const body = await res.text();

const bare = await startChild(new URL('./bare-fastify.mjs', import.meta.url).pathname, { BENCH_BODY: body });
const rows = [];
try {
  // warm up both, then measure
  await load('warmup', { url: `${bare.url}/api/v1/workflows/bench`, duration: 2 });
  await load('warmup', { url: `${ours.url}/api/v1/workflows/bench`, headers, duration: 2 });
  rows.push(await load('bare Fastify, same JSON from memory', { url: `${bare.url}/api/v1/workflows/bench` }));
  rows.push(await load('Autokestra GET /api/v1/workflows/:id (Bearer key, SQLite)', { url: `${ours.url}/api/v1/workflows/bench`, headers }));
} finally {
  await stopChild(bare.child);
  await stopChild(ours.child);
}
printTable(rows);
console.log(`\nratio autokestra / bare: ${(rows[1].rps / rows[0].rps).toFixed(2)} (direction: >= 0.5)`);
