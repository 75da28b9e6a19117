/**
 * SSRF forms for the http task (docs/security.md "SSRF protection"; src/engine/tasks/ssrf.ts):
 * loopback, unspecified, link-local and cloud-metadata addresses in every notation the URL
 * parser accepts (decimal, octal, hex, short forms, percent-encoded and full-width digits,
 * IPv4-mapped / -compatible / SIIT / NAT64 IPv6), DNS names resolving to loopback, user-info
 * tricks, other schemes, and redirects to all of these. Each is refused — at apply (400
 * INVALID_WORKFLOW) or at run time (the task FAILS with kind SSRF_DENIED, or INVALID_REQUEST for
 * a non-http scheme) — and the victim listening on 127.0.0.1 receives nothing. URLs are tried
 * both written in the workflow and passed as an input (no apply-time check can see those).
 *
 * One allowed origin exists, 127.0.0.2 (engine.tasks.http.allowCidrs), which serves redirects.
 */
import { lookup } from 'node:dns/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../support/server';
import { expectError, uniqueId } from '../e2e/helpers';
import { apply, runsOf, start, waitTerminal } from '../e2e/engine-helpers';
import { expectHealthy } from './hostile-helpers';

let server: TestServer;
let victim: Server;
let redirector: Server | null = null;
let victimPort = 0;
let redirectorPort = 0;
let victimHits = 0;
let redirectorHits = 0;
const resolvesToLoopback = new Map<string, boolean>();
const DNS_NAMES = ['localhost', 'LOCALHOST', 'LocalHost', 'runsc', 'vm', 'ip6-localhost', 'localhost.localdomain'];

beforeAll(async () => {
  victim = createServer((_req, res) => {
    victimHits += 1;
    res.end('you reached the victim');
  });
  await new Promise<void>((resolve) => victim.listen(0, '127.0.0.1', resolve));
  victimPort = (victim.address() as AddressInfo).port;

  const candidate = createServer((req, res) => {
    redirectorHits += 1;
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/ok') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"ok":true}');
      return;
    }
    res.writeHead(Number(url.searchParams.get('status') ?? 302), { location: url.searchParams.get('to') ?? '/ok' });
    res.end();
  });
  try {
    await new Promise<void>((resolve, reject) => {
      candidate.once('error', reject);
      candidate.listen(0, '127.0.0.2', resolve);
    });
    redirector = candidate;
    redirectorPort = (candidate.address() as AddressInfo).port;
  } catch {
    redirector = null;
  }

  for (const name of DNS_NAMES) {
    const addresses = await lookup(name, { all: true }).catch(() => []);
    resolvesToLoopback.set(name, addresses.length > 0 && addresses.every((a) => a.address.startsWith('127.') || a.address === '::1'));
  }

  server = await startTestServer({ configure: (c) => (c.engine.tasks.http.allowCidrs = ['127.0.0.2/32']) });
});

afterAll(async () => {
  await server?.close();
  for (const s of [victim, redirector]) if (s) await new Promise((resolve) => s.close(resolve));
});

const P = () => String(victimPort);

/** Runs one http task against `url` (static: written in the YAML; dynamic: an input). */
async function callOnce(url: string, mode: 'static' | 'dynamic', extra = ''): Promise<{ refusedAtApply: boolean; execution?: any }> {
  const id = uniqueId('ssrf');
  const urlValue = mode === 'static' ? JSON.stringify(url) : '"{{ inputs.u }}"';
  const yaml = `id: ${id}\ninputs: [{id: u, type: string, required: false}]\ntasks:\n  - {id: call, type: http, url: ${urlValue}, timeout: 3s${extra}}\n`;
  const res = await server.request('PUT', `/api/v1/workflows/${id}`, { raw: yaml, contentType: 'application/yaml' });
  if (res.status === 400) {
    expectError(res, 400, 'INVALID_WORKFLOW');
    return { refusedAtApply: true };
  }
  expect([200, 201], res.text).toContain(res.status);
  const execution = await waitTerminal(server, await start(server, id, { inputs: mode === 'dynamic' ? { u: url } : {} }), 20_000);
  return { refusedAtApply: false, execution };
}

/** The call is refused with `kind` (or at apply when static) and the victim saw nothing. */
async function expectRefused(url: string, mode: 'static' | 'dynamic', kinds: string[], extra = ''): Promise<void> {
  const before = victimHits;
  const { refusedAtApply, execution } = await callOnce(url, mode, extra);
  if (refusedAtApply) {
    expect(mode, 'only a URL written in the workflow can be refused at apply').toBe('static');
  } else {
    expect(execution.state, JSON.stringify(execution.error)).toBe('FAILED');
    expect(kinds, JSON.stringify(execution.error)).toContain(execution.error.kind);
    expect(execution.error.taskId).toBe('call');
    expect(runsOf(execution, 'call').at(-1).state).toBe('FAILED');
  }
  expect(victimHits, 'the victim received a request').toBe(before);
}

