// npm run bench:api — the hot reads with a managed key (GET /api/v1/workflows/:id and
// GET /api/v1/executions/:id) vs a bare Fastify server returning the same JSON from memory,
// measured in the same run. Prints req/s, p50/p99, the ratio, and the server's CPU time per
// request (from /proc: steadier than req/s when the load generator shares the 2 cores).
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { load, startChild, stopChild, tempDir } from './lib.mjs';

const dir = tempDir('autokestra-bench-api-');
const admin = randomBytes(32).toString('hex');
const env = { AUTOKESTRA_API_KEYS: admin, AUTOKESTRA_DATABASE_URL: join(dir, 'bench.db'), AUTOKESTRA_CONFIG: '', BENCH_LOG: join(dir, 'server.log') };

async function call(url, init, expected) {
  const res = await fetch(url, init);
  const text = await res.text();
  if (res.status !== expected) throw new Error(`${init?.method ?? 'GET'} ${url}: ${res.status} ${text}`);
  return text;
}

/** utime + stime of a process, in µs (Linux /proc; clock ticks are 100 Hz here). */
function cpuMicros(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}

const ours = await startChild(new URL('./autokestra-server.mjs', import.meta.url).pathname, env);
// a failed setup must not leave the server running (it would hold the terminal's pipe open)
for (const event of ['uncaughtException', 'unhandledRejection']) process.on(event, (error) => {
  console.error(error);
  ours.child.kill('SIGKILL');
  process.exit(1);
});
const asAdmin = { authorization: `Bearer ${admin}` };
const yaml = ['id: bench', 'namespace: bench', 'description: benchmark workflow', 'tasks:', '  - {id: hello, type: log, message: "hello from {{ execution.id }}"}', '  - {id: wait, type: sleep, duration: 10ms}', ''].join('\n');
await call(`${ours.url}/api/v1/workflows/bench`, { method: 'PUT', headers: { ...asAdmin, 'content-type': 'application/yaml' }, body: yaml }, 201);
const created = JSON.parse(
  await call(`${ours.url}/api/v1/api-keys`, { method: 'POST', headers: { ...asAdmin, 'content-type': 'application/json' }, body: JSON.stringify({ label: 'bench-reader', scopes: ['workflows:read', 'executions:read'] }) }, 201),
);
const headers = { authorization: `Bearer ${created.key}` };
const execution = JSON.parse(await call(`${ours.url}/api/v1/workflows/bench/executions?wait=30s`, { method: 'POST', headers: asAdmin }, 200));
if (execution.state !== 'SUCCESS') throw new Error(`the bench execution ended ${execution.state}`);

const targets = [
  { route: 'GET /api/v1/workflows/:id', path: '/api/v1/workflows/bench' },
  { route: 'GET /api/v1/executions/:id', path: `/api/v1/executions/${execution.id}` },
];
const bodies = {};
for (const t of targets) bodies[t.path] = JSON.parse(await call(`${ours.url}${t.path}`, { headers }, 200));
const bare = await startChild(new URL('./bare-fastify.mjs', import.meta.url).pathname, { BENCH_ROUTES: JSON.stringify(bodies) });

const measured = async (title, server, opts) => {
  const before = cpuMicros(server.child.pid);
  const row = await load(title, opts, { only: 200 });
  row.cpuPerRequest = (cpuMicros(server.child.pid) - before) / row.total;
  return row;
};

const rows = [];
try {
  for (const t of targets) {
    await load('warmup', { url: `${bare.url}${t.path}`, duration: 2 });
    await load('warmup', { url: `${ours.url}${t.path}`, headers, duration: 2 });
    const b = await measured('bare', bare, { url: `${bare.url}${t.path}` });
    const o = await measured('ours', ours, { url: `${ours.url}${t.path}`, headers });
    rows.push({ route: t.route, bare: b, ours: o });
  }
} finally {
  await stopChild(bare.child);
  await stopChild(ours.child);
}
console.log('\n| route (managed key, SQLite) | bare req/s | Autokestra req/s | ratio | p99 ms bare / ours | CPU µs/req bare / ours |');
console.log('|---|---|---|---|---|---|');
for (const { route, bare: b, ours: o } of rows) {
  console.log(`| \`${route}\` | ${Math.round(b.rps)} | ${Math.round(o.rps)} | ${(o.rps / b.rps).toFixed(2)} | ${b.p99} / ${o.p99} | ${Math.round(b.cpuPerRequest)} / ${Math.round(o.cpuPerRequest)} |`);
}
console.log('\ndirection: ratio >= 0.5 (issue 11 §6)');
