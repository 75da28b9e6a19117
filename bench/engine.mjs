// npm run bench:engine — N executions (default 2000) of a 2-task workflow triggered over HTTP,
// end to end: executions/s and trigger→SUCCESS latency (p50/p99, from the server's timestamps).
//
// BENCH_DATABASE=postgres runs the same workflow three ways in one run: SQLite (the baseline),
// PostgreSQL with 1 replica, and PostgreSQL with BENCH_REPLICAS (default 2) serve processes on
// one database, triggered round-robin; each PostgreSQL leg creates and drops its own database
// (BENCH_PG_URL, default postgresql://postgres@127.0.0.1:5432/postgres, is the admin connection).
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { startChild, stopChild, tempDir } from './lib.mjs';

const N = Number(process.env.BENCH_EXECUTIONS ?? 2000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 64);
const WORKERS = process.env.BENCH_WORKERS ?? '64';
const DATABASE = process.env.BENCH_DATABASE ?? 'sqlite';
const REPLICAS = Number(process.env.BENCH_REPLICAS ?? 2);
const PG_ADMIN = process.env.BENCH_PG_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
if (!['sqlite', 'postgres'].includes(DATABASE)) throw new Error(`BENCH_DATABASE must be sqlite or postgres, not ${DATABASE}`);

const yaml = ['id: bench', 'tasks:', '  - {id: greet, type: log, message: "hello {{ execution.id }}"}', '  - {id: result, type: output, values: {n: "{{ 1 + 1 }}"}}', ''].join('\n');

async function pgAdmin(sql) {
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: PG_ADMIN });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** One measurement: `replicas` server processes on `databaseUrl`, N triggers spread round-robin. */
async function runLeg(label, databaseUrl, replicas) {
  const dir = tempDir('autokestra-bench-engine-');
  const key = randomBytes(32).toString('hex');
  const headers = { authorization: `Bearer ${key}` };
  const servers = [];
  // one after the other: the first one migrates the new database
  for (let i = 0; i < replicas; i++) {
    servers.push(
      await startChild(new URL('./autokestra-server.mjs', import.meta.url).pathname, {
        AUTOKESTRA_API_KEYS: key,
        AUTOKESTRA_DATABASE_URL: databaseUrl,
        AUTOKESTRA_CONFIG: '',
        BENCH_LOG: join(dir, `server-${i}.log`),
        BENCH_WORKERS: WORKERS,
        BENCH_POLL_MS: '50',
      }),
    );
  }
  const api = (path, init = {}) => fetch(`${servers[0].url}${path}`, { ...init, headers: { ...headers, ...(init.headers ?? {}) } });
  const res = await api('/api/v1/workflows/bench', { method: 'PUT', headers: { 'content-type': 'application/yaml' }, body: yaml });
  if (res.status !== 201) throw new Error(`apply failed: ${res.status}`);

  // autocannon fires exactly N triggers with CONCURRENCY connections, split evenly over the
  // replicas (round-robin): a light client, so the numbers describe the servers rather than the
  // load generator (everything shares this machine's 2 cores).
  const started = performance.now();
  const runs = await Promise.all(
    servers.map((s, i) =>
      autocannon({
        url: `${s.url}/api/v1/workflows/bench/executions`,
        method: 'POST',
        headers,
        connections: Math.max(1, Math.round(CONCURRENCY / replicas)),
        amount: Math.floor(N / replicas) + (i < N % replicas ? 1 : 0),
      }),
    ),
  );
  for (const run of runs) if (run.non2xx > 0 || run.errors > 0) throw new Error(`triggers failed: ${run.non2xx} non-2xx, ${run.errors} errors`);
  const triggeredMs = performance.now() - started;

  const countIn = async (state) => (await (await api(`/api/v1/executions?workflowId=bench&state=${state}&limit=1`)).json()).items.length;
  for (;;) {
    if ((await countIn('QUEUED')) === 0 && (await countIn('RUNNING')) === 0) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  const totalMs = performance.now() - started;

  // collect server-side timings
  const latencies = [];
  const states = {};
  for (let offset = 0; ; offset += 500) {
    const page = await (await api(`/api/v1/executions?workflowId=bench&limit=500&offset=${offset}`)).json();
    for (const e of page.items) {
      states[e.state] = (states[e.state] ?? 0) + 1;
      latencies.push(Date.parse(e.endedAt) - Date.parse(e.createdAt));
    }
    if (!page.hasMore) break;
  }
  for (const s of servers) await stopChild(s.child);
  latencies.sort((a, b) => a - b);
  const pct = (p) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))];
  const perSecond = Math.round(N / (totalMs / 1000));
  console.log(`\n${label}: ${N} executions (2 tasks each), trigger concurrency ${CONCURRENCY}, workers ${WORKERS} per replica`);
  console.log(`states: ${JSON.stringify(states)}`);
  console.log(`triggered in ${(triggeredMs / 1000).toFixed(2)} s (${Math.round(N / (triggeredMs / 1000))} triggers/s)`);
  console.log(`all finished in ${(totalMs / 1000).toFixed(2)} s → ${perSecond} executions/s end to end`);
  console.log(`trigger→SUCCESS latency: p50 ${pct(50)} ms, p99 ${pct(99)} ms`);
  const lost = N - (states.SUCCESS ?? 0);
  if (lost !== 0) process.exitCode = 1;
  return { label, perSecond, p50: pct(50), p99: pct(99), lost };
}

async function runPostgresLeg(label, replicas) {
  const name = `autokestra_bench_${randomBytes(4).toString('hex')}`;
  await pgAdmin(`create database ${name}`);
  try {
    const url = new URL(PG_ADMIN);
    url.pathname = `/${name}`;
    return await runLeg(label, url.toString(), replicas);
  } finally {
    await pgAdmin(`drop database if exists ${name} with (force)`);
  }
}

const sqlite = await runLeg('SQLite', join(tempDir('autokestra-bench-engine-'), 'bench.db'), 1);
if (DATABASE === 'postgres') {
  const legs = [sqlite, await runPostgresLeg('PostgreSQL, 1 replica', 1), await runPostgresLeg(`PostgreSQL, ${REPLICAS} replicas`, REPLICAS)];
  console.log('\n| store | executions/s | × SQLite | p50 ms | p99 ms | lost |');
  console.log('|---|---|---|---|---|---|');
  for (const l of legs) console.log(`| ${l.label} | ${l.perSecond} | ${(l.perSecond / sqlite.perSecond).toFixed(2)} | ${l.p50} | ${l.p99} | ${l.lost} |`);
  console.log('(directions: PostgreSQL 1 replica >= 0.5 × SQLite; replicas lose nothing)');
} else {
  console.log('(direction: >= 1000 executions/s)');
}