/** Loopback / unspecified forms that reach the victim on 127.0.0.1:PORT if not refused. */
const LOOPBACK: Array<[string, () => string]> = [
  ['dotted decimal', () => `http://127.0.0.1:${P()}/`],
  ['another loopback address', () => `http://127.255.255.254:${P()}/`],
  ['a single decimal number', () => `http://2130706433:${P()}/`],
  ['a single hex number', () => `http://0x7f000001:${P()}/`],
  ['a single octal number', () => `http://017700000001:${P()}/`],
  ['hex first octet', () => `http://0x7f.0.0.1:${P()}/`],
  ['octal first octet', () => `http://0177.0.0.1:${P()}/`],
  ['leading zeros in every octet', () => `http://0177.0000.0000.0001:${P()}/`],
  ['mixed hex and octal octets', () => `http://0x7f.0.0.01:${P()}/`],
  ['two parts (127.1)', () => `http://127.1:${P()}/`],
  ['three parts (127.0.1)', () => `http://127.0.1:${P()}/`],
  ['a trailing dot', () => `http://127.0.0.1.:${P()}/`],
  ['percent-encoded digits', () => `http://%31%32%37.0.0.1:${P()}/`],
  ['full-width digits', () => `http://\uff11\uff12\uff17.\uff10.\uff10.\uff11:${P()}/`],
  ['an upper-case scheme', () => `HTTP://127.0.0.1:${P()}/`],
  ['0.0.0.0', () => `http://0.0.0.0:${P()}/`],
  ['0 (the unspecified address, short)', () => `http://0:${P()}/`],
  ['[::1]', () => `http://[::1]:${P()}/`],
  ['[::1] written in full', () => `http://[0:0:0:0:0:0:0:1]:${P()}/`],
  ['[::] (unspecified IPv6)', () => `http://[::]:${P()}/`],
  ['IPv4-mapped [::ffff:127.0.0.1]', () => `http://[::ffff:127.0.0.1]:${P()}/`],
  ['IPv4-mapped in hex [::ffff:7f00:1]', () => `http://[::ffff:7f00:1]:${P()}/`],
  ['IPv4-mapped written in full', () => `http://[0:0:0:0:0:ffff:127.0.0.1]:${P()}/`],
  ['IPv4-compatible [::127.0.0.1]', () => `http://[::127.0.0.1]:${P()}/`],
  ['SIIT [::ffff:0:127.0.0.1]', () => `http://[::ffff:0:127.0.0.1]:${P()}/`],
  ['NAT64 [64:ff9b::127.0.0.1]', () => `http://[64:ff9b::7f00:1]:${P()}/`],
  ['user info naming the allowed host', () => `http://127.0.0.2:${redirectorPort}@127.0.0.1:${P()}/`],
  ['user info that looks like a host', () => `http://allowed.example.org@127.0.0.1:${P()}/`],
  ['a fragment that looks like a host', () => `http://127.0.0.1:${P()}#@127.0.0.2/`],
  ['a backslash before the allowed host', () => `http://127.0.0.1:${P()}\\@127.0.0.2/`],
  ['a query that looks like a host', () => `http://127.0.0.1:${P()}?@127.0.0.2/`],
];

/** Metadata and link-local forms (nothing listens there; refused before any connection). */
const METADATA: Array<[string, string]> = [
  ['the metadata address', 'http://169.254.169.254/latest/meta-data/'],
  ['the metadata address in hex', 'http://0xa9fea9fe/latest/meta-data/'],
  ['the metadata address as one decimal', 'http://2852039166/latest/meta-data/'],
  ['the metadata address in octal', 'http://0251.0376.0251.0376/'],
  ['the metadata address in three parts', 'http://169.254.43518/'],
  ['the metadata address IPv4-mapped', 'http://[::ffff:169.254.169.254]/'],
  ['the metadata address IPv4-mapped in hex', 'http://[::ffff:a9fe:a9fe]/'],
  ['AWS IMDS over IPv6', 'http://[fd00:ec2::254]/latest/meta-data/'],
  ['GCP metadata over IPv6', 'http://[fd20:ce::254]/'],
  ['Alibaba metadata', 'http://100.100.100.200/latest/meta-data/'],
  ['Oracle legacy metadata', 'http://192.0.0.192/'],
  ['Azure WireServer', 'http://168.63.129.16/'],
  ['an IPv4 link-local address', 'http://169.254.0.1/'],
  ['an IPv6 link-local address', 'http://[fe80::1]/'],
  ['an IPv6 link-local address embedding the metadata address', 'http://[fe80::a9fe:a9fe]/'],
];

