// Shared helpers for the benchmarks: child-process servers and autocannon runs.
import { fork } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';

export const tempDir = (prefix) => mkdtempSync(join(tmpdir(), prefix));

/** Starts a server script in a child process; resolves with {url, child} once it reports ready. */
export function startChild(script, env = {}) {
  return new Promise((resolve, reject) => {
    // BENCH_CPU_PROF=<dir>: each server writes a V8 CPU profile there when it exits
    const execArgv = process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : [];
    const child = fork(script, [], { env: { ...process.env, ...env }, execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    child.once('message', (msg) => resolve({ url: msg.url, child }));
    child.once('exit', (code) => reject(new Error(`${script} exited with ${code}`)));
  });
}

export function stopChild(child) {
  return new Promise((resolve) => {
    child.removeAllListeners('exit');
    child.once('exit', resolve);
    child.kill('SIGTERM');
  });
}

/** `only`: the one status every response must have (e.g. 200 where a 202 would mean "not finished"). */
export async function load(title, opts, { only } = {}) {
  const result = await autocannon({ connections: 50, duration: Number(process.env.BENCH_SECONDS ?? 10), ...opts });
  if (result.non2xx > 0 || result.errors > 0) {
    throw new Error(`${title}: ${result.non2xx} non-2xx responses, ${result.errors} errors — the benchmark is invalid`);
  }
  const others = Object.entries(result.statusCodeStats ?? {}).filter(([code]) => only !== undefined && Number(code) !== only);
  if (others.length > 0) {
    throw new Error(`${title}: responses other than ${only}: ${others.map(([code, s]) => `${s.count} x ${code}`).join(', ')} — the benchmark is invalid`);
  }
  return { title, rps: result.requests.average, total: result.requests.total, p50: result.latency.p50, p99: result.latency.p99 };
}

export function printTable(rows) {
  console.log('');
  console.log('| target | req/s | p50 ms | p99 ms |');
  console.log('|---|---|---|---|');
  for (const r of rows) console.log(`| ${r.title} | ${Math.round(r.rps)} | ${r.p50} | ${r.p99} |`);
}
