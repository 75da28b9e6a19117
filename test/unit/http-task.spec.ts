import * as dns from 'node:dns';
import * as http from 'node:http';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { HttpTask, TaskLogLevel } from '../../src/engine/dsl/types';
import { HttpTaskType } from '../../src/engine/tasks/http-task';
import { AddressPolicy, createGuardedLookup } from '../../src/engine/tasks/ssrf';
import type { TaskContext, TaskRuntimeConfig } from '../../src/engine/tasks/task-type';

interface LogLine {
  level: TaskLogLevel;
  message: string;
}

function makeConfig(http: Partial<TaskRuntimeConfig['http']> = {}): TaskRuntimeConfig {
  return {
    http: { maxResponseBytes: 1024, allowCidrs: [], denyCidrs: [], ...http },
    shell: { enabled: false, maxOutputBytes: 1024 },
  };
}

function makeCtx(config: TaskRuntimeConfig, controller = new AbortController()) {
  const logs: LogLine[] = [];
  const ctx: TaskContext = {
    executionId: 'exec-1',
    taskRunId: 'run-1',
    taskId: 'call',
    attempt: 1,
    signal: controller.signal,
    render: (value) => value,
    log: (level, message) => logs.push({ level, message }),
    maxOutputBytes: 1024 * 1024,
    config,
  };
  return { ctx, logs, controller };
}

function task(overrides: Partial<HttpTask>): HttpTask {
  return {
    id: 'call',
    type: 'http',
    description: null,
    timeoutMs: null,
    retry: null,
    url: 'http://127.0.0.1/',
    method: 'GET',
    headers: {},
    body: null,
    ...overrides,
  };
}

async function failure(promise: Promise<unknown>): Promise<{ kind?: string; message: string }> {
  try {
    await promise;
  } catch (err) {
    return err as { kind?: string; message: string };
  }
  throw new Error('expected the task to fail');
}

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A loopback test server that records every connection and request it receives. */
class TestServer {
  readonly server: http.Server;
  connections = 0;
  requests: Seen[] = [];
  /** resolves the next time a request's socket closes */
  socketClosed: Promise<void> = Promise.resolve();
  port = 0;

