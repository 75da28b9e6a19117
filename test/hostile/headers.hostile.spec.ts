/**
 * Hostile headers and protocol edges (issue 7, "Protocol edges in the error shape", "Logs never
 * hold a credential"; DESIGN §3). Requests are written byte for byte over a raw socket
 * (node:net), because fetch normalizes or refuses most of them. Each answer is a 4xx in the
 * error shape — a missing or duplicated Host is a 400 (RFC 9112 §3.2), credentials that are not
 * exactly one well-formed key are 401 MISSING_API_KEY / INVALID_API_KEY — never a 500 or a bare
 * response without a body. A key in the query string is never read, and no presented key, valid
 * or not, reaches the server log.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestResponse, type TestServer } from '../support/server';
import { expectNoStack, parseRawResponse, rawSocket } from '../e2e/helpers';
import { badChecksumKey, createKey, unknownWellFormedKey, type CreatedKey } from '../e2e/access-helpers';
import { expectHealthy } from './hostile-helpers';

let server: TestServer;
let managed: CreatedKey;
/** every credential this file presents; none may reach the server log */
const presented = new Set<string>();

beforeAll(async () => {
  server = await startTestServer();
  managed = await createKey(server, { scopes: ['workflows:read'] });
  presented.add(server.key);
  presented.add(managed.key);
});

afterAll(async () => {
  await server?.close();
});

/**
 * Writes one raw HTTP/1.1 request and parses the answer. Every character is one byte (Latin-1),
 * so the UTF-8 cases below are written as their bytes.
 */
async function raw(requestHead: string, body = ''): Promise<TestResponse & { raw: string }> {
  const text = await rawSocket(server.url, Buffer.from(`${requestHead}\r\n\r\n${body}`, 'latin1'), 3000);
  return { ...parseRawResponse(text), raw: text };
}

/** GET `path` with `Host`, `Connection: close` and the given extra header lines. */
function get(path: string, headerLines: string[]): Promise<TestResponse & { raw: string }> {
  return raw([`GET ${path} HTTP/1.1`, 'Host: localhost', 'Connection: close', ...headerLines].join('\r\n'));
}

/** A 4xx in the one error shape, with a status from `statuses` and (when given) that code. */
function expectErrorShape(res: TestResponse & { raw?: string }, statuses: number[], codes?: string[]): void {
  const context = `${res.status} ${res.raw ?? res.text}`;
  expect(statuses, context).toContain(res.status);
  expect(res.body, context).toBeTypeOf('object');
  expect(Object.keys(res.body), context).toEqual(['error']);
  expect(res.body.error.code, context).toMatch(/^[A-Z][A-Z0-9_]*$/);
  expect(typeof res.body.error.message, context).toBe('string');
  if (codes) expect(codes, context).toContain(res.body.error.code);
  expect(res.headers.get('content-type') ?? '', context).toMatch(/^application\/json/);
  expectNoStack(res.text);
}

