import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../support/server';
import { expectError, parseLogLines, uniqueId, workflowYaml, YAML } from './helpers';

interface RawResponse {
  status: number;
  headers: Record<string, string>;
  text: string;
  body: any;
}

/**
 * Sends bytes exactly as given (fetch cannot send a request without Host, two Host headers,
 * CONNECT, or a tab after Bearer) and reads the whole answer (the server closes the connection).
 */
function sendRaw(url: string, request: string): Promise<RawResponse> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const [head, ...rest] = raw.split('\r\n\r\n');
      const [statusLine, ...headerLines] = head.split('\r\n');
      const headers: Record<string, string> = {};
      for (const line of headerLines) {
        const colon = line.indexOf(':');
        headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
      }
      const text = rest.join('\r\n\r\n');
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        body = undefined;
      }
      resolve({ status: Number(statusLine.split(' ')[1]), headers, text, body });
    });
    socket.write(request);
  });
}

/** Adapts a raw response to the shared error-shape assertion. */
function shaped(res: RawResponse) {
  return { status: res.status, text: res.text, body: res.body, headers: new Headers(res.headers) };
}

describe('protocol edges answer in the error shape', () => {
  let server: TestServer;
  let host: string;
  const get = (path: string, headers: string) => `GET ${path} HTTP/1.1\r\n${headers}Connection: close\r\n\r\n`;

  beforeAll(async () => {
    server = await startTestServer();
    host = new URL(server.url).host;
  });
  afterAll(() => server?.close());

  describe('Host (RFC 9112 §3.2)', () => {
    it('refuses an HTTP/1.1 request without Host with 400 VALIDATION_ERROR', async () => {
      const res = await sendRaw(server.url, get('/api/v1/status', `Authorization: Bearer ${server.key}\r\n`));
      const error = expectError(shaped(res), 400, 'VALIDATION_ERROR');
      expect(error.message).toBe('the request has no Host header (required in HTTP/1.1)');
    });

    it('refuses two Host headers with 400, even identical ones', async () => {
      for (const second of [host, 'evil.example']) {
        const res = await sendRaw(server.url, get('/api/v1/status', `Host: ${host}\r\nHost: ${second}\r\nAuthorization: Bearer ${server.key}\r\n`));
        expect(expectError(shaped(res), 400, 'VALIDATION_ERROR').message).toBe('the request has more than one Host header; send exactly one');
      }
    });

    it('accepts HTTP/1.0 without Host (Host is an HTTP/1.1 requirement)', async () => {
      const res = await sendRaw(server.url, 'GET /health/live HTTP/1.0\r\n\r\n');
      expect(res.status).toBe(200);
    });
  });

  it('answers CONNECT with 404 NOT_FOUND in the error shape instead of dropping the connection', async () => {
    const res = await sendRaw(server.url, 'CONNECT example.org:443 HTTP/1.1\r\nHost: example.org:443\r\n\r\n');
    expect(expectError(shaped(res), 404, 'NOT_FOUND').message).toMatch(/CONNECT is not supported/);
    // and the server still serves
    expect((await server.request('GET', '/api/v1/status')).status).toBe(200);
  });

  describe('credentials', () => {
    it.each([
      ['two different Authorization headers', (key: string) => `Authorization: Bearer ${key}\r\nAuthorization: Bearer wrong\r\n`, 'Authorization'],
      ['the same Authorization header twice', (key: string) => `Authorization: Bearer ${key}\r\nAuthorization: Bearer ${key}\r\n`, 'Authorization'],
      ['two X-API-Key headers', (key: string) => `X-API-Key: ${key}\r\nX-API-Key: ${key}\r\n`, 'X-API-Key'],
    ])('refuses %s with 400 (ambiguous credentials)', async (_name, headers, header) => {
      const res = await sendRaw(server.url, get('/api/v1/status', `Host: ${host}\r\n${headers(server.key)}`));
      expect(expectError(shaped(res), 400, 'VALIDATION_ERROR').message).toBe(`the request has more than one ${header} header; send exactly one`);
    });

    it.each([
      ['a tab after Bearer', (key: string) => `Bearer\t${key}`],
      ['several spaces after Bearer', (key: string) => `Bearer     ${key}`],
      ['trailing spaces', (key: string) => `Bearer ${key}   `],
      ['spaces and tabs mixed, leading whitespace', (key: string) => ` \tBearer \t ${key}\t`],
      ['the scheme in another case', (key: string) => `bEARER ${key}`],
    ])('accepts %s (documented rule: Bearer, then spaces or tabs, then the key)', async (_name, value) => {
      const res = await sendRaw(server.url, get('/api/v1/status', `Host: ${host}\r\nAuthorization: ${value(server.key)}\r\n`));
      expect(res.status, res.text).toBe(200);
      expect(res.body.state).toBe('ready');
    });

    it.each([
      ['no space after Bearer', (key: string) => `Bearer${key}`],
      ['Bearer alone', () => 'Bearer'],
      ['Bearer and only whitespace', () => 'Bearer \t '],
      ['two tokens', (key: string) => `Bearer ${key} ${key}`],
      ['another scheme', (key: string) => `Basic ${Buffer.from(`x:${key}`).toString('base64')}`],
      ['a vertical tab inside the key', (key: string) => `Bearer ${key.slice(0, 10)}\u000b${key.slice(10)}`],
    ])('refuses %s with 401 INVALID_API_KEY', async (_name, value) => {
      const res = await sendRaw(server.url, get('/api/v1/status', `Host: ${host}\r\nAuthorization: ${value(server.key)}\r\n`));
      expect([400, 401]).toContain(res.status);
      if (res.status === 401) expectError(shaped(res), 401, 'INVALID_API_KEY');
      else expectError(shaped(res), 400, 'VALIDATION_ERROR');
    });
  });

  describe('integers in the query are decimal digits only', () => {
    it.each(['0x10', '1e3', '%205', '5%20', '+5', '-0', '5.0', '0b11', '0o7', 'Infinity', '', '１２'])('refuses limit=%s and offset=%s with 400 VALIDATION_ERROR', async (value) => {
      for (const [param, route] of [['limit', '/api/v1/workflows'], ['offset', '/api/v1/executions'], ['limit', '/api/v1/audit']] as const) {
        const res = await server.request('GET', `${route}?${param}=${value}`);
        const error = expectError(res, 400, 'VALIDATION_ERROR');
        expect(error.details).toEqual([{ field: param, message: expect.stringContaining('in decimal digits') }]);
      }
    });

    it('accepts plain decimal digits, leading zeros included', async () => {
      const res = await server.request('GET', '/api/v1/workflows?limit=007&offset=0');
      expect(res.status, res.text).toBe(200);
      expect(res.body).toMatchObject({ limit: 7, offset: 0 });
    });

    it('applies the same rule to the log paging parameters', async () => {
      for (const param of ['limit', 'offset', 'before', 'after']) {
        const res = await server.request('GET', `/api/v1/executions/01JABCDEFGHJKMNPQRSTVWXYZ0/logs?${param}=0x10`);
        expect(expectError(res, 400, 'VALIDATION_ERROR').details[0].message).toMatch(/decimal digits/);
      }
    });
  });

  describe('timestamps must carry a zone', () => {
    const zoneless = ['2030-01-31T00:00:00', '2030-01-31T00:00', '2030-01-31', '2030-01-31 00:00:00'];

    it.each(zoneless)('refuses expiresAt %s with 400 and creates no key', async (value) => {
      const label = uniqueId('zone');
      const res = await server.request('POST', '/api/v1/api-keys', { body: { label, scopes: ['logs:read'], expiresAt: value } });
      expect(expectError(res, 400, 'VALIDATION_ERROR').details).toEqual([{ field: 'expiresAt', message: expect.stringContaining('with a time zone') }]);
      const list = await server.request('GET', '/api/v1/api-keys?limit=500');
      expect(list.body.items.some((k: { label: string }) => k.label === label)).toBe(false);
    });

    it.each(['2030-01-31T00:00:00Z', '2030-01-31T02:00:00+02:00', '2030-01-31T02:00:00+0200', '2030-01-31 00:00:00z'])('accepts expiresAt %s as that instant', async (value) => {
      const res = await server.request('POST', '/api/v1/api-keys', { body: { label: uniqueId('zoned'), scopes: ['logs:read'], expiresAt: value } });
      expect(res.status, res.text).toBe(201);
      expect(res.body.expiresAt).toBe('2030-01-31T00:00:00.000Z');
    });

    it('refuses a zoneless audit since and a zoneless datetime input', async () => {
      expect(expectError(await server.request('GET', '/api/v1/audit?since=2030-01-31T00:00:00'), 400, 'VALIDATION_ERROR').message).toMatch(/with a time zone/);
      const id = uniqueId('dt');
      const applied = await server.request('PUT', `/api/v1/workflows/${id}`, { raw: workflowYaml(id, { extra: 'inputs:\n  - {id: at, type: datetime, required: true}' }), contentType: YAML });
      expect(applied.status, applied.text).toBe(201);
      const refused = await server.request('POST', `/api/v1/workflows/${id}/executions`, { body: { inputs: { at: '2030-01-31T12:00:00' } } });
      expect(expectError(refused, 400, 'INVALID_INPUTS').details).toEqual([{ field: 'inputs.at', message: expect.stringContaining('with a time zone') }]);
      const accepted = await server.request('POST', `/api/v1/workflows/${id}/executions`, { body: { inputs: { at: '2030-01-31T12:00:00+01:00' } } });
      expect(accepted.status, accepted.text).toBe(202);
      expect(accepted.body.inputs).toEqual({ at: '2030-01-31T11:00:00.000Z' });
    });
  });

  describe('client-aborted requests', () => {
    it('are not logged as errors: closed mid-body or before the response', async () => {
      const { hostname, port } = new URL(server.url);
      const id = uniqueId('abort');
      const partial = [
        `PUT /api/v1/workflows/${id} HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Bearer ${server.key}\r\nContent-Type: ${YAML}\r\nContent-Length: 5000\r\n\r\nid: ${id}\n`,
        `POST /api/v1/workflows/${id}/executions HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Bearer ${server.key}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"inputs": {`,
        // complete request, closed before the (held) answer
        `POST /api/v1/workflows/${id}/executions?wait=10s HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Bearer ${server.key}\r\nContent-Length: 0\r\n\r\n`,
      ];
      expect((await server.request('PUT', `/api/v1/workflows/${id}`, { raw: workflowYaml(id, { extra: 'timeout: 1m' }).replace('type: log\n    message: Hello', 'type: sleep\n    duration: 2s'), contentType: YAML })).status).toBe(201);
      for (const request of partial) {
        await new Promise<void>((resolve) => {
          const socket = connect(Number(port), hostname, () => {
            socket.write(request);
            setTimeout(() => {
              socket.destroy();
              resolve();
            }, 300);
          });
          socket.on('error', () => resolve());
        });
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
      const lines = parseLogLines(await server.logs());
      const aborted = lines.filter((l) => l.msg === 'request aborted by the client');
      expect(aborted.length).toBeGreaterThanOrEqual(2);
      for (const line of aborted) expect(['info', 'debug']).toContain(line.level);
      const errors = lines.filter((l) => l.level === 'error' || l.level === 'fatal' || l.res?.statusCode >= 500);
      expect(errors, JSON.stringify(errors).slice(0, 500)).toEqual([]);
      // nothing was applied from the half body, and the server still answers
      expect((await server.request('GET', `/api/v1/workflows/${id}`)).body.revision).toBe(1);
      expect((await server.request('GET', '/api/v1/status')).status).toBe(200);
    });
  });
});
