/**
 * The typed client in clients/typescript/ (issue 11 §2): it matches the live document (CI fails
 * when it is stale), it compiles under strict without casts, and its quickstart runs against the
 * real server: apply, trigger + wait, logs by `after` paging, API keys 201/200, INVALID_WORKFLOW.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAutokestraClient } from '../../clients/typescript/src/index';
import { main } from '../../clients/typescript/examples/quickstart';
import { CLIENT_DIR, DOCUMENT_FILE, SCHEMA_FILE, documentText, schemaSource } from '../../scripts/generate-client.mjs';
import { startTestServer, type TestServer } from '../support/server';

const ROOT = join(__dirname, '..', '..');
const STALE = 'the typed client is stale: run npm run client:generate and commit clients/typescript/';

/** Where two texts first differ, for a short failure message. */
function firstDifference(committed: string, live: string): string {
  const a = committed.split('\n');
  const b = live.split('\n');
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if (a[i] !== b[i]) return `line ${i + 1}: committed ${JSON.stringify(a[i] ?? '<end>')}, live ${JSON.stringify(b[i] ?? '<end>')}`;
  }
  return 'identical';
}

/** The casts and escapes the examples must not need: `as` (but `as const`), `<T>x`, `x!`, `any`, ts-ignore. */
function escapeHatches(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const found: string[] = [];
  const at = (node: ts.Node) => `${file.slice(ROOT.length + 1)}:${source.getLineAndCharacterOfPosition(node.getStart()).line + 1}`;
  const visit = (node: ts.Node): void => {
    if (ts.isAsExpression(node) && !(ts.isTypeReferenceNode(node.type) && node.type.typeName.getText() === 'const')) found.push(`${at(node)} as-cast: ${node.getText()}`);
    if (ts.isTypeAssertionExpression(node)) found.push(`${at(node)} <T> cast: ${node.getText()}`);
    if (ts.isNonNullExpression(node)) found.push(`${at(node)} non-null assertion: ${node.getText()}`);
    if (node.kind === ts.SyntaxKind.AnyKeyword) found.push(`${at(node)} any`);
    ts.forEachChild(node, visit);
  };
  visit(source);
  // the plain-text check as well: ` as ` outside comments and strings, other than `as const`
  const code = text
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/\/\/.*$/gm, '')
    .replace(/`(?:[^`\\]|\\.)*`|'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*"/g, '""');
  for (const match of code.matchAll(/\sas\s+(?!const\b)\S+/g)) found.push(`${file.slice(ROOT.length + 1)}: as-cast: ${match[0].trim()}`);
  for (const match of text.matchAll(/@ts-(ignore|expect-error|nocheck)/g)) found.push(`${file.slice(ROOT.length + 1)}: ${match[0]}`);
  return found;
}

describe('typed client (clients/typescript)', () => {
  let server: TestServer;
  let live: unknown;

  beforeAll(async () => {
    server = await startTestServer();
    const res = await fetch(`${server.url}/api/v1/openapi.json`);
    expect(res.status).toBe(200);
    live = await res.json();
  });
  afterAll(async () => {
    await server?.close();
  });

  it('clients/typescript/openapi.json is the document the server serves', () => {
    const committed = readFileSync(DOCUMENT_FILE, 'utf8');
    const expected = documentText(live);
    expect(committed === expected, `${STALE}\nopenapi.json, ${firstDifference(committed, expected)}`).toBe(true);
  });

  it('clients/typescript/src/schema.ts is what openapi-typescript makes of it', async () => {
    const committed = readFileSync(SCHEMA_FILE, 'utf8');
    const expected = await schemaSource(live);
    expect(committed === expected, `${STALE}\nsrc/schema.ts, ${firstDifference(committed, expected)}`).toBe(true);
    expect(committed).toContain('export interface paths');
    expect(committed).toContain('"/api/v1/workflows/{id}"');
  });

  it('the client and its examples compile under strict, without casts, any, ! or ts-ignore', async () => {
    const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    const run = await promisify(execFile)(process.execPath, [tsc, '-p', join(CLIENT_DIR, 'tsconfig.json')], { cwd: ROOT }).then(
      () => ({ code: 0, output: '' }),
      (error: { code?: number; stdout?: string; stderr?: string }) => ({ code: error.code ?? 1, output: `${error.stdout ?? ''}${error.stderr ?? ''}` }),
    );
    expect(run.output).toBe('');
    expect(run.code).toBe(0);
    const config = JSON.parse(readFileSync(join(CLIENT_DIR, 'tsconfig.json'), 'utf8').replace(/^\s*\/\/.*$/gm, ''));
    expect(config.compilerOptions).toMatchObject({ strict: true, noEmit: true });
    for (const file of ['examples/quickstart.ts', 'examples/run-quickstart.ts', 'src/index.ts']) {
      expect(escapeHatches(join(CLIENT_DIR, file)), file).toEqual([]);
    }
  }, 120_000); // a full tsc run, on a machine shared with the rest of the suite

  it('the quickstart runs against the live server', async () => {
    const printed: string[] = [];
    const result = await main(server.url, server.key, (line) => printed.push(line));

    // 1-2. applied, triggered, waited: SUCCESS with its declared outputs
    expect(result.execution.state).toBe('SUCCESS');
    expect(result.execution.labels).toEqual({ source: 'quickstart' });
    expect(result.execution.inputs).toEqual({ name: 'typed client' });
    expect(result.execution.workflowOutputs).toEqual({ greeting: 'Hello typed client', ticks: 3 });
    const stored = await server.request('GET', `/api/v1/executions/${result.execution.id}`);
    expect(stored.status).toBe(200);
    expect(stored.body).toMatchObject({ id: result.execution.id, workflowId: 'quickstart-hello', state: 'SUCCESS' });
    expect(printed[0]).toBe('created quickstart-hello (revision 1)');

    // 3. every log line, oldest first, none skipped or repeated, across pages of 2
    const messages = result.logs.map((line) => line.message);
    expect(messages).toEqual(expect.arrayContaining(['Hello typed client', 'tick 1', 'tick 2', 'tick 3']));
    const ids = result.logs.map((line) => line.id);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    expect(new Set(ids).size).toBe(ids.length);
    const all = await server.request('GET', `/api/v1/executions/${result.execution.id}/logs?limit=1000`);
    expect(all.status).toBe(200);
    expect(ids).toEqual(all.body.items.map((line: { id: number }) => line.id).reverse());
    expect(ids.length).toBeGreaterThan(4);

    // 4. the first create minted a key (201, plaintext), the second returned it (200, no plaintext)
    expect(result.createdKey).not.toBeNull();
    const created = result.createdKey;
    if (!created) return;
    expect(created.created).toBe(true);
    expect(created.scopes).toEqual(['executions:read', 'logs:read']);
    expect(result.secondCreateWasExisting).toBe(true);
    expect(printed.some((line) => line.includes('the label is taken'))).toBe(true);
    expect(printed.join('\n')).not.toContain(created.key);
    // the minted key works, with exactly its scopes
    const asReader = await server.request('GET', `/api/v1/executions/${result.execution.id}`, { auth: created.key });
    expect(asReader.status).toBe(200);
    const write = await server.request('PUT', '/api/v1/workflows/quickstart-hello', { raw: 'id: quickstart-hello\ntasks: []\n', contentType: 'application/yaml', auth: created.key });
    expect(write.status).toBe(403);
    expect(write.body.error.code).toBe('FORBIDDEN');
    const keys = await server.request('GET', '/api/v1/api-keys');
    expect(keys.body.items.filter((key: { label: string | null }) => key.label === 'quickstart-dashboard')).toHaveLength(1);

    // 5. INVALID_WORKFLOW: every problem, with its path and line
    expect(result.diagnostics.length).toBeGreaterThanOrEqual(2);
    for (const d of result.diagnostics) expect(d.line, JSON.stringify(d)).toEqual(expect.any(Number));
    expect(result.diagnostics.map((d) => d.path)).toEqual(expect.arrayContaining([expect.stringMatching(/^tasks\[0\]/), expect.stringMatching(/^tasks\[1\]\.retry/)]));
    const missing = await server.request('GET', '/api/v1/workflows/quickstart-hello-broken');
    expect(missing.status).toBe(404);

    // run again: the apply is an update, the key create answers the existing key only
    const again = await main(server.url, server.key, () => undefined);
    expect(again.execution.state).toBe('SUCCESS');
    expect(again.createdKey).toBeNull();
    expect(again.execution.revision).toBe(2);
  });

  it('a YAML body sent without bodySerializer (JSON-encoded) is a 400 INVALID_WORKFLOW that names the fix', async () => {
    const client = createAutokestraClient({ baseUrl: server.url, apiKey: server.key });
    const yaml = 'id: wrongly-encoded\ntasks:\n  - {id: a, type: log, message: hi}\n';
    // the raw openapi-fetch PUT: the string is JSON-encoded ("id: wrongly-encoded\n...")
    const res = await client.PUT('/api/v1/workflows/{id}', {
      params: { path: { id: 'wrongly-encoded' } },
      body: yaml,
      headers: { 'Content-Type': 'application/yaml' },
    });
    expect(res.response.status).toBe(400);
    expect(res.error?.error.code).toBe('INVALID_WORKFLOW');
    expect(res.error?.error.message).toMatch(/bodySerializer/);
    expect((await server.request('GET', '/api/v1/workflows/wrongly-encoded')).status).toBe(404);
    // without the header either, openapi-fetch sends application/json: 415 naming the YAML types
    const noHeader = await client.PUT('/api/v1/workflows/{id}', { params: { path: { id: 'wrongly-encoded' } }, body: yaml });
    expect(noHeader.response.status).toBe(415);
    expect(noHeader.error?.error.code).toBe('UNSUPPORTED_MEDIA_TYPE');
    expect(noHeader.error?.error.message).toMatch(/application\/yaml/);
    // the helper sends the same text as is
    const applied = await client.applyWorkflow('wrongly-encoded', yaml);
    expect(applied.response.status).toBe(201);
    expect(applied.data?.source).toBe(yaml);
  });

  it('errors are typed by route: a wrong key is a 401 INVALID_API_KEY', async () => {
    const client = createAutokestraClient({ baseUrl: server.url, apiKey: 'not-a-key-0123456789abcdef' });
    const res = await client.GET('/api/v1/workflows');
    expect(res.response.status).toBe(401);
    expect(res.error?.error.code).toBe('INVALID_API_KEY');
    expect(res.data).toBeUndefined();
  });
});