describe('protocol edges answer 400 in the error shape (raw sockets)', () => {
  it.each([
    ['a GET of /health/live without Host', 'GET /health/live HTTP/1.1\r\nConnection: close'],
    ['an authenticated GET without Host', `GET /api/v1/status HTTP/1.1\r\nAuthorization: Bearer ${'KEY'}\r\nConnection: close`],
    ['a POST without Host', 'POST /api/v1/workflows/x/executions HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}'],
    ['two identical Host headers', 'GET /health/live HTTP/1.1\r\nHost: localhost\r\nHost: localhost\r\nConnection: close'],
    ['two different Host headers', 'GET /health/live HTTP/1.1\r\nHost: localhost\r\nHost: evil.example\r\nConnection: close'],
    ['three Host headers', 'GET /health/live HTTP/1.1\r\nHost: a\r\nHost: b\r\nHost: c\r\nConnection: close'],
    ['a garbage request line', 'GARBAGE\r\nHost: localhost'],
    ['an unknown HTTP version', 'GET /health/live HTTP/9.9\r\nHost: localhost\r\nConnection: close'],
    ['a header line without a colon', 'GET /health/live HTTP/1.1\r\nHost: localhost\r\nNoColonHere\r\nConnection: close'],
    ['a header name with a space', 'GET /health/live HTTP/1.1\r\nHost: localhost\r\nBad Header: x\r\nConnection: close'],
    ['a NUL byte in a header value', 'GET /health/live HTTP/1.1\r\nHost: localhost\r\nX-A: a\u0000b\r\nConnection: close'],
    ['obsolete line folding', 'GET /health/live HTTP/1.1\r\nHost: localhost\r\nX-A: a\r\n  folded\r\nConnection: close'],
    ['Content-Length and Transfer-Encoding together', 'POST /api/v1/workflows/x/executions HTTP/1.1\r\nHost: localhost\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\n'],
    ['two different Content-Length headers', 'POST /api/v1/workflows/x/executions HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\nContent-Length: 3\r\nConnection: close\r\n\r\n{}'],
    ['a negative Content-Length', 'POST /api/v1/workflows/x/executions HTTP/1.1\r\nHost: localhost\r\nContent-Length: -1\r\nConnection: close'],
    ['a malformed chunk size', 'POST /api/v1/workflows/x/executions HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\nConnection: close\r\n\r\nzz\r\n{}\r\n0\r\n\r\n'],
    ['a bare LF line ending inside headers', 'GET /health/live HTTP/1.1\r\nHost: localhost\nX-A: b\r\nConnection: close'],
  ])('answers %s with 400', async (_what, head) => {
    const res = await raw(head.replace('KEY', server.key));
    expectErrorShape(res, [400]);
  });

  it('accepts HTTP/1.0 without Host, which that version does not require, or answers 400', async () => {
    const res = await raw('GET /health/live HTTP/1.0');
    if (res.status !== 200) expectErrorShape(res, [400]);
  });

  it.each([
    ['CONNECT to another host', 'CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\nConnection: close'],
    ['CONNECT with an authenticated key', `CONNECT example.org:443 HTTP/1.1\r\nHost: example.org:443\r\nAuthorization: Bearer KEY\r\nConnection: close`],
    ['TRACE', 'TRACE /api/v1/status HTTP/1.1\r\nHost: localhost\r\nConnection: close'],
    ['an unknown method', 'BREW /api/v1/status HTTP/1.1\r\nHost: localhost\r\nConnection: close'],
  ])('answers %s with a 4xx in the error shape', async (_what, head) => {
    const res = await raw(head.replace('KEY', server.key));
    expectErrorShape(res, [400, 404, 405, 501].filter((s) => s < 500));
  });

  it.each([
    ['a 20 KiB request target', `GET /api/v1/workflows/${'a'.repeat(20 * 1024)} HTTP/1.1\r\nHost: localhost\r\nConnection: close`],
    ['a 20 KiB header value', `GET /api/v1/status HTTP/1.1\r\nHost: localhost\r\nX-Filler: ${'f'.repeat(20 * 1024)}\r\nConnection: close`],
    ['200 headers of 100 bytes', `GET /api/v1/status HTTP/1.1\r\nHost: localhost\r\n${Array.from({ length: 200 }, (_, i) => `X-H${i}: ${'v'.repeat(100)}`).join('\r\n')}\r\nConnection: close`],
  ])('answers %s (over the header limit) with a 4xx in the error shape', async (_what, head) => {
    const res = await raw(head);
    expectErrorShape(res, [400, 414, 431]);
  });
});

/** `[what, header lines (KEY = the static key, MKEY = the managed key), allowed statuses, allowed codes]` */
type AuthCase = [string, string[], number[], string[]];

const MISSING = ['MISSING_API_KEY'];
const INVALID = ['INVALID_API_KEY'];
const EITHER = ['MISSING_API_KEY', 'INVALID_API_KEY'];