  constructor(host: string, handler: (req: http.IncomingMessage, res: http.ServerResponse, body: string) => void) {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        this.requests.push({ method: req.method!, url: req.url!, headers: req.headers, body });
        handler(req, res, body);
      });
    });
    this.server.on('connection', (socket) => {
      this.connections++;
      this.socketClosed = new Promise((resolve) => socket.once('close', () => resolve()));
    });
    this.host = host;
  }
  private readonly host: string;

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, this.host, resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  reset(): void {
    this.connections = 0;
    this.requests = [];
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

const allowLoopback = makeConfig({ allowCidrs: ['127.0.0.1/32'] });
let ipv6Available = true;
let server: TestServer;
let v6server: TestServer | null = null;
let base = '';

beforeAll(async () => {
  server = await new TestServer('127.0.0.1', (req, res, body) => {
    const url = new URL(req.url!, 'http://x');
    switch (url.pathname) {
      case '/json':
        res.setHeader('content-type', 'application/json; charset=utf-8');
        res.setHeader('x-multi', ['a', 'b']);
        res.setHeader('X-Custom', 'Yes');
        res.end(JSON.stringify({ count: 3, items: ['a', 'b'] }));
        return;
      case '/text':
        res.setHeader('content-type', 'text/plain');
        res.end('hello world');
        return;
      case '/bad-json':
        res.setHeader('content-type', 'application/json');
        res.end('{not json');
        return;
      case '/echo':
        res.setHeader('content-type', 'application/json');
        res.end(
          JSON.stringify({
            method: req.method,
            contentType: req.headers['content-type'] ?? null,
            auth: req.headers['authorization'] ?? null,
            custom: req.headers['x-token'] ?? null,
            body,
          }),
        );
        return;
      case '/missing':
        res.statusCode = 404;
        res.end('nope');
        return;
      case '/created':
        res.statusCode = 201;
        res.end();
        return;
      case '/big':
        res.setHeader('content-type', 'text/plain');
        res.end('x'.repeat(5000));
        return;
      case '/big-chunked':
        // no content-length: the cap is enforced while streaming
        res.setHeader('content-type', 'text/plain');
        res.write('y'.repeat(800));
        setTimeout(() => res.end('y'.repeat(800)), 20);
        return;
      case '/redirect':
        res.statusCode = Number(url.searchParams.get('status') ?? 302);
        res.setHeader('location', url.searchParams.get('to') ?? '/json');
        res.end();
        return;
      case '/loop':
        res.statusCode = 302;
        res.setHeader('location', '/loop');
        res.end();
        return;
      case '/slow': {
        const timer = setTimeout(() => res.end('late'), 5_000);
        res.on('close', () => clearTimeout(timer));
        return;
      }
      default:
        res.statusCode = 500;
        res.end();
    }
  }).start();
  base = `http://127.0.0.1:${server.port}`;

  try {
    v6server = await new TestServer('::1', (_req, res) => res.end('v6')).start();
  } catch {
    ipv6Available = false;
  }
});

afterAll(async () => {
  await server?.stop();
  await v6server?.stop();
});

afterEach(() => {
  server.reset();
  v6server?.reset();
});

describe('AddressPolicy', () => {
  const policy = new AddressPolicy({ allowCidrs: [], denyCidrs: [] });

  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.255.0.9', 'loopback'],
    ['::1', 'loopback'],
    ['169.254.1.2', 'link-local'],
    ['fe80::1', 'link-local'],
    ['fe80::1%eth0', 'link-local'],
    ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', 'unspecified'],
    ['::', 'unspecified'],
    ['169.254.169.254', 'cloud metadata'],
    ['fd00:ec2::254', 'cloud metadata'],
    ['fd20:ce::254', 'cloud metadata'],
    ['100.100.100.200', 'cloud metadata'],
    ['192.0.0.192', 'cloud metadata'],
    ['168.63.129.16', 'cloud metadata'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['::ffff:169.254.169.254', 'cloud metadata'],
    ['::127.0.0.1', 'loopback'],
    ['::ffff:0:127.0.0.1', 'loopback'],
    ['64:ff9b::169.254.169.254', 'cloud metadata'],
    ['64:ff9b::7f00:1', 'loopback'],
    ['[::1]', 'loopback'],
  ])('denies %s by default (%s)', (ip, reason) => {
    const result = policy.check(ip);
    expect(result.allowed).toBe(false);
    expect(!result.allowed && result.reason).toContain(reason);
  });

  it.each(['8.8.8.8', '10.0.0.1', '192.168.1.10', '172.16.0.1', '2001:4860:4860::8888', 'fd12::1', '::ffff:8.8.8.8', '64:ff9b::808:808'])(
    'allows %s by default',
    (ip) => {
      expect(policy.check(ip)).toEqual({ allowed: true });
    },
  );

  it('denies what is not an IP address', () => {
    expect(policy.check('example.org').allowed).toBe(false);
    expect(policy.check('').allowed).toBe(false);
  });

  it('applies allowCidrs over the defaults, including the IPv4-mapped form', () => {
    const p = new AddressPolicy({ allowCidrs: ['127.0.0.1/32', 'fe80::/10'], denyCidrs: [] });
    expect(p.check('127.0.0.1').allowed).toBe(true);
    expect(p.check('::ffff:127.0.0.1').allowed).toBe(true);
    expect(p.check('fe80::abcd').allowed).toBe(true);
    expect(p.check('127.0.0.2').allowed).toBe(false);
    expect(p.check('::1').allowed).toBe(false);
  });

  it('applies denyCidrs over allowCidrs and over everything else', () => {
    const p = new AddressPolicy({
      allowCidrs: ['127.0.0.0/8', '10.0.0.0/8'],
      denyCidrs: ['127.0.0.5/32', '10.1.0.0/16', '2001:db8::/32', '::ffff:192.168.0.0/112'],
    });
    expect(p.check('127.0.0.1').allowed).toBe(true);
    expect(p.check('10.2.3.4').allowed).toBe(true);
    const denied = p.check('127.0.0.5');
    expect(denied).toEqual({ allowed: false, reason: 'listed in engine.tasks.http.denyCidrs: 127.0.0.5/32', explicit: true });
    expect(p.check('::ffff:127.0.0.5').allowed).toBe(false);
    expect(p.check('10.1.2.3').allowed).toBe(false);
    expect(p.check('2001:db8::1').allowed).toBe(false);
    // a mapped-IPv6 deny entry covers the plain IPv4 form too
    expect(p.check('192.168.4.4').allowed).toBe(false);
    expect(p.check('8.8.8.8').allowed).toBe(true);
  });

  it('accepts bare addresses as host routes', () => {
    const p = new AddressPolicy({ allowCidrs: ['127.0.0.1', '::1'], denyCidrs: ['8.8.8.8'] });
    expect(p.check('127.0.0.1').allowed).toBe(true);
    expect(p.check('::1').allowed).toBe(true);
    expect(p.check('8.8.8.8').allowed).toBe(false);
  });

  it.each(['nonsense', '10.0.0.0/33', '127.1/8', '1.2.3.4/', 'fe80::/200', ''])(
    'rejects the invalid CIDR %j naming the entry',
    (entry) => {
      expect(() => new AddressPolicy({ allowCidrs: [entry], denyCidrs: [] })).toThrow(
        `invalid CIDR in engine.tasks.http.allowCidrs: ${JSON.stringify(entry)}`,
      );
      expect(() => new AddressPolicy({ allowCidrs: [], denyCidrs: [entry] })).toThrow(/denyCidrs/);
    },
  );
});

