// npm run bench:auth — one authenticated route (GET /api/v1/status) with a managed key vs the
// same route with a static key, and a @Public() route (GET /health/live), in the same run.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { load, printTable, startChild, stopChild, tempDir } from './lib.mjs';

const dir = tempDir('autokestra-bench-auth-');
const staticKey = randomBytes(32).toString('hex');
const server = await startChild(new URL('./autokestra-server.mjs', import.meta.url).pathname, {
  AUTOKESTRA_API_KEYS: staticKey,
  AUTOKESTRA_DATABASE_URL: join(dir, 'bench.db'),
  AUTOKESTRA_CONFIG: '',
  BENCH_LOG: join(dir, 'server.log'),
});
const created = await fetch(`${server.url}/api/v1/api-keys`, {
  method: 'POST',
  headers: { authorization: `Bearer ${staticKey}`, 'content-type': 'application/json' },
  body: JSON.stringify({ label: 'bench', scopes: ['workflows:read'] }),
});
if (created.status !== 201) throw new Error(`key creation failed: ${created.status}`);
const managedKey = (await created.json()).key;

const rows = [];
try {
  await load('warmup', { url: `${server.url}/api/v1/status`, headers: { authorization: `Bearer ${managedKey}` }, duration: 2 });
  await load('warmup', { url: `${server.url}/api/v1/status`, headers: { authorization: `Bearer ${staticKey}` }, duration: 2 });
  rows.push(await load('GET /api/v1/status, managed key', { url: `${server.url}/api/v1/status`, headers: { authorization: `Bearer ${managedKey}` } }));
  rows.push(await load('GET /api/v1/status, static key', { url: `${server.url}/api/v1/status`, headers: { authorization: `Bearer ${staticKey}` } }));
  rows.push(await load('GET /health/live, @Public()', { url: `${server.url}/health/live` }));
} finally {
  await stopChild(server.child);
}
printTable(rows);
const [managed, stat, pub] = rows;
console.log(`\nmanaged / static: ${(managed.rps / stat.rps).toFixed(3)} (managed key costs ${((1 - managed.rps / stat.rps) * 100).toFixed(1)} % over a static key; direction: < 10 %)`);
console.log(`static / public:  ${(stat.rps / pub.rps).toFixed(3)}`);