const AUTH_CASES: AuthCase[] = [
  ['no credentials', [], [401], MISSING],
  ['an empty Authorization header', ['Authorization: '], [401], EITHER],
  ['"Bearer" without a key', ['Authorization: Bearer'], [401], EITHER],
  ['Basic credentials', ['Authorization: Basic dXNlcjpwYXNzd29yZA=='], [401], INVALID],
  ['another scheme', ['Authorization: Token KEY'], [401], INVALID],
  ['the scheme glued to the key', ['Authorization: BearerKEY'], [401], INVALID],
  ['the key twice after Bearer', ['Authorization: Bearer KEY KEY'], [401], INVALID],
  ['two Bearer values joined by a comma', ['Authorization: Bearer KEY, Bearer KEY'], [401], INVALID],
  ['a wrong static-looking key', ['Authorization: Bearer 0000000000000000000000000000000000000000'], [401], INVALID],
  ['a managed key with a bad checksum', ['Authorization: Bearer BADSUM'], [401], INVALID],
  ['an unknown well-formed managed key', ['Authorization: Bearer UNKNOWN'], [401], INVALID],
  ['the key after a no-break space (0xA0)', ['Authorization: Bearer\u00a0KEY'], [401], INVALID],
  ['the key after an ideographic space (UTF-8)', [Buffer.from('Authorization: Bearer\u3000KEY', 'utf8').toString('latin1')], [401], INVALID],
  ['a Cyrillic key (UTF-8)', [Buffer.from('Authorization: Bearer ключключключключключключключключ', 'utf8').toString('latin1')], [401], INVALID],
  ['an emoji key (UTF-8)', [Buffer.from('X-API-Key: 🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑', 'utf8').toString('latin1')], [401], INVALID],
  ['a Latin-1 X-API-Key', ['X-API-Key: cl\u00e9cl\u00e9cl\u00e9cl\u00e9cl\u00e9cl\u00e9cl\u00e9cl\u00e9'], [401], INVALID],
  ['a managed key with a trailing Latin-1 byte', ['Authorization: Bearer MKEY\u00ff'], [401], INVALID],
  ['an 8 KiB bearer value', [`Authorization: Bearer ${'a'.repeat(8 * 1024)}`], [401], INVALID],
  ['a 15 KiB bearer value', [`Authorization: Bearer ${'a'.repeat(15 * 1024)}`], [401], INVALID],
  ['a 10 KiB ak_ value', [`Authorization: Bearer ak_${'A'.repeat(10 * 1024)}`], [401], INVALID],
  ['a 10 KiB X-API-Key', [`X-API-Key: ${'k'.repeat(10 * 1024)}`], [401], INVALID],
  ['an empty X-API-Key', ['X-API-Key: '], [401], EITHER],
  ['"Bearer KEY" in X-API-Key', ['X-API-Key: Bearer KEY'], [401], INVALID],
  ['an invalid Bearer next to a valid X-API-Key', ['Authorization: Bearer nope', 'X-API-Key: KEY'], [401], INVALID],
  ['Basic next to a valid X-API-Key', ['Authorization: Basic dXNlcjpwYXNz', 'X-API-Key: KEY'], [401], INVALID],
  ['an invalid then a valid Authorization header', ['Authorization: Bearer nope', 'Authorization: Bearer KEY'], [400, 401], [...INVALID, 'VALIDATION_ERROR']],
  ['a valid then an invalid Authorization header', ['Authorization: Bearer KEY', 'Authorization: Bearer nope'], [400, 401], [...INVALID, 'VALIDATION_ERROR']],
  ['two different valid Authorization headers', ['Authorization: Bearer KEY', 'Authorization: Bearer MKEY'], [400, 401], [...INVALID, 'VALIDATION_ERROR']],
  ['a valid then an invalid X-API-Key', ['X-API-Key: KEY', 'X-API-Key: nope'], [400, 401], [...INVALID, 'VALIDATION_ERROR']],
  ['an invalid then a valid X-API-Key', ['X-API-Key: nope', 'X-API-Key: MKEY'], [400, 401], [...INVALID, 'VALIDATION_ERROR']],
];