describe('createGuardedLookup', () => {
  const lookup = createGuardedLookup(new AddressPolicy({ allowCidrs: [], denyCidrs: [] }));
  const call = (host: string, options: dns.LookupOptions) =>
    new Promise<{ err: Error | null; address: unknown; family?: number }>((resolve) =>
      lookup(host, options, (err, address, family) => resolve({ err, address, family })),
    );

  it('rejects a host that resolves to a denied address', async () => {
    const { err } = await call('localhost', {});
    expect(err).toBeInstanceOf(Error);
    expect(err!.message).toMatch(
      /^SSRF protection: localhost resolves to (127\.0\.0\.1|::1) \(loopback address\); allow it with engine\.tasks\.http\.allowCidrs$/,
    );
    expect((err as { kind?: string }).kind).toBe('SSRF_DENIED');
  });

  it('returns the checked address (or all of them with all: true)', async () => {
    const allowed = createGuardedLookup(new AddressPolicy({ allowCidrs: ['127.0.0.0/8', '::1/128'], denyCidrs: [] }));
    const one = await new Promise<{ address: unknown; family?: number }>((resolve, reject) =>
      allowed('localhost', { family: 4 }, (err, address, family) => (err ? reject(err) : resolve({ address, family }))),
    );
    expect(one).toEqual({ address: '127.0.0.1', family: 4 });
    const all = await new Promise<unknown>((resolve, reject) =>
      allowed('localhost', { family: 4, all: true }, (err, address) => (err ? reject(err) : resolve(address))),
    );
    expect(all).toEqual([{ address: '127.0.0.1', family: 4 }]);
  });

  it('passes DNS errors through', async () => {
    const { err } = await call('does-not-exist.invalid', {});
    expect((err as NodeJS.ErrnoException).code).toMatch(/ENOTFOUND|EAI_AGAIN/);
  });
});

