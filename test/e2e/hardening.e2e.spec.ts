/**
 * Auth hardening (issue 4, revised by issue 7): failed-auth rate limiting per client address (429
 * RATE_LIMITED + Retry-After for failing attempts only; a valid key always passes), security headers on every response (HSTS only behind TLS), trustProxy for the
 * client address, and header timeouts that cut off a slow-drip client.
 */
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sleep, startTestServer, type TestResponse, type TestServer } from '../support/server';
import { createKey, tableRows, unknownWellFormedKey } from './access-helpers';
import { expectError, parseRawResponse, rawRequest, rawSocket, uniqueId } from './helpers';

function expectSecurityHeaders(res: Pick<TestResponse, 'headers' | 'status'>, context: string): void {
  expect(res.headers.get('x-content-type-options'), context).toBe('nosniff');
  expect(res.headers.get('x-frame-options'), context).toBe('DENY');
  expect(res.headers.get('referrer-policy'), context).toBe('no-referrer');
}

let counter = 0;
/** A fresh client address per test (the server trusts X-Forwarded-For): tests do not share buckets. */
function address(): string {
  counter += 1;
  return `10.77.${Math.floor(counter / 250)}.${(counter % 250) + 1}`;
}

describe('failed authentication rate limit (5 per 2 s per address)', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer({
      configure: (c) => {
        c.server.trustProxy = true;
        c.auth.failedAttemptsLimit = 5;
        c.auth.failedAttemptsWindowMs = 2000;
      },
    });
  });
  afterAll(async () => {
    await server?.close();
  });

  const as = (ip: string, auth: false | string | undefined) => server.request('GET', '/api/v1/status', { auth, headers: { 'x-forwarded-for': ip } });

  it('answers 401 for the first 5 failures, then 429 RATE_LIMITED with Retry-After for further failures until the window passes — while valid keys from the same address keep passing', async () => {
    const ip = address();
    const started = Date.now();
    for (let i = 0; i < 5; i++) expectError(await as(ip, unknownWellFormedKey()), 401, 'INVALID_API_KEY');
    const limited = await as(ip, unknownWellFormedKey());
    expectError(limited, 429, 'RATE_LIMITED');
    const retryAfter = Number(limited.headers.get('retry-after'));
    expect(Number.isInteger(retryAfter), String(limited.headers.get('retry-after'))).toBe(true);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(2);

    // blocked for failures only: the static admin key and a valid managed key pass, "no key" does not
    const managed = await createKey(server, { scopes: ['logs:read'] });
    const validStatic = await as(ip, undefined);
    expect(validStatic.status, validStatic.text).toBe(200);
    expect(validStatic.headers.get('retry-after')).toBeNull();
    expect((await as(ip, managed.key)).status).toBe(200);
    expectError(await as(ip, false), 429, 'RATE_LIMITED');

    // after the window failures are answered 401 again
    await sleep(Math.max(0, started + 2200 - Date.now()));
    expectError(await as(ip, unknownWellFormedKey()), 401, 'INVALID_API_KEY');
    expect((await as(ip, managed.key)).status).toBe(200);
  });

  it('counts missing credentials as failures too', async () => {
    const ip = address();
    for (let i = 0; i < 5; i++) expectError(await as(ip, false), 401, 'MISSING_API_KEY');
    expectError(await as(ip, false), 429, 'RATE_LIMITED');
  });

  it('does not count successes: many successful requests never lead to 429', async () => {
    const ip = address();
    for (let i = 0; i < 30; i++) expect((await as(ip, undefined)).status).toBe(200);
    for (let i = 0; i < 5; i++) expectError(await as(ip, unknownWellFormedKey()), 401, 'INVALID_API_KEY');
    expectError(await as(ip, unknownWellFormedKey()), 429, 'RATE_LIMITED');
  });

  it('limits per address: another address is not affected', async () => {
    const noisy = address();
    const calm = address();
    for (let i = 0; i < 6; i++) await as(noisy, unknownWellFormedKey());
    expectError(await as(noisy, unknownWellFormedKey()), 429, 'RATE_LIMITED');
    expect((await as(calm, undefined)).status).toBe(200);
    expectError(await as(calm, unknownWellFormedKey()), 401, 'INVALID_API_KEY');
  });

  it('leaves public routes (health) reachable for a blocked address', async () => {
    const ip = address();
    for (let i = 0; i < 6; i++) await as(ip, unknownWellFormedKey());
    expectError(await as(ip, unknownWellFormedKey()), 429, 'RATE_LIMITED');
    const health = await server.request('GET', '/health', { auth: false, headers: { 'x-forwarded-for': ip } });
    expect(health.status).toBe(200);
  });

  it('a blocked address cannot use the block time to keep guessing: guesses during the block are 429, not 401', async () => {
    const ip = address();
    for (let i = 0; i < 6; i++) await as(ip, unknownWellFormedKey());
    for (let i = 0; i < 10; i++) expectError(await as(ip, unknownWellFormedKey()), 429, 'RATE_LIMITED');
  });
});

