/**
 * The MCP server (issue 8 §4): Streamable HTTP at POST /mcp (stateless) and `autokestra mcp`
 * over stdio, driven by the official SDK Client. Same keys, scopes, namespaces and audit as the
 * REST face; DNS-rebinding defence; nothing but protocol on the stdio server's stdout.
 */
import { randomBytes } from 'node:crypto';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { McpError, type CallToolResult, type Progress } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, runCli } from '../support/cli';
import { applyWorkflow, startTestServer, TEST_CONFIG, type TestServer } from '../support/server';
import { createKey, waitForAudit, type CreatedKey } from './access-helpers';
import { expectError, parseLogLines, rawRequest, uniqueId } from './helpers';

const ALLOWED_ORIGIN = 'http://allowed.example:3000';
/** An argument value that must never reach a log line or the audit trail. */
const MARKER = `arg-marker-${randomBytes(6).toString('hex')}`;
const HTTP_UA = 'mcp-e2e-http/1.0';

let server: TestServer;
let toolsKey: CreatedKey; // tools:invoke + executions:read + logs:read
let noToolsKey: CreatedKey; // executions:read only
let nsKey: CreatedKey; // tools:invoke, namespace team-a only
const suffix = randomBytes(3).toString('hex');
const T = {
  sum: `mcp_sum_${suffix}`,
  fail: `mcp_fail_${suffix}`,
  slow: `mcp_slow_${suffix}`,
  steps: `mcp_steps_${suffix}`,
  other: `mcp_other_${suffix}`,
};

const clients: Client[] = [];

async function httpClient(key: string, name = 'mcp-e2e-http-client'): Promise<Client> {
  const client = new Client({ name, version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(`${server.url}/mcp`), {
    requestInit: { headers: { authorization: `Bearer ${key}`, 'user-agent': HTTP_UA } },
  });
  await client.connect(transport);
  clients.push(client);
  return client;
}

function firstText(result: CallToolResult): string {
  const block = result.content.find((c) => c.type === 'text');
  expect(block, JSON.stringify(result)).toBeTruthy();
  return (block as { text: string }).text;
}

function allText(result: CallToolResult): string {
  return result.content.map((c) => (c.type === 'text' ? c.text : '')).join('\n');
}

function mcpPost(body: unknown, headers: Record<string, string> = {}) {
  return rawRequest(server.url, 'POST', '/mcp', {
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', host: new URL(server.url).host, ...headers },
    body: JSON.stringify(body),
  });
}

const INITIALIZE = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '0' } } };

beforeAll(async () => {
  server = await startTestServer({
    configure: (c) => {
      c.mcp.allowedOrigins = [ALLOWED_ORIGIN];
      c.server.bodyLimitBytes = 16_384;
    },
  });
  await applyWorkflow(
    server,
    'mcp-sum',
    [
      'id: mcp-sum',
      'namespace: team-a',
      'description: Totals a day',
      'inputs:',
      '  - {id: day, type: datetime, required: true, description: The day}',
      '  - {id: limit, type: integer, default: 10}',
      '  - {id: note, type: string, required: false}',
      'tasks:',
      '  - {id: sum, type: output, values: {total: 42}}',
      'outputs:',
      '  - {id: total, type: number, value: "{{ outputs.sum.total }}", description: Revenue}',
      '  - {id: limit, type: integer, value: "{{ inputs.limit }}"}',
      'tool:',
      `  name: ${T.sum}`,
      '  title: Sum of a day',
      '  annotations: {readOnlyHint: true, idempotentHint: true}',
      '',
    ].join('\n'),
  );
  await applyWorkflow(server, 'mcp-fail', `id: mcp-fail\nnamespace: team-a\ndescription: Always fails\ntasks:\n  - {id: boom, type: fail, message: the ledger is locked}\ntool: {name: ${T.fail}}\n`);
  await applyWorkflow(server, 'mcp-slow', `id: mcp-slow\nnamespace: team-a\ndescription: Takes a while\ntasks:\n  - {id: nap, type: sleep, duration: 20s}\ntool: {name: ${T.slow}, wait: 1s}\n`);
  await applyWorkflow(
    server,
    'mcp-steps',
    `id: mcp-steps\nnamespace: team-a\ndescription: Three steps\ntasks:\n  - {id: one, type: output, values: {n: 1}}\n  - {id: two, type: sleep, duration: 300ms}\n  - {id: three, type: output, values: {n: 3}}\ntool: {name: ${T.steps}}\n`,
  );
  await applyWorkflow(server, 'mcp-other', `id: mcp-other\nnamespace: team-b\ndescription: Another team's tool\ntasks:\n  - {id: hi, type: log, message: hi}\ntool: {name: ${T.other}}\n`);
  toolsKey = await createKey(server, { scopes: ['tools:invoke', 'executions:read', 'logs:read'] });
  noToolsKey = await createKey(server, { scopes: ['executions:read'] });
  nsKey = await createKey(server, { scopes: ['tools:invoke'], namespaces: ['team-a'] });
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
  await server?.close();
});

