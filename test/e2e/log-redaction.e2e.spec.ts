import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { credentialPattern } from '../../src/common/logging';
import { startTestServer, type TestServer } from '../support/server';
import { rawRequest, YAML } from './helpers';

/** Every way a credential can be spelled in a URL or a JSON log line. */
function encodings(key: string): string[] {
  const percent = encodeURIComponent(key);
  const everyChar = [...Buffer.from(key)].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('');
  return [...new Set([key, percent, percent.toLowerCase() === percent ? percent : percent.replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase()), everyChar, everyChar.toUpperCase(), JSON.stringify(key).slice(1, -1)])];
}

/** A static key with characters that need escaping everywhere (no comma: the env list splits on it). */
const STATIC_KEY = `St4tic+/=?&#"\\key~${randomBytes(16).toString("hex")}`;

describe('logs never hold a credential', () => {
  let server: TestServer;
  let managedKey: string;
  const bogusManaged = `ak_${'Zz9'.repeat(12)}xy`;

  beforeAll(async () => {
    server = await startTestServer({ key: STATIC_KEY });
    const created = await server.request('POST', '/api/v1/api-keys', { body: { label: `redaction-${Date.now()}`, scopes: ['workflows:read'] } });
    expect(created.status, created.text).toBe(201);
    managedKey = created.body.key;
    expect(managedKey).toMatch(/^ak_/);
  });
  afterAll(() => server?.close());

  it('redacts keys wherever a request puts them: odd query names, path segments, headers, bodies', async () => {
    const keys = [STATIC_KEY, managedKey, bogusManaged];
    let sent = 0;
    for (const key of keys) {
      for (const encoded of encodings(key).filter((e) => !/["\\ #?&]/.test(e) || e.startsWith('%'))) {
        const paths = [
          `/api/v1/workflows?q=${encoded}`,
          `/api/v1/workflows?limit=5&x_custom_param=${encoded}&offset=0`,
          `/api/v1/workflows?${encoded}`,
          `/api/v1/workflows/${encoded}`,
          `/api/v1/executions/${encoded}/logs`,
          `/${encoded}/nowhere`,
          `/api/v1/workflows?q=before-${encoded}-after`,
        ];
        for (const path of paths) {
          const res = await rawRequest(server.url, 'GET', path, { headers: { authorization: `Bearer ${managedKey}`, 'x-trace-key': key.replace(/[^\x20-\x7e]/g, '') } });
          expect(res.status, `${path}: ${res.text}`).toBeGreaterThanOrEqual(200);
          expect(res.status).toBeLessThan(500);
          sent++;
        }
      }
      // Credentials as wrong auth, in bodies and in headers of failing requests.
      const attempts = [
        rawRequest(server.url, 'GET', '/api/v1/status', { headers: { authorization: `Bearer ${key}x` } }),
        rawRequest(server.url, 'GET', '/api/v1/status', { headers: { 'x-api-key': `${key}x` } }),
        rawRequest(server.url, 'PUT', '/api/v1/workflows/redact', { headers: { authorization: `Bearer ${managedKey}`, 'content-type': YAML }, body: `id: ${JSON.stringify(key)}\ntasks: []\n` }),
        rawRequest(server.url, 'POST', '/api/v1/workflows/redact/executions', { headers: { authorization: `Bearer ${STATIC_KEY}`, 'content-type': 'application/json' }, body: `{"inputs": {"k": ${JSON.stringify(key)}}` }),
      ];
      for (const res of await Promise.all(attempts)) expect([400, 401, 403, 404]).toContain(res.status);
    }
    // Errors and stack traces logged by the server itself.
    const error = new Error(`upstream refused ${managedKey} and ${STATIC_KEY}`);
    server.server.logger.error({ err: error, header: `Bearer ${STATIC_KEY}`, url: `/x?k=${encodeURIComponent(STATIC_KEY)}` }, `failed for ${bogusManaged}`);

    const logs = await server.logs();
    const lines = logs.split('\n').filter(Boolean);
    expect(lines.length).toBeGreaterThan(sent);
    for (const key of keys) {
      for (const encoded of encodings(key)) expect(logs.includes(encoded), `log holds ${encoded}`).toBe(false);
    }
    expect(logs).toContain('[redacted]');
    // What identifies a key (its 12-character display prefix) is not a credential and stays.
    expect(logs).toContain('failed for [redacted]');
    expect(lines.some((line) => line.includes('upstream refused [redacted] and [redacted]'))).toBe(true);
  });

  it('compiles one pattern that covers any mix of raw and percent-encoded characters cheaply', () => {
    const pattern = credentialPattern([STATIC_KEY, 'sha256:' + 'a'.repeat(64)]);
    const mixed = [...STATIC_KEY].map((ch, i) => (i % 3 === 0 ? `%${Buffer.from(ch).toString('hex')}` : ch === '"' || ch === '\\' ? `\\${ch}` : ch)).join('');
    expect(`x ${mixed} y`.replace(pattern, '[redacted]')).toBe('x [redacted] y');
    expect('ak_abcdefghi and sha256:aaaa'.replace(pattern, '[redacted]')).toBe('ak_abcdefghi and sha256:aaaa');
    const line = JSON.stringify({ level: 'info', time: new Date().toISOString(), reqId: 'b1946ac9-2f2c-4b1e', req: { method: 'GET', url: '/api/v1/executions/01JABCDEFGHJKMNPQRSTVWXYZ0/logs?limit=100', remoteAddress: '127.0.0.1' }, res: { statusCode: 200 }, msg: 'request completed' });
    const started = performance.now();
    for (let i = 0; i < 20_000; i++) line.replace(pattern, '[redacted]');
    // Measured ~0.3 µs per line here; far below what serializing the line costs.
    expect((performance.now() - started) / 20_000).toBeLessThan(0.02); // ms per line
  });
});