describe('HttpTaskType', () => {
  const httpTask = new HttpTaskType();

  describe('SSRF protection', () => {
    it('denies the loopback server by default and sends nothing', async () => {
      const { ctx, logs } = makeCtx(makeConfig());
      const err = await failure(httpTask.run(task({ url: `${base}/json` }), ctx));
      expect(err.kind).toBe('SSRF_DENIED');
      expect(err.message).toBe(
        'SSRF protection: address 127.0.0.1 is denied (loopback address); allow it with engine.tasks.http.allowCidrs',
      );
      await new Promise((r) => setTimeout(r, 50));
      expect(server.connections).toBe(0);
      expect(server.requests).toHaveLength(0);
      expect(logs).toEqual([]);
    });

    it('denies a hostname resolving to loopback (localhost) without connecting', async () => {
      const { ctx } = makeCtx(makeConfig());
      const err = await failure(httpTask.run(task({ url: `http://localhost:${server.port}/json` }), ctx));
      expect(err.kind).toBe('SSRF_DENIED');
      expect(err.message).toMatch(/^SSRF protection: localhost resolves to (127\.0\.0\.1|::1) \(loopback address\)/);
      await new Promise((r) => setTimeout(r, 50));
      expect(server.connections).toBe(0);
    });

    it.each([
      ['http://169.254.169.254/latest/meta-data/', 'cloud metadata address'],
      [`http://[::ffff:127.0.0.1]:PORT/json`, 'loopback address, IPv4-mapped 127.0.0.1'],
      ['http://0.0.0.0:PORT/json', 'unspecified address'],
      ['http://[::1]:PORT/json', 'loopback address'],
      ['http://0x7f.1:PORT/json', 'loopback address'],
      ['http://2130706433:PORT/json', 'loopback address'],
      ['https://[fd00:ec2::254]/latest/meta-data/', 'cloud metadata address'],
    ])('denies the literal %s without connecting', async (url, reason) => {
      const { ctx } = makeCtx(makeConfig());
      const err = await failure(httpTask.run(task({ url: url.replace('PORT', String(server.port)) }), ctx));
      expect(err.kind).toBe('SSRF_DENIED');
      expect(err.message).toContain(`(${reason})`);
      await new Promise((r) => setTimeout(r, 20));
      expect(server.connections).toBe(0);
    });

    it('honours denyCidrs over allowCidrs', async () => {
      const { ctx } = makeCtx(makeConfig({ allowCidrs: ['127.0.0.0/8'], denyCidrs: ['127.0.0.1/32'] }));
      const err = await failure(httpTask.run(task({ url: `${base}/json` }), ctx));
      expect(err.kind).toBe('SSRF_DENIED');
      expect(err.message).toBe(
        'SSRF protection: address 127.0.0.1 is denied (listed in engine.tasks.http.denyCidrs: 127.0.0.1/32)',
      );
      expect(server.connections).toBe(0);
    });
  });

  describe('with 127.0.0.1/32 allowed', () => {
    it('parses a JSON body and returns status and lowercase headers', async () => {
      const { ctx, logs } = makeCtx(allowLoopback);
      const out = await httpTask.run(task({ url: `${base}/json?token=SECRET` }), ctx);
      expect(out.status).toBe(200);
      expect(out.body).toEqual({ count: 3, items: ['a', 'b'] });
      expect(out.headers['content-type']).toBe('application/json; charset=utf-8');
      expect(out.headers['x-custom']).toBe('Yes');
      expect(out.headers['x-multi']).toBe('a, b');
      expect(Object.keys(out.headers).every((k) => k === k.toLowerCase())).toBe(true);
      expect(server.requests[0]!.url).toBe('/json?token=SECRET');
      expect(logs).toHaveLength(1);
      expect(logs[0]!.level).toBe('info');
      expect(logs[0]!.message).toMatch(new RegExp(`^GET ${base}/json → 200 \\(\\d+ ms\\)$`));
      expect(logs[0]!.message).not.toContain('SECRET');
    });

    it('returns a text body as text, and unparsable JSON as text', async () => {
      const { ctx } = makeCtx(allowLoopback);
      expect((await httpTask.run(task({ url: `${base}/text` }), ctx)).body).toBe('hello world');
      expect((await httpTask.run(task({ url: `${base}/bad-json` }), ctx)).body).toBe('{not json');
      const created = await httpTask.run(task({ url: `${base}/created`, method: 'post' }), ctx);
      expect(created).toMatchObject({ status: 201, body: '' });
      expect(server.requests.at(-1)!.method).toBe('POST');
    });

    it('sends a JSON body with application/json and a text body with text/plain', async () => {
      const { ctx } = makeCtx(allowLoopback);
      const json = await httpTask.run(
        task({ url: `${base}/echo`, method: 'POST', headers: { 'X-Token': 'abc' }, body: { a: 1, b: [true, null] } }),
        ctx,
      );
      expect(json.body).toEqual({
        method: 'POST',
        contentType: 'application/json',
        auth: null,
        custom: 'abc',
        body: '{"a":1,"b":[true,null]}',
      });
      const text = await httpTask.run(task({ url: `${base}/echo`, method: 'PUT', body: 'plain text' }), ctx);
      expect(text.body).toMatchObject({ method: 'PUT', contentType: 'text/plain; charset=utf-8', body: 'plain text' });
      const custom = await httpTask.run(
        task({ url: `${base}/echo`, method: 'POST', headers: { 'content-type': 'application/xml' }, body: '<a/>' }),
        ctx,
      );
      expect(custom.body).toMatchObject({ contentType: 'application/xml', body: '<a/>' });
    });

    it('renders url, headers and body through ctx.render', async () => {
      const { ctx } = makeCtx(allowLoopback);
      const vars: Record<string, unknown> = { '{{ base }}': base, '{{ token }}': 't0k', '{{ n }}': 42 };
      const render = (value: unknown): unknown => {
        if (typeof value === 'string') {
          if (value in vars) return vars[value];
          return value.replace('{{ base }}', base);
        }
        if (Array.isArray(value)) return value.map(render);
        if (value && typeof value === 'object') {
          return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, render(v)]));
        }
        return value;
      };
      ctx.render = render;
      const out = await httpTask.run(
        task({ url: '{{ base }}/echo', method: 'POST', headers: { 'x-token': '{{ token }}' }, body: { n: '{{ n }}' } }),
        ctx,
      );
      expect(out.body).toMatchObject({ custom: 't0k', body: '{"n":42}' });
    });

    it('fails with HTTP_ERROR on a 4xx/5xx status, without the query string', async () => {
      const { ctx, logs } = makeCtx(allowLoopback);
      const err = await failure(httpTask.run(task({ url: `${base}/missing?api_key=SECRET` }), ctx));
      expect(err.kind).toBe('HTTP_ERROR');
      expect(err.message).toBe(`HTTP 404 from GET ${base}/missing`);
      expect(logs[0]!.message).toMatch(new RegExp(`^GET ${base}/missing → 404 \\(\\d+ ms\\)$`));
    });

    it('fails with RESPONSE_TOO_LARGE over the cap (declared or streamed)', async () => {
      const { ctx } = makeCtx(allowLoopback);
      const err = await failure(httpTask.run(task({ url: `${base}/big` }), ctx));
      expect(err.kind).toBe('RESPONSE_TOO_LARGE');
      expect(err.message).toContain('1024');
      const streamed = await failure(httpTask.run(task({ url: `${base}/big-chunked` }), ctx));
      expect(streamed.kind).toBe('RESPONSE_TOO_LARGE');
    });

    it('rejects non-http(s) URLs with INVALID_REQUEST', async () => {
      const { ctx } = makeCtx(allowLoopback);
      for (const url of ['file:///etc/passwd', 'ftp://127.0.0.1/', 'not a url', 'gopher://127.0.0.1:70/']) {
        const err = await failure(httpTask.run(task({ url }), ctx));
        expect(err.kind).toBe('INVALID_REQUEST');
      }
      const badHeader = await failure(httpTask.run(task({ url: `${base}/json`, headers: { 'x-a': 'line\nbreak' } }), ctx));
      expect(badHeader.kind).toBe('INVALID_REQUEST');
      expect(server.connections).toBe(0);
    });

    it('follows redirects to an allowed address, logging each request', async () => {
      const { ctx, logs } = makeCtx(allowLoopback);
      const out = await httpTask.run(task({ url: `${base}/redirect?to=/json` }), ctx);
      expect(out).toMatchObject({ status: 200, body: { count: 3 } });
      expect(server.requests.map((r) => r.url)).toEqual(['/redirect?to=/json', '/json']);
      expect(logs.map((l) => l.message.replace(/\(\d+ ms\)/, ''))).toEqual([
        `GET ${base}/redirect → 302 `,
        `GET ${base}/json → 200 `,
      ]);
    });

    it('turns POST into GET on 301/302/303 and keeps the method and body on 307/308', async () => {
      const { ctx } = makeCtx(allowLoopback);
      for (const status of [301, 302, 303]) {
        const out = await httpTask.run(
          task({ url: `${base}/redirect?status=${status}&to=/echo`, method: 'POST', body: { x: 1 } }),
          ctx,
        );
        expect(out.body).toMatchObject({ method: 'GET', body: '', contentType: null });
      }
      for (const status of [307, 308]) {
        const out = await httpTask.run(
          task({ url: `${base}/redirect?status=${status}&to=/echo`, method: 'POST', body: { x: 1 } }),
          ctx,
        );
        expect(out.body).toMatchObject({ method: 'POST', body: '{"x":1}', contentType: 'application/json' });
      }
      const put = await httpTask.run(task({ url: `${base}/redirect?status=303&to=/echo`, method: 'PUT', body: 'b' }), ctx);
      expect(put.body).toMatchObject({ method: 'GET', body: '' });
    });

    it('keeps Authorization on a same-origin redirect and drops it across origins', async () => {
      const cfg = makeConfig({ allowCidrs: ['127.0.0.0/8'] });
      const { ctx } = makeCtx(cfg);
      const same = await httpTask.run(
        task({ url: `${base}/redirect?to=/echo`, headers: { Authorization: 'Bearer s3cret' } }),
        ctx,
      );
      expect(same.body).toMatchObject({ auth: 'Bearer s3cret' });
      // 127.0.0.1 → localhost is another origin (same server)
      const other = `http://localhost:${server.port}/echo`;
      const cross = await httpTask.run(
        task({
          url: `${base}/redirect?to=${encodeURIComponent(other)}`,
          headers: { Authorization: 'Bearer s3cret', 'X-Token': 'kept' },
        }),
        makeCtx(makeConfig({ allowCidrs: ['127.0.0.0/8', '::1/128'] })).ctx,
      );
      expect(cross.body).toMatchObject({ auth: null, custom: 'kept' });
    });

    it('stops after 5 redirects', async () => {
      const { ctx } = makeCtx(allowLoopback);
      const err = await failure(httpTask.run(task({ url: `${base}/loop` }), ctx));
      expect(err.kind).toBe('TOO_MANY_REDIRECTS');
      expect(server.requests).toHaveLength(6);
    });

    it('treats a 3xx without Location as the final response', async () => {
      const { ctx } = makeCtx(allowLoopback);
      const out = await httpTask.run(task({ url: `${base}/redirect?status=304&to=` }), ctx);
      expect(out.status).toBe(304);
    });

    it('refuses a redirect to a non-http scheme', async () => {
      const { ctx } = makeCtx(allowLoopback);
      const err = await failure(httpTask.run(task({ url: `${base}/redirect?to=${encodeURIComponent('file:///etc/passwd')}` }), ctx));
      expect(err.kind).toBe('INVALID_REQUEST');
      expect(err.message).toContain('must use http or https');
    });

    it('refuses a redirect to the metadata address without contacting it', async () => {
      const { ctx } = makeCtx(allowLoopback);
      const err = await failure(
        httpTask.run(task({ url: `${base}/redirect?to=${encodeURIComponent('http://169.254.169.254/latest/meta-data/')}` }), ctx),
      );
      expect(err.kind).toBe('SSRF_DENIED');
      expect(err.message).toContain('169.254.169.254');
      expect(server.requests).toHaveLength(1);
    });

    it('refuses a redirect to [::1] and the second server receives nothing', async () => {
      if (!ipv6Available || !v6server) return;
      const { ctx } = makeCtx(allowLoopback);
      const target = `http://[::1]:${v6server.port}/`;
      const err = await failure(httpTask.run(task({ url: `${base}/redirect?to=${encodeURIComponent(target)}` }), ctx));
      expect(err.kind).toBe('SSRF_DENIED');
      expect(err.message).toContain('address ::1 is denied (loopback address)');
      await new Promise((r) => setTimeout(r, 50));
      expect(v6server.connections).toBe(0);
      expect(server.requests).toHaveLength(1);
    });

    it('refuses a redirect to a hostname resolving to a denied address', async () => {
      // the redirector listens on 127.0.0.2 (allowed); localhost (127.0.0.1 / ::1) is not allowed
      let redirector: TestServer;
      try {
        redirector = await new TestServer('127.0.0.2', (_req, res) => {
          res.statusCode = 302;
          res.setHeader('location', `http://localhost:${server.port}/json`);
          res.end();
        }).start();
      } catch {
        return; // no 127.0.0.2 on this system
      }
      try {
        const { ctx } = makeCtx(makeConfig({ allowCidrs: ['127.0.0.2/32'] }));
        const err = await failure(httpTask.run(task({ url: `http://127.0.0.2:${redirector.port}/` }), ctx));
        expect(err.kind).toBe('SSRF_DENIED');
        expect(err.message).toMatch(/^SSRF protection: localhost resolves to (127\.0\.0\.1|::1) \(loopback address\)/);
        expect(redirector.requests).toHaveLength(1);
        await new Promise((r) => setTimeout(r, 50));
        expect(server.connections).toBe(0);
      } finally {
        await redirector.stop();
      }
    });

    it('aborts mid-request: rejects with the signal reason and closes the socket', async () => {
      const { ctx } = makeCtx(allowLoopback);
      const controller = new AbortController();
      ctx.signal = controller.signal;
      const reason = new Error('cancelled by user');
      const promise = httpTask.run(task({ url: `${base}/slow` }), ctx);
      await new Promise((r) => setTimeout(r, 100));
      expect(server.requests).toHaveLength(1);
      const closed = server.socketClosed;
      const abortedAt = Date.now();
      controller.abort(reason);
      await expect(promise).rejects.toBe(reason);
      expect(Date.now() - abortedAt).toBeLessThan(500);
      await closed; // the server saw the socket close
    });

    it('rejects at once with the reason when already aborted', async () => {
      const { ctx, controller } = makeCtx(allowLoopback);
      const reason = new Error('timeout');
      controller.abort(reason);
      await expect(httpTask.run(task({ url: `${base}/json` }), ctx)).rejects.toBe(reason);
      expect(server.connections).toBe(0);
    });

    it('reports a refused connection as REQUEST_FAILED', async () => {
      const closedPort = await new Promise<number>((resolve) => {
        const s = net.createServer();
        s.listen(0, '127.0.0.1', () => {
          const port = (s.address() as AddressInfo).port;
          s.close(() => resolve(port));
        });
      });
      const { ctx } = makeCtx(allowLoopback);
      const err = await failure(httpTask.run(task({ url: `http://127.0.0.1:${closedPort}/x?secret=1` }), ctx));
      expect(err.kind).toBe('REQUEST_FAILED');
      expect(err.message).toContain(`GET http://127.0.0.1:${closedPort}/x failed`);
      expect(err.message).not.toContain('secret');
    });
  });
});
