import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { load, startChild, stopChild, tempDir } from './lib.mjs';
function cpu(pid) { const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' '); return (Number(f[11]) + Number(f[12])) * 10000; }
const dir = tempDir('ak-');
const admin = randomBytes(32).toString('hex');
const ours = await startChild(new URL('./autokestra-server.mjs', import.meta.url).pathname, { AUTOKESTRA_API_KEYS: admin, AUTOKESTRA_DATABASE_URL: join(dir, 'b.db'), AUTOKESTRA_CONFIG: '', BENCH_LOG: join(dir, 's.log') });
try {
const h = { authorization: `Bearer ${admin}` };
const yaml = ['id: bench', 'namespace: bench', 'description: benchmark workflow', 'tasks:', '  - {id: hello, type: log, message: "hi"}', '  - {id: wait, type: sleep, duration: 10ms}', ''].join('\n');
await fetch(`${ours.url}/api/v1/workflows/bench`, { method: 'PUT', headers: { ...h, 'content-type': 'application/yaml' }, body: yaml });
const k = await (await fetch(`${ours.url}/api/v1/api-keys`, { method: 'POST', headers: { ...h, 'content-type': 'application/json' }, body: JSON.stringify({ scopes: ['workflows:read'] }) })).json();
const headers = { authorization: `Bearer ${k.key}` };
for (const path of (process.env.PATHS ?? '/api/v1/workflows/bench').split(',')) {
  await load('w', { url: `${ours.url}${path}`, headers, duration: 2 });
  const before = cpu(ours.child.pid);
  const r = await load('m', { url: `${ours.url}${path}`, headers, duration: Number(process.env.SECS ?? 4) });
  console.log(path, Math.round(r.rps), ((cpu(ours.child.pid) - before) / r.total).toFixed(1), 'µs/req');
}
} finally { await stopChild(ours.child); }
