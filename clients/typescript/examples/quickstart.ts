/**
 * Quickstart with the typed client: apply a workflow, run it and wait, read its logs, create an
 * API key, and handle an error by its code. Everything below is typed from the server's OpenAPI
 * document: no casts, no `any`, no non-null assertions.
 *
 * Run it against a server: AUTOKESTRA_URL=http://127.0.0.1:8080 AUTOKESTRA_API_KEY=... \
 *   npx tsx clients/typescript/examples/run-quickstart.ts
 * (test/e2e/client.e2e.spec.ts calls main() against a live server.)
 */
import {
  createAutokestraClient,
  type AutokestraClient,
  type CreateApiKey,
  type CreatedApiKey,
  type Execution,
  type LogLine,
  type WorkflowDiagnostic,
} from '../src/index';

const WORKFLOW_ID = 'quickstart-hello';

const WORKFLOW_YAML = `id: ${WORKFLOW_ID}
namespace: examples
description: Says hello from the typed client quickstart
inputs:
  - {id: name, type: string, default: world}
tasks:
  - {id: hello, type: log, message: "Hello {{ inputs.name }}"}
  - {id: count, type: foreach, items: [1, 2, 3], tasks: [{id: tick, type: log, message: "tick {{ item }}"}]}
outputs:
  - {id: greeting, type: string, value: "Hello {{ inputs.name }}"}
  - {id: ticks, type: integer, value: "{{ outputs.count.iterations }}"}
`;

/** tasks[0] has no `type` and `retry.maxAttempts` is not a number: two problems, each with its line */
const BROKEN_YAML = `id: ${WORKFLOW_ID}-broken
tasks:
  - id: first
    message: no type here
  - id: second
    type: log
    message: hi
    retry: {maxAttempts: many}
`;

export interface QuickstartResult {
  execution: Execution;
  /** the execution's log lines, oldest first */
  logs: LogLine[];
  /** the key minted by the first create (201), when the label was still free */
  createdKey: CreatedApiKey | null;
  /** whether the second, idempotent create returned the same key (200, `created: false`) */
  secondCreateWasExisting: boolean;
  /** what the server said about BROKEN_YAML */
  diagnostics: WorkflowDiagnostic[];
}

/** Throws with the server's code and message: the catch-all for errors this program does not expect. */
function fail(what: string, error: { error: { code: string; message: string } }): never {
  throw new Error(`${what} failed: ${error.error.code}: ${error.error.message}`);
}

const TERMINAL: ReadonlySet<Execution['state']> = new Set(['SUCCESS', 'FAILED', 'CANCELLED']);

async function runAndWait(client: AutokestraClient, name: string): Promise<Execution> {
  // ?wait holds the answer until the execution ends (200), at most 30 s (202 while still running)
  const triggered = await client.POST('/api/v1/workflows/{id}/executions', {
    params: { path: { id: WORKFLOW_ID }, query: { wait: '30s' } },
    body: { inputs: { name }, labels: { source: 'quickstart' } },
  });
  if (triggered.error) fail('trigger', triggered.error);
  let execution = triggered.data;
  while (!TERMINAL.has(execution.state)) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    const again = await client.GET('/api/v1/executions/{id}', { params: { path: { id: execution.id } } });
    if (again.error) fail('get execution', again.error);
    execution = again.data;
  }
  return execution;
}

/**
 * Every log line of an execution, oldest first, by `after` paging: each page is the oldest
 * `limit` lines newer than `after`, newest first; the next `after` is the page's newest id.
 */
async function readLogs(client: AutokestraClient, executionId: string): Promise<LogLine[]> {
  const lines: LogLine[] = [];
  let after = 0;
  for (;;) {
    const page = await client.GET('/api/v1/executions/{id}/logs', {
      // small pages to show the paging (a real follower asks for up to 1000 lines at a time)
      params: { path: { id: executionId }, query: { after, limit: 2 } },
    });
    if (page.error) fail('read logs', page.error);
    lines.push(...[...page.data.items].reverse());
    const newest = page.data.items[0];
    if (newest) after = newest.id;
    if (!page.data.hasMore) return lines;
  }
}

export async function main(baseUrl: string, apiKey: string, log: (line: string) => void = console.log): Promise<QuickstartResult> {
  const client = createAutokestraClient({ baseUrl, apiKey });

  // 1. Apply the workflow: the YAML text goes as is (201 created, 200 updated)
  const applied = await client.applyWorkflow(WORKFLOW_ID, WORKFLOW_YAML);
  if (applied.error) fail('apply', applied.error);
  log(`${applied.response.status === 201 ? 'created' : 'updated'} ${applied.data.id} (revision ${applied.data.revision})`);

  // 2. Trigger it and wait for the end
  const execution = await runAndWait(client, 'typed client');
  log(`execution ${execution.id}: ${execution.state} in ${execution.durationMs ?? '?'} ms, outputs ${JSON.stringify(execution.workflowOutputs)}`);

  // 3. Its logs
  const logs = await readLogs(client, execution.id);
  for (const line of logs) log(`  ${line.ts} ${line.level.padEnd(5)} ${line.taskId ?? '-'} ${line.message}`);

  // 4. An API key for a read-only dashboard. `idempotent: true`: when the label is taken, the
  //    existing key comes back (200, created: false, no plaintext) instead of 409 CONFLICT.
  const request: CreateApiKey = { label: 'quickstart-dashboard', scopes: ['executions:read', 'logs:read'], idempotent: true };
  let createdKey: CreatedApiKey | null = null;
  let secondCreateWasExisting = false;
  for (const attempt of [1, 2]) {
    const created = await client.POST('/api/v1/api-keys', { body: request });
    if (created.error) fail('create key', created.error);
    const key = created.data;
    if (key.created) {
      // CreatedApiKey: the plaintext is here, this once
      createdKey = key;
      log(`attempt ${attempt}: new key ${key.prefix}… (plaintext ${key.key.length} characters: store it now)`);
    } else {
      // ExistingApiKey: no `key` property at all; the type says so
      secondCreateWasExisting = attempt === 2 && createdKey !== null && key.id === createdKey.id;
      log(`attempt ${attempt}: the label is taken by key ${key.prefix}… (no plaintext)`);
    }
  }

  // 5. An error, handled by its code: INVALID_WORKFLOW lists every problem with its line
  let diagnostics: WorkflowDiagnostic[] = [];
  const broken = await client.applyWorkflow(`${WORKFLOW_ID}-broken`, BROKEN_YAML);
  if (broken.error) {
    const error = broken.error.error;
    switch (error.code) {
      case 'INVALID_WORKFLOW':
        diagnostics = error.details;
        for (const d of error.details) log(`  line ${d.line ?? '?'}: ${d.path || '(document)'}: ${d.message}`);
        break;
      case 'VALIDATION_ERROR':
        for (const d of error.details ?? []) log(`  ${d.field}: ${d.message}`);
        break;
      case 'FORBIDDEN':
        log(`  this key lacks ${error.details?.requiredScopes.join(', ') ?? 'a scope'}`);
        break;
      default:
        fail('apply broken', broken.error);
    }
  } else {
    log(`unexpected: the broken workflow was accepted (${broken.data.id})`);
  }

  return { execution, logs, createdKey, secondCreateWasExisting, diagnostics };
}