describe('POST /mcp with the SDK client (Streamable HTTP)', () => {
  it('lists exactly the REST catalogue of the key, with schemas and annotations', async () => {
    const client = await httpClient(toolsKey.key);
    expect(client.getServerVersion()?.name).toBe('autokestra');
    const { tools } = await client.listTools();
    const rest = await server.request('GET', '/api/v1/tools?limit=500', { auth: toolsKey.key });
    expect(rest.status, rest.text).toBe(200);
    expect(tools.map((t) => t.name)).toEqual(rest.body.items.map((t: { name: string }) => t.name));
    for (const [i, tool] of tools.entries()) {
      const expected = rest.body.items[i];
      expect(tool.description).toBe(expected.description);
      expect(tool.inputSchema).toEqual(expected.inputSchema);
      expect(tool.outputSchema).toEqual(expected.outputSchema);
      expect(tool.annotations ?? {}).toEqual(expected.annotations);
      expect(Object.keys(tool).every((k) => ['name', 'title', 'description', 'inputSchema', 'outputSchema', 'annotations'].includes(k))).toBe(true);
    }
    const sum = tools.find((t) => t.name === T.sum)!;
    expect(sum.title).toBe('Sum of a day');
    expect(sum.inputSchema).toMatchObject({ type: 'object', required: ['day'], properties: { day: { type: 'string', format: 'date-time' }, limit: { type: 'integer', default: 10 } } });
    expect(sum.annotations).toMatchObject({ readOnlyHint: true, idempotentHint: true });
    // built-ins follow the key's scopes: executions:read and logs:read, not executions:write
    expect(tools.map((t) => t.name)).toEqual(expect.arrayContaining(['get_execution', 'get_execution_logs', 'dry_run_tool', T.sum, T.fail, T.other]));
    expect(tools.map((t) => t.name)).not.toContain('cancel_execution');
  });

  it('lists only the tools of a namespace-restricted key, and a tool it cannot see is -32602', async () => {
    const client = await httpClient(nsKey.key);
    const names = (await client.listTools()).tools.map((t) => t.name);
    expect(names).toContain(T.sum);
    expect(names).not.toContain(T.other);
    expect(names).not.toContain('get_execution');
    const error = await client.callTool({ name: T.other, arguments: {} }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(McpError);
    expect((error as McpError).code).toBe(-32602);
  });

  it('calls a tool: structuredContent matches the outputSchema, the text block is the same JSON', async () => {
    const client = await httpClient(toolsKey.key);
    await client.listTools(); // the client validates structuredContent against the listed outputSchema
    const result = (await client.callTool({ name: T.sum, arguments: { day: '2026-01-31T00:00:00Z', note: MARKER } })) as CallToolResult;
    expect(result.isError ?? false).toBe(false);
    expect(result.structuredContent).toMatchObject({ status: 'SUCCESS', outputs: { total: 42, limit: 10 } });
    expect(result.structuredContent!.executionId).toMatch(/^[0-9A-Z]{26}$|^[\w-]+$/);
    expect(typeof result.structuredContent!.durationMs).toBe('number');
    expect(JSON.parse(firstText(result))).toEqual(result.structuredContent);
    // the execution is a real one, triggered as a tool through MCP
    const execution = await server.request('GET', `/api/v1/executions/${result.structuredContent!.executionId as string}`);
    expect(execution.status, execution.text).toBe(200);
    expect(execution.body.trigger).toMatchObject({ type: 'tool', tool: T.sum, transport: 'mcp' });
  });

  it('an Idempotency-Key header, or the _meta key, answers a retried call with the first execution', async () => {
    const headerKey = `mcp-idem-${suffix}`;
    const withHeader = async (): Promise<CallToolResult> => {
      const client = new Client({ name: 'mcp-e2e-idempotent', version: '1.0.0' });
      await client.connect(new StreamableHTTPClientTransport(new URL(`${server.url}/mcp`), {
        requestInit: { headers: { authorization: `Bearer ${toolsKey.key}`, 'user-agent': HTTP_UA, 'idempotency-key': headerKey } },
      }));
      clients.push(client);
      return (await client.callTool({ name: T.sum, arguments: { day: '2026-01-31T00:00:00Z' } })) as CallToolResult;
    };
    const first = await withHeader();
    const again = await withHeader();
    expect(first.isError ?? false, JSON.stringify(first)).toBe(false);
    expect(again.structuredContent!.executionId).toBe(first.structuredContent!.executionId);

    const client = await httpClient(toolsKey.key);
    const meta = { 'io.autokestra/idempotency-key': `mcp-meta-${suffix}` };
    const a = (await client.callTool({ name: T.sum, arguments: { day: '2026-01-31T00:00:00Z' }, _meta: meta })) as CallToolResult;
    const b = (await client.callTool({ name: T.sum, arguments: { day: '2026-01-31T00:00:00Z' }, _meta: meta })) as CallToolResult;
    const c = (await client.callTool({ name: T.sum, arguments: { day: '2026-01-31T00:00:00Z' } })) as CallToolResult;
    expect(b.structuredContent!.executionId).toBe(a.structuredContent!.executionId);
    expect(c.structuredContent!.executionId).not.toBe(a.structuredContent!.executionId);
    expect(a.structuredContent!.executionId).not.toBe(first.structuredContent!.executionId);

    // the same key with other arguments is a conflict, as on triggers: isError naming it
    const conflict = (await client.callTool({ name: T.sum, arguments: { day: '2026-02-01T00:00:00Z' }, _meta: meta })) as CallToolResult;
    expect(conflict.isError, JSON.stringify(conflict)).toBe(true);
    expect(allText(conflict)).toMatch(/IDEMPOTENCY|idempotency/i);

    // a malformed key: the header is a 400 in the error shape, the _meta key is -32602
    const bad = await mcpPost({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} }, { authorization: `Bearer ${toolsKey.key}`, 'idempotency-key': 'has space' });
    expectError(bad, 400, 'VALIDATION_ERROR');
    const badMeta = client.callTool({ name: T.sum, arguments: { day: '2026-01-31T00:00:00Z' }, _meta: { 'io.autokestra/idempotency-key': '' } });
    await expect(badMeta).rejects.toMatchObject({ code: -32602 });
  });

  it('answers isError for a failed execution, with the error a model can act on', async () => {
    const client = await httpClient(toolsKey.key);
    const result = (await client.callTool({ name: T.fail, arguments: {} })) as CallToolResult;
    expect(result.isError).toBe(true);
    expect(result.structuredContent).toMatchObject({ status: 'FAILED', error: { message: expect.stringContaining('the ledger is locked'), taskId: 'boom' } });
    expect(allText(result)).toContain('the ledger is locked');
    expect(allText(result)).toContain('boom');
  });

  it('answers isError for invalid arguments, naming each bad field', async () => {
    const client = await httpClient(toolsKey.key);
    const result = (await client.callTool({ name: T.sum, arguments: { limit: 'many', bogus: MARKER } })) as CallToolResult;
    expect(result.isError).toBe(true);
    expect(result.structuredContent).toBeUndefined();
    const text = allText(result);
    expect(text).toContain('INVALID_INPUTS');
    for (const field of ['day', 'limit', 'bogus']) expect(text).toMatch(new RegExp(`\\b${field}\\b`));
    expect(text).not.toContain(MARKER);
  });

  it('answers an unknown tool with JSON-RPC -32602 and the nearest names', async () => {
    const client = await httpClient(toolsKey.key);
    const error = await client.callTool({ name: `${T.sum}x`, arguments: {} }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(McpError);
    expect((error as McpError).code).toBe(-32602);
    expect((error as McpError).message).toContain(T.sum);
  });

  it('sends notifications/progress task by task when the call carries a progressToken', async () => {
    const client = await httpClient(toolsKey.key);
    const progress: Progress[] = [];
    const result = (await client.callTool({ name: T.steps, arguments: {} }, undefined, { onprogress: (p) => progress.push(p) })) as CallToolResult;
    expect(result.structuredContent).toMatchObject({ status: 'SUCCESS' });
    expect(progress.length).toBeGreaterThanOrEqual(2);
    expect(progress.map((p) => p.progress)).toEqual([...progress.map((p) => p.progress)].sort((a, b) => a - b));
    expect(progress.at(-1)!.progress).toBe(3);
    expect(progress.every((p) => p.total === 3)).toBe(true);
  });

  it('answers RUNNING (not an error) when the wait runs out, pointing at get_execution', async () => {
    const client = await httpClient(toolsKey.key);
    const result = (await client.callTool({ name: T.slow, arguments: {} })) as CallToolResult;
    expect(result.isError ?? false).toBe(false);
    expect(['RUNNING', 'QUEUED']).toContain(result.structuredContent!.status);
    const executionId = result.structuredContent!.executionId as string;
    expect(allText(result)).toContain('get_execution');
    expect(allText(result)).toContain(executionId);
    const followed = (await client.callTool({ name: 'get_execution', arguments: { executionId } })) as CallToolResult;
    expect(followed.isError ?? false).toBe(false);
    expect(followed.structuredContent).toMatchObject({ executionId, status: expect.stringMatching(/QUEUED|RUNNING/) });
    await server.request('POST', `/api/v1/executions/${executionId}/cancel`);
  });

  it('answers a built-in that cannot find its execution with isError, not a protocol error', async () => {
    const client = await httpClient(toolsKey.key);
    const result = (await client.callTool({ name: 'get_execution', arguments: { executionId: 'no-such-execution' } })) as CallToolResult;
    expect(result.isError).toBe(true);
    expect(allText(result)).toContain('NOT_FOUND');
  });
});

describe('POST /mcp: protocol edges', () => {
  it('speaks 2025-11-25, 2025-06-18 and 2025-03-26, and offers 2025-11-25 for anything older', async () => {
    for (const version of ['2025-11-25', '2025-06-18', '2025-03-26']) {
      const res = await mcpPost({ ...INITIALIZE, params: { ...INITIALIZE.params, protocolVersion: version } }, { authorization: `Bearer ${toolsKey.key}` });
      expect(res.status, res.text).toBe(200);
      expect(res.body.result.protocolVersion).toBe(version);
      expect(res.headers.get('mcp-session-id')).toBeNull();
    }
    const old = await mcpPost({ ...INITIALIZE, params: { ...INITIALIZE.params, protocolVersion: '2024-11-05' } }, { authorization: `Bearer ${toolsKey.key}` });
    expect(old.body.result.protocolVersion).toBe('2025-11-25');
    const header = await mcpPost({ jsonrpc: '2.0', id: 2, method: 'tools/list' }, { authorization: `Bearer ${toolsKey.key}`, 'mcp-protocol-version': '2024-11-05' });
    expect(header.status).toBe(400);
  });

  it('keeps the security headers and the request id on MCP answers', async () => {
    const res = await mcpPost(INITIALIZE, { authorization: `Bearer ${toolsKey.key}`, 'x-request-id': 'mcp-probe-1' });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-request-id')).toBe('mcp-probe-1');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
  });

  it('401 without a key or with a bad one, with a WWW-Authenticate naming the resource metadata', async () => {
    const expected = `Bearer resource_metadata="${server.url}/.well-known/oauth-protected-resource"`;
    for (const headers of [{}, { authorization: 'Bearer not-a-real-key-0123456789abcdef' }, { 'x-api-key': 'nope' }]) {
      const res = await mcpPost(INITIALIZE, headers);
      expectError(res, 401, res.body?.error?.code);
      expect(['MISSING_API_KEY', 'INVALID_API_KEY']).toContain(res.body.error.code);
      expect(res.headers.get('www-authenticate')).toBe(expected);
    }
  });

  it('the SDK client sees the 401 too', async () => {
    const client = new Client({ name: 'anon', version: '0' });
    await expect(client.connect(new StreamableHTTPClientTransport(new URL(`${server.url}/mcp`)))).rejects.toThrow();
  });

  it('403 insufficient_scope for a key without tools:invoke; X-API-Key works like Bearer', async () => {
    const res = await mcpPost(INITIALIZE, { 'x-api-key': noToolsKey.key });
    expectError(res, 403, 'FORBIDDEN');
    expect(res.headers.get('www-authenticate')).toBe(`Bearer error="insufficient_scope", scope="tools:invoke", resource_metadata="${server.url}/.well-known/oauth-protected-resource"`);
    const ok = await mcpPost(INITIALIZE, { 'x-api-key': toolsKey.key });
    expect(ok.status, ok.text).toBe(200);
  });

  it('405 with Allow: POST for GET and DELETE', async () => {
    for (const method of ['GET', 'DELETE']) {
      const res = await server.request(method, '/mcp', { auth: toolsKey.key, headers: { accept: 'text/event-stream' } });
      expectError(res, 405, 'METHOD_NOT_ALLOWED');
      expect(res.headers.get('allow')).toBe('POST');
    }
  });

  it('refuses an Origin that is not in mcp.allowedOrigins (403, before authentication), accepts a listed one', async () => {
    for (const origin of ['http://evil.example.com', 'null', `${server.url}`]) {
      const res = await mcpPost(INITIALIZE, { authorization: `Bearer ${toolsKey.key}`, origin });
      expectError(res, 403, 'FORBIDDEN');
      expect(res.body.error.message).toMatch(/Origin/);
      expect(res.headers.get('www-authenticate')).toBeNull();
    }
    const anonymous = await mcpPost(INITIALIZE, { origin: 'http://evil.example.com' });
    expectError(anonymous, 403, 'FORBIDDEN');
    const allowed = await mcpPost(INITIALIZE, { authorization: `Bearer ${toolsKey.key}`, origin: ALLOWED_ORIGIN });
    expect(allowed.status, allowed.text).toBe(200);
  });

  it('on a loopback listener, refuses a Host that is not a loopback name (403)', async () => {
    const port = new URL(server.url).port;
    for (const host of ['evil.example.com', `evil.example.com:${port}`, `127.0.0.1.evil.example:${port}`]) {
      const res = await mcpPost(INITIALIZE, { authorization: `Bearer ${toolsKey.key}`, host });
      expectError(res, 403, 'FORBIDDEN');
      expect(res.body.error.message).toMatch(/Host/);
    }
    for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, 'localhost']) {
      const res = await mcpPost(INITIALIZE, { authorization: `Bearer ${toolsKey.key}`, host });
      expect(res.status, `${host}: ${res.text}`).toBe(200);
    }
  });

  it('413 in the error shape for a body over server.bodyLimitBytes', async () => {
    const big = { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: T.sum, arguments: { note: 'x'.repeat(20_000) } } };
    const res = await mcpPost(big, { authorization: `Bearer ${toolsKey.key}` });
    expectError(res, 413, 'PAYLOAD_TOO_LARGE');
  });

  it('serves the RFC 9728 protected resource metadata, publicly', async () => {
    for (const path of ['/.well-known/oauth-protected-resource', '/.well-known/oauth-protected-resource/mcp']) {
      const res = await server.request('GET', path, { auth: false });
      expect(res.status, res.text).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      expect(res.body).toMatchObject({ resource: `${server.url}/mcp`, bearer_methods_supported: ['header'], scopes_supported: ['tools:invoke'] });
    }
  });
});