describe('rate limit without trustProxy', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer({
      configure: (c) => {
        c.server.trustProxy = false;
        c.auth.failedAttemptsLimit = 3;
        c.auth.failedAttemptsWindowMs = 2000;
      },
    });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('ignores X-Forwarded-For: a spoofed header neither spreads failures over addresses nor escapes the block', async () => {
    for (let i = 0; i < 3; i++) {
      expectError(await server.request('GET', '/api/v1/status', { auth: unknownWellFormedKey(), headers: { 'x-forwarded-for': `10.1.1.${i + 1}` } }), 401, 'INVALID_API_KEY');
    }
    expectError(await server.request('GET', '/api/v1/status', { auth: unknownWellFormedKey(), headers: { 'x-forwarded-for': '10.1.1.99' } }), 429, 'RATE_LIMITED');
    expectError(await server.request('GET', '/api/v1/status', { auth: false, headers: { 'x-forwarded-for': '10.9.9.9' } }), 429, 'RATE_LIMITED');
    // the valid key from that same (socket) address is not refused
    expect((await server.request('GET', '/api/v1/status', { headers: { 'x-forwarded-for': '10.9.9.9' } })).status).toBe(200);
    await sleep(2200);
    expectError(await server.request('GET', '/api/v1/status', { auth: unknownWellFormedKey() }), 401, 'INVALID_API_KEY');
  });
});

describe('client address behind a proxy (server.trustProxy)', () => {
  it('with trustProxy: true the audit trail records the X-Forwarded-For address; without it, the socket address', async () => {
    const trusted = await startTestServer({ configure: (c) => (c.server.trustProxy = true) });
    const direct = await startTestServer({ configure: (c) => (c.server.trustProxy = false) });
    try {
      const a = unknownWellFormedKey();
      const b = unknownWellFormedKey();
      await trusted.request('GET', '/api/v1/status', { auth: a, headers: { 'x-forwarded-for': '203.0.113.7' } });
      await direct.request('GET', '/api/v1/status', { auth: b, headers: { 'x-forwarded-for': '203.0.113.7' } });
      const find = async (server: TestServer, prefix: string) => {
        for (let i = 0; i < 100; i++) {
          const res = await server.request('GET', `/api/v1/audit?action=auth.failure&actor=${prefix}`);
          if (res.body.items.length) return res.body.items[0];
          await sleep(30);
        }
        throw new Error(`no audit event for ${prefix}`);
      };
      expect((await find(trusted, a.slice(0, 12))).ip).toBe('203.0.113.7');
      expect((await find(direct, b.slice(0, 12))).ip).toMatch(/^(::ffff:)?127\.0\.0\.1$/);
    } finally {
      await trusted.close();
      await direct.close();
    }
  });
});