describe.each(['static', 'dynamic'] as const)('SSRF: loopback forms (%s URL)', (mode) => {
  it.each(LOOPBACK)('refuses %s', async (_what, url) => {
    await expectRefused(url(), mode, ['SSRF_DENIED']);
  });

  it.for(DNS_NAMES)('refuses the name %s when it resolves to loopback', async (name, ctx) => {
    if (!resolvesToLoopback.get(name)) return ctx.skip();
    await expectRefused(`http://${name}:${P()}/`, mode, ['SSRF_DENIED']);
  });
});

describe.each(['static', 'dynamic'] as const)('SSRF: metadata and link-local forms (%s URL)', (mode) => {
  it.each(METADATA)('refuses %s', async (_what, url) => {
    await expectRefused(url, mode, ['SSRF_DENIED']);
  });
});

describe.each(['static', 'dynamic'] as const)('SSRF: other schemes and unparsable URLs (%s URL)', (mode) => {
  it.each([
    'file:///etc/passwd',
    'ftp://127.0.0.1/',
    'gopher://127.0.0.1:70/_GET%20/',
    'dict://127.0.0.1:11211/stats',
    'ldap://127.0.0.1/',
    'data:text/plain,hello',
    'javascript:alert(1)',
    'ws://127.0.0.1:1/',
    'http://[fe80::1%25lo]/',
  ])('refuses %s', async (url) => {
    await expectRefused(url, mode, ['INVALID_REQUEST', 'SSRF_DENIED']);
  });
});

describe('SSRF: redirects from an allowed origin are checked at every hop', () => {
  const via = (to: string, status = 302) => `http://127.0.0.2:${redirectorPort}/r?status=${status}&to=${encodeURIComponent(to)}`;

  it('calls the allowed origin itself (the check is not a blanket refusal)', async (ctx) => {
    if (!redirector) return ctx.skip();
    const { execution } = await callOnce(`http://127.0.0.2:${redirectorPort}/ok`, 'static');
    expect(execution.state, JSON.stringify(execution.error)).toBe('SUCCESS');
    expect(execution.outputs.call.body).toEqual({ ok: true });
  });

  it.for([
    ['to 127.0.0.1', () => `http://127.0.0.1:${P()}/`, 302],
    ['to 127.0.0.1 with 301', () => `http://127.0.0.1:${P()}/`, 301],
    ['to 127.0.0.1 with 303', () => `http://127.0.0.1:${P()}/`, 303],
    ['to 127.0.0.1 with 307', () => `http://127.0.0.1:${P()}/`, 307],
    ['to 127.0.0.1 with 308', () => `http://127.0.0.1:${P()}/`, 308],
    ['to localhost', () => `http://localhost:${P()}/`, 302],
    ['to [::1]', () => `http://[::1]:${P()}/`, 302],
    ['to a decimal loopback', () => `http://2130706433:${P()}/`, 302],
    ['to a short hex loopback', () => `http://0x7f.1:${P()}/`, 302],
    ['to an IPv4-mapped loopback', () => `http://[::ffff:127.0.0.1]:${P()}/`, 302],
    ['protocol-relative to 127.0.0.1', () => `//127.0.0.1:${P()}/`, 302],
    ['to the metadata address', () => 'http://169.254.169.254/latest/meta-data/', 302],
    ['to AWS IMDS over IPv6', () => 'http://[fd00:ec2::254]/', 302],
    ['through a second hop to 127.0.0.1', () => `http://127.0.0.2:${redirectorPort}/r?to=${encodeURIComponent(`http://127.0.0.1:${P()}/`)}`, 302],
  ] as Array<[string, () => string, number]>)('refuses a redirect %s', async ([, to, status], ctx) => {
    if (!redirector) return ctx.skip();
    const hops = redirectorHits;
    await expectRefused(via(to(), status), 'dynamic', ['SSRF_DENIED']);
    expect(redirectorHits, 'the allowed origin was called').toBeGreaterThan(hops);
  });

  it.for(['file:///etc/passwd', 'gopher://127.0.0.1:70/'])('refuses a redirect to %s', async (to, ctx) => {
    if (!redirector) return ctx.skip();
    await expectRefused(via(to), 'dynamic', ['INVALID_REQUEST', 'SSRF_DENIED']);
  });

  it('refuses a 307 that would replay a POST body to 127.0.0.1', async (ctx) => {
    if (!redirector) return ctx.skip();
    await expectRefused(via(`http://127.0.0.1:${P()}/`, 307), 'dynamic', ['SSRF_DENIED'], ', method: POST, body: {a: 1}');
  });
});

describe('after the SSRF cases', () => {
  it('the victim was never reached, and the server answers /health/live and /health/ready', async () => {
    expect(victimHits).toBe(0);
    await expectHealthy(server);
    await apply(server, 'ssrf-calm', 'id: ssrf-calm\ntasks:\n  - {id: a, type: log, message: calm}\n');
    const done = await waitTerminal(server, await start(server, 'ssrf-calm', {}));
    expect(done.state).toBe('SUCCESS');
  });
});