describe('autokestra mcp (stdio)', () => {
  function stdioTransport(env: Record<string, string>) {
    return new StdioClientTransport({
      command: process.execPath,
      args: [CLI, 'mcp'],
      env: { PATH: process.env.PATH ?? '', AUTOKESTRA_CONFIG: TEST_CONFIG, AUTOKESTRA_DATABASE_URL: server.databaseUrl, AUTOKESTRA_LOG_LEVEL: 'debug', ...env },
      stderr: 'pipe',
    });
  }

  it('serves the key\'s tools over stdio; stdout carries protocol only, logs go to stderr', async () => {
    const transport = stdioTransport({ AUTOKESTRA_API_KEY: toolsKey.key });
    let stderr = '';
    transport.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const protocolErrors: Error[] = [];
    const client = new Client({ name: 'mcp-e2e-stdio', version: '2.0.0' });
    client.onerror = (error) => protocolErrors.push(error);
    await client.connect(transport);
    try {
      const names = (await client.listTools()).tools.map((t) => t.name);
      const httpClientNames = (await (await httpClient(toolsKey.key)).listTools()).tools.map((t) => t.name);
      expect(names).toEqual(httpClientNames);
      const result = (await client.callTool({ name: T.sum, arguments: { day: '2026-02-01T00:00:00Z', note: MARKER } })) as CallToolResult;
      expect(result.structuredContent).toMatchObject({ status: 'SUCCESS', outputs: { total: 42 } });
      const unknown = await client.callTool({ name: 'nope_tool', arguments: {} }).then(
        () => null,
        (e: unknown) => e,
      );
      expect((unknown as McpError).code).toBe(-32602);
      const invalid = (await client.callTool({ name: T.sum, arguments: {} })) as CallToolResult;
      expect(invalid.isError).toBe(true);
      expect(allText(invalid)).toMatch(/\bday\b/);

      const [event] = await waitForAudit(server, 'action=tool.invoke', (items) => items.some((e) => e.details?.transport === 'stdio' && e.resourceId === T.sum));
      expect(event).toBeTruthy();
      const stdioEvents = (await waitForAudit(server, 'action=tool.invoke', () => true)).filter((e) => e.details?.transport === 'stdio');
      expect(stdioEvents.length).toBeGreaterThanOrEqual(3);
      for (const e of stdioEvents) {
        expect(e.details.client).toBe('mcp-e2e-stdio/2.0.0');
        expect(e.actor).toBe(toolsKey.prefix);
        expect(JSON.stringify(e)).not.toContain(MARKER);
      }
    } finally {
      await client.close();
    }
    expect(protocolErrors).toEqual([]);
    const lines = parseLogLines(stderr);
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.every((l) => !('raw' in l)), stderr).toBe(true);
    expect(stderr).not.toContain(toolsKey.key);
    expect(stderr).not.toContain(MARKER);
  });

  it('refuses to start without a key, with a bad key, or with a key lacking tools:invoke (stderr message, no stdout)', async () => {
    const env = { AUTOKESTRA_CONFIG: TEST_CONFIG, AUTOKESTRA_DATABASE_URL: server.databaseUrl };
    const missing = await runCli(['mcp'], { ...env, AUTOKESTRA_API_KEY: undefined });
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain('AUTOKESTRA_API_KEY');
    expect(missing.stdout).toBe('');
    const bad = await runCli(['mcp'], { ...env, AUTOKESTRA_API_KEY: 'ak_notarealkey0000000000000000000000000000' });
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/does not authenticate/);
    expect(bad.stdout).toBe('');
    const scopeless = await runCli(['mcp'], { ...env, AUTOKESTRA_API_KEY: noToolsKey.key });
    expect(scopeless.code).not.toBe(0);
    expect(scopeless.stderr).toContain('tools:invoke');
    expect(scopeless.stdout).toBe('');
    expect(scopeless.stderr).not.toContain(noToolsKey.key);
  });
});