function fill(line: string): string {
  return line
    .replace('BADSUM', badChecksum)
    .replace('UNKNOWN', unknown)
    .replace(/MKEY/g, managed.key)
    .replace(/KEY/g, server.key);
}
const badChecksum = badChecksumKey();
const unknown = unknownWellFormedKey();
presented.add(badChecksum);
presented.add(unknown);

describe('credentials that are not exactly one valid key answer 401 in the error shape', () => {
  it.each(AUTH_CASES)('refuses %s', async (_what, lines, statuses, codes) => {
    const res = await get('/api/v1/status', lines.map(fill));
    expectErrorShape(res, statuses, codes);
  });
});

describe('whitespace variants of a valid key are accepted by a documented rule or refused with 401', () => {
  it.each([
    ['lower-case scheme', ['authorization: bearer KEY'], true],
    ['upper-case scheme', ['Authorization: BEARER KEY'], true],
    ['a managed key in X-API-Key', ['X-API-Key: MKEY'], true],
    ['a valid Bearer next to an invalid X-API-Key', ['Authorization: Bearer KEY', 'X-API-Key: nope'], true],
    ['two spaces after Bearer', ['Authorization: Bearer  KEY'], false],
    ['a tab after Bearer', ['Authorization: Bearer\tKEY'], false],
    ['a space and a tab after Bearer', ['Authorization: Bearer \tKEY'], false],
    ['trailing spaces after the key', ['Authorization: Bearer KEY   '], false],
    ['leading spaces before the scheme', ['Authorization:    Bearer KEY'], false],
    ['two identical Authorization headers', ['Authorization: Bearer KEY', 'Authorization: Bearer KEY'], false],
    ['surrounding spaces in X-API-Key', ['X-API-Key:   MKEY   '], false],
  ])('%s', async (_what, lines, mustAccept) => {
    const res = await get('/api/v1/status', lines.map(fill));
    if (mustAccept) {
      expect(res.status, res.raw).toBe(200);
      expect(res.body.state).toBeDefined();
    } else if (res.status !== 200) {
      expectErrorShape(res, [400, 401], ['INVALID_API_KEY', 'VALIDATION_ERROR']);
    }
  });
});

describe('a key in the query string or the path is never read', () => {
  it.each([
    ['api_key', 'KEY'],
    ['apikey', 'KEY'],
    ['key', 'MKEY'],
    ['access_token', 'KEY'],
    ['token', 'MKEY'],
    ['X-API-Key', 'KEY'],
    ['authorization', 'Bearer%20KEY'],
    ['k', 'MKEY'],
    ['q', 'KEY'],
    ['filter', 'MKEY'],
  ])('?%s=<key> answers 401 MISSING_API_KEY', async (name, value) => {
    const res = await get(`/api/v1/status?${name}=${fill(value)}`, []);
    expectErrorShape(res, [401], MISSING);
  });

  it.each([
    ['a workflow id', '/api/v1/workflows/MKEY'],
    ['an execution id', '/api/v1/executions/KEY'],
    ['an unknown route', '/api/v1/MKEY'],
    ['a path parameter and a query value', '/api/v1/executions/MKEY/logs?before=KEY'],
  ])('a key as %s answers 401 or 404 without credentials', async (_what, path) => {
    const res = await get(fill(path), []);
    expectErrorShape(res, [401, 404], ['MISSING_API_KEY', 'NOT_FOUND']);
  });
});

describe('after the hostile header cases', () => {
  it('the server log holds none of the presented keys, valid or not', async () => {
    const log = await server.logs();
    expect(log.length).toBeGreaterThan(0);
    for (const key of presented) expect(log.includes(key), `a presented key (${key.slice(0, 6)}…) is in the server log`).toBe(false);
  });

  it('the server still answers /health/live and /health/ready, and a valid key still works', async () => {
    await expectHealthy(server);
    const res = await server.request('GET', '/api/v1/status');
    expect(res.status, res.text).toBe(200);
  });
});