describe('security headers', () => {
  let server: TestServer;
  let proxied: TestServer;

  beforeAll(async () => {
    server = await startTestServer({ configure: (c) => (c.auth.failedAttemptsLimit = 100_000) });
    proxied = await startTestServer({
      configure: (c) => {
        c.server.trustProxy = true;
        c.auth.failedAttemptsLimit = 100_000;
      },
    });
  });
  afterAll(async () => {
    await server?.close();
    await proxied?.close();
  });

  it.each([
    ['GET /health', () => server.request('GET', '/health', { auth: false }), 200],
    ['GET /health/ready', () => server.request('GET', '/health/ready', { auth: false }), 200],
    ['GET /api/v1/openapi.json', () => server.request('GET', '/api/v1/openapi.json', { auth: false }), 200],
    ['GET /api/v1/status', () => server.request('GET', '/api/v1/status'), 200],
    ['a 401 without a key', () => server.request('GET', '/api/v1/status', { auth: false }), 401],
    ['a 401 with a bad key', () => server.request('GET', '/api/v1/status', { auth: unknownWellFormedKey() }), 401],
    ['a 404 unknown route', () => server.request('GET', '/api/v1/nope'), 404],
    ['a 404 unknown workflow', () => server.request('GET', `/api/v1/workflows/${uniqueId('none')}`), 404],
    ['a 400 validation error', () => server.request('GET', '/api/v1/workflows?limit=0'), 400],
    ['a 400 bad JSON body', () => server.request('POST', '/api/v1/api-keys', { raw: '{nope', contentType: 'application/json' }), 400],
    ['a 415 wrong content type', () => server.request('POST', '/api/v1/api-keys', { raw: 'x', contentType: 'text/plain' }), 415],
    ['a 413 body too large', () => server.request('POST', '/api/v1/api-keys', { raw: JSON.stringify({ label: 'x'.repeat(2 * 1024 * 1024) }), contentType: 'application/json' }), 413],
    ['a 201 created key', () => server.request('POST', '/api/v1/api-keys', { body: { scopes: ['logs:read'] } }), 201],
  ] as const)('are set on %s', async (name, call, status) => {
    const res = await call();
    expect(res.status, res.text).toBe(status);
    expectSecurityHeaders(res, name);
    expect(res.headers.get('strict-transport-security'), `${name}: no HSTS over plain HTTP`).toBeNull();
  });

  it('are set on a 403', async () => {
    const reader = await createKey(server, { scopes: ['logs:read'] });
    const res = await server.request('GET', '/api/v1/workflows', { auth: reader.key });
    expect(res.status).toBe(403);
    expectSecurityHeaders(res, '403');
  });

  it('are set on a router-level 400 (malformed percent-encoding in the path)', async () => {
    const res = await rawRequest(server.url, 'GET', '/api/v1/workflows/%E0%A4%A', { headers: { authorization: `Bearer ${server.key}` } });
    expect(res.status, res.text).toBe(400);
    expectSecurityHeaders(res, 'router 400');
  });

  it('are set on the answer to a malformed HTTP request', async () => {
    const raw = await rawSocket(server.url, 'GET /health HTTP/1.1\r\nHost: x\r\nBad Header Line\r\n\r\n');
    const res = parseRawResponse(raw);
    expect(res.status, raw).toBe(400);
    expectSecurityHeaders(res, 'malformed request 400');
  });

  it('no HSTS over plain HTTP even when a client claims X-Forwarded-Proto: https without a trusted proxy', async () => {
    const res = await server.request('GET', '/health', { auth: false, headers: { 'x-forwarded-proto': 'https' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('strict-transport-security')).toBeNull();
  });

  it('behind a trusted proxy that terminated TLS (X-Forwarded-Proto: https): HSTS is present, on success and error alike', async () => {
    for (const [path, auth, status] of [
      ['/health', false, 200],
      ['/api/v1/status', undefined, 200],
      ['/api/v1/status', false, 401],
    ] as const) {
      const res = await proxied.request('GET', path, { auth, headers: { 'x-forwarded-proto': 'https' } });
      expect(res.status).toBe(status);
      const hsts = res.headers.get('strict-transport-security');
      expect(hsts, `${path} ${status}`).toMatch(/max-age=\d+/);
      expect(Number(/max-age=(\d+)/.exec(hsts!)![1])).toBeGreaterThanOrEqual(15_552_000);
      expectSecurityHeaders(res, path);
    }
  });

  it('behind a trusted proxy speaking plain HTTP (X-Forwarded-Proto: http): no HSTS', async () => {
    const res = await proxied.request('GET', '/health', { auth: false, headers: { 'x-forwarded-proto': 'http' } });
    expect(res.headers.get('strict-transport-security')).toBeNull();
    const bare = await proxied.request('GET', '/health', { auth: false });
    expect(bare.headers.get('strict-transport-security')).toBeNull();
  });
});

describe('slow-drip clients (server.headersTimeoutMs: 1000)', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer({ configure: (c) => (c.server.headersTimeoutMs = 1000) });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('cuts off a client that sends its headers one byte every 300 ms', async () => {
    const url = new URL(server.url);
    const request = `GET /api/v1/status HTTP/1.1\r\nHost: ${url.host}\r\nAuthorization: Bearer ${server.key}\r\nX-Padding: ${'p'.repeat(200)}\r\n\r\n`;
    const started = Date.now();
    const result = await new Promise<{ closedAfterMs: number; bytesSent: number; received: string }>((resolve) => {
      const socket = connect({ host: url.hostname, port: Number(url.port) });
      let sent = 0;
      let received = '';
      let done = false;
      const finish = () => {
        if (done) return;
        done = true;
        clearInterval(drip);
        clearTimeout(giveUp);
        socket.destroy();
        resolve({ closedAfterMs: Date.now() - started, bytesSent: sent, received });
      };
      const drip = setInterval(() => {
        if (socket.destroyed || !socket.writable || sent >= request.length) return;
        socket.write(request[sent]);
        sent += 1;
      }, 300);
      // the whole request would take ~80 s at this pace
      const giveUp = setTimeout(finish, 10_000);
      socket.on('data', (d) => (received += d.toString('utf8')));
      socket.on('close', finish);
      socket.on('end', finish);
      socket.on('error', finish);
    });
    expect(result.bytesSent, 'the client was still dripping').toBeLessThan(request.length);
    expect(result.closedAfterMs, `socket still open after ${result.closedAfterMs} ms (${result.bytesSent} bytes sent); received: ${result.received}`).toBeLessThan(5000);
    // if the server answered before closing, it was an error (408/400), never the authenticated 200
    if (result.received) expect(result.received).not.toMatch(/^HTTP\/1\.1 200/);
  }, 20_000);

  it('still serves a normal client', async () => {
    const res = await server.request('GET', '/api/v1/status');
    expect(res.status).toBe(200);
  });
});

describe('no secret in the store after failed attempts', () => {
  it('a flood of bad keys leaves no presented key in audit_events', async () => {
    const server = await startTestServer({ configure: (c) => (c.auth.failedAttemptsLimit = 100_000) });
    const presented: string[] = [];
    try {
      for (let i = 0; i < 20; i++) {
        const key = unknownWellFormedKey();
        presented.push(key);
        await server.request('GET', '/api/v1/status', { auth: key });
      }
    } finally {
      await server.close();
    }
    const dump = JSON.stringify(await tableRows(server.databaseUrl, 'audit_events'));
    for (const key of presented) expect(dump).not.toContain(key);
  });
});