describe('audit and logs', () => {
  it('records every MCP call as tool.invoke with transport mcp and the client, never argument values', async () => {
    const client = await httpClient(toolsKey.key);
    const id = uniqueId('probe');
    await client.callTool({ name: T.sum, arguments: { day: '2026-03-01T00:00:00Z', note: `${MARKER}-${id}` } });
    const items = await waitForAudit(server, 'action=tool.invoke', (all) => all.some((e) => e.details?.transport === 'mcp' && e.resourceId === T.sum && e.outcome === 'success'));
    const mcpEvents = items.filter((e) => e.details?.transport === 'mcp');
    expect(mcpEvents.length).toBeGreaterThanOrEqual(5);
    for (const e of mcpEvents) {
      expect(e.action).toBe('tool.invoke');
      expect(e.details.client).toBe(HTTP_UA);
      expect(JSON.stringify(e)).not.toContain(MARKER);
    }
    expect(mcpEvents.map((e) => e.outcome)).toEqual(expect.arrayContaining(['success', 'failure', 'denied']));
    const success = mcpEvents.find((e) => e.resourceId === T.sum && e.outcome === 'success')!;
    expect(success.actor).toBe(toolsKey.prefix);
    expect(success.namespace).toBe('team-a');
    expect(typeof success.details.executionId).toBe('string');
  });

  it('no server log line holds a key or an argument value', async () => {
    const text = await server.logs();
    expect(parseLogLines(text).length).toBeGreaterThan(0);
    for (const secret of [server.key, toolsKey.key, noToolsKey.key, nsKey.key, MARKER]) expect(text).not.toContain(secret);
  });
});
