#!/usr/bin/env node
import 'reflect-metadata';
import { readFileSync } from 'node:fs';
import { Command, InvalidArgumentError } from 'commander';
import { CLI_PRINCIPAL } from './engine/access/api-keys';
import { presentKeyRateLimit } from './engine/access/key-rate-limit';
import { hasScopes, SCOPES } from './engine/access/scopes';
import { parseDurationMs } from './engine/dsl';
import type { ApiKeyRecord } from './engine/store/sql-access-store';
import type { AppConfig } from './common/config/config.schema';
import { ConfigError, loadConfig } from './common/config/load-config';
import type { Engine } from './engine/engine';
import { openEngine } from './common/engine-factory';
import { EngineError } from './engine/errors';
import { SecretsConfigError } from './engine/runtime/secrets';
import { migrateDatabase, redactDatabaseSecrets } from './engine/store/open-store';
import { VERSION } from './version';
import { createRootLogger } from './common/logging';
import { startupBanner } from './banner';
import type { StartedServer } from './server';

/** Errors a user can fix are printed as one clear message; exit code 2 for configuration. */
function fail(error: unknown): never {
  if (error instanceof ConfigError || error instanceof SecretsConfigError) {
    process.stderr.write(`autokestra: ${error.message}\n`);
    process.exit(2);
  }
  if (error instanceof EngineError) {
    process.stderr.write(`autokestra: ${error.code}: ${error.message}\n`);
    if (Array.isArray(error.details)) {
      for (const d of error.details as { path?: string; field?: string; message: string; line?: number }[]) {
        process.stderr.write(`  - ${d.path ?? d.field ?? ''}${d.line ? ` (line ${d.line})` : ''}: ${d.message}\n`);
      }
    }
    process.exit(1);
  }
  process.stderr.write(`autokestra: ${(error as Error)?.message ?? String(error)}\n`);
  process.exit(1);
}

function configFrom(command: Command): AppConfig {
  const options = command.optsWithGlobals<{ config?: string }>();
  return loadConfig({ file: options.config });
}

function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Runs `fn` against the engine directly (no HTTP), then closes the store. */
async function withEngine<T>(command: Command, fn: (engine: Engine) => Promise<T>): Promise<T> {
  const config = configFrom(command);
  const engine = await openEngine(config);
  try {
    return await fn(engine);
  } finally {
    await engine.shutdown();
  }
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('must be a non-negative integer');
  return n;
}

const QUICKSTART_LABEL = 'local-admin';

function parseExpiresIn(value: string): number {
  const ms = parseDurationMs(value);
  if (ms === null || ms <= 0) throw new InvalidArgumentError("must be a duration such as '30d', '12h' or 'PT1H'");
  return ms;
}

/**
 * Local first run: mints a managed admin key when no key can authenticate yet, prints it once
 * (only its SHA-256 is stored), then serves on ./data/autokestra.db.
 */
async function quickstart(command: Command): Promise<void> {
  const config = configFrom(command);
  let minted = false;
  await withEngine(command, async (engine) => {
    if (engine.apiKeys.hasStaticKeys || (await engine.apiKeys.hasActiveManagedKey())) {
      process.stdout.write('An API key already exists for this database; no new key was minted (create more with `autokestra api-keys create`).\n');
      return;
    }
    minted = true;
    const { plaintext } = await engine.apiKeys.create(CLI_PRINCIPAL, { label: QUICKSTART_LABEL, scopes: ['admin'], idempotent: true });
    process.stdout.write(
      [
        '',
        'A local admin API key was minted. It is shown ONCE and only its hash is stored:',
        '',
        `    ${plaintext}`,
        '',
        'Try:',
        `    curl -H "Authorization: Bearer ${plaintext}" http://127.0.0.1:${config.server.port}/api/v1/status`,
        '',
      ].join('\n'),
    );
  });
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- lazy on purpose: only serve needs the Nest stack
  const { serve } = require('./main') as typeof import('./main.js');
  const server = await serve(config);
  process.stdout.write(`Autokestra ${VERSION} is listening on ${server.url} (database ${redactDatabaseSecrets(config.database.url, config.database.url)})\n`);
  printBanner(config, server, minted);
}

/** The short what-next banner, for a person at a terminal only (see banner.ts). */
function printBanner(config: AppConfig, server: StartedServer, minted: boolean): void {
  if (!process.stdout.isTTY) return;
  process.stdout.write(
    startupBanner({
      version: VERSION,
      url: server.url,
      metricsUrl: server.metricsUrl,
      database: redactDatabaseSecrets(config.database.url, config.database.url),
      keys: minted ? 'minted' : server.engine.apiKeys.hasStaticKeys ? 'static' : 'managed',
      logFormat: server.logger.format ?? 'json',
    }),
  );
}

function printKey(key: ApiKeyRecord, plaintext?: string | null): void {
  const { previousPrefix: _p, previousValidUntil: _v, lastUsedIp: _ip, rateLimit, ...rest } = key;
  const visible = { ...rest, rateLimit: presentKeyRateLimit(rateLimit) };
  printJson(plaintext ? { ...visible, key: plaintext } : visible);
}

/** `--rate-limit 100/1m` → {requests: 100, window: '1m'}; the engine validates the values. */
function parseRateLimitOption(value: string): { requests: number; window: string } {
  const match = /^\s*(\d+)\s*\/\s*(\S+)\s*$/.exec(value);
  if (!match) throw new InvalidArgumentError("must be <requests>/<window>, e.g. '100/1m' or '5000/1h'");
  return { requests: Number(match[1]), window: match[2] };
}

/**
 * `autokestra mcp`: the MCP tool server over stdio, on the configured database, for a local
 * agent (Claude Desktop, Cursor, ...). stdout carries protocol messages only: every log line
 * goes to stderr (fd 2). The key comes from AUTOKESTRA_API_KEY (never a command-line argument,
 * which other users can read in the process list) and is checked again on every request.
 */
/** as serve's shutdown: a bounded wait for buffered log lines (shutdown.ts would load Nest) */
const MCP_LOG_FLUSH_MS = 1000;

async function mcpStdio(command: Command): Promise<void> {
  const config = configFrom(command);
  const presented = process.env.AUTOKESTRA_API_KEY?.trim();
  if (!presented) {
    throw new ConfigError(['autokestra mcp needs an API key holding tools:invoke in AUTOKESTRA_API_KEY (mint one with `autokestra api-keys create --scopes tools:invoke,executions:read`)']);
  }
  const logger = createRootLogger(config.logging.level, 2, { credentials: config.server.apiKeys, format: config.logging.format });
  const engine = await openEngine(config, { logger: logger.child({ component: 'engine' }) });
  logger.maskSecretsWith?.(engine.secrets.masker);
  const stop = async (code: number) => {
    await engine.shutdown().catch((error: unknown) => logger.error({ err: error }, 'engine shutdown failed'));
    await logger.flushWithin?.(MCP_LOG_FLUSH_MS);
    process.exit(code);
  };
  const authenticate = () => engine.apiKeys.authenticate(presented, null);
  try {
    const principal = await authenticate();
    if (!hasScopes(principal, ['tools:invoke'])) {
      process.stderr.write('autokestra mcp: the key in AUTOKESTRA_API_KEY lacks the tools:invoke scope\n');
      return stop(1);
    }
  } catch (error) {
    const message = error instanceof EngineError ? `${error.code}: ${error.message}` : String((error as Error)?.message ?? error);
    process.stderr.write(`autokestra mcp: the key in AUTOKESTRA_API_KEY does not authenticate (${message})\n`);
    return stop(1);
  }
  process.once('SIGTERM', () => void stop(0));
  process.once('SIGINT', () => void stop(0));
  // Runs the executions it starts (and any other queued work); schedules and retention stay
  // with `serve`, so a desktop agent's process never fires a schedule twice.
  engine.start({ schedules: false, retention: false });
  logger.info({ version: VERSION, database: engine.getStateStore().dialect }, 'autokestra MCP server on stdio');
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- lazy on purpose: only this command needs the MCP SDK
  const { serveStdio } = require('./mcp/stdio') as typeof import('./mcp/stdio.js');
  await serveStdio({ tools: engine.tools, principal: authenticate, logger: engine.logger });
  await stop(0);
}

export function buildCli(): Command {
  const program = new Command('autokestra')
    .description('Self-hosted workflow orchestration')
    .version(VERSION)
    .option('-c, --config <file>', 'configuration file (default: ./config.yaml, or AUTOKESTRA_CONFIG)')
    .showHelpAfterError();

  program
    .command('serve')
    .description('start the HTTP API and the engine')
    .action(async (_opts, command: Command) => {
      // the Nest stack is loaded only to serve: other commands start in a fraction of the time
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- lazy on purpose: only serve needs the Nest stack
      const { serve } = require('./main') as typeof import('./main.js');
      const config = configFrom(command);
      const server = await serve(config);
      process.stdout.write(`Autokestra ${VERSION} is listening on ${server.url}${server.metricsUrl ? ` (metrics: ${server.metricsUrl}/metrics)` : ''}\n`);
      printBanner(config, server, false);
    });

  program
    .command('quickstart')
    .description('mint a local admin key (first run only) and serve on ./data/autokestra.db')
    .action((_opts, command: Command) => quickstart(command));

  program
    .command('migrate')
    .description('apply pending database migrations')
    .action(async (_opts, command: Command) => {
      const config = configFrom(command);
      const applied = await migrateDatabase(config.database.url, {
        pool: config.database.pool,
        statementTimeoutMs: config.database.statementTimeoutMs,
      });
      process.stdout.write(applied.length ? `applied: ${applied.join(', ')}\n` : 'the database is up to date\n');
    });

  program
    .command('mcp')
    .description('serve the MCP tools over stdio for a local agent (key in AUTOKESTRA_API_KEY; logs on stderr)')
    .action((_opts, command: Command) => mcpStdio(command));

  const workflows = program.command('workflows').description('manage workflows (directly on the database, no HTTP)');
  workflows
    .command('apply <file>')
    .description('validate a workflow YAML file and store it as a new revision')
    .action(async (file: string, _opts, command: Command) => {
      const source = readFileSync(file, 'utf8');
      const { workflow, created } = await withEngine(command, (engine) => engine.workflows.apply(source));
      process.stdout.write(`${created ? 'created' : 'updated'} ${workflow.id} (revision ${workflow.revision})\n`);
    });
  workflows
    .command('list')
    .option('--namespace <ns>', 'only this namespace')
    .option('--limit <n>', 'page size', positiveInt, 50)
    .option('--offset <n>', 'skip this many', positiveInt, 0)
    .action(async (opts: { namespace?: string; limit: number; offset: number }, command: Command) => {
      const page = await withEngine(command, (engine) => engine.workflows.list({ limit: opts.limit, offset: opts.offset, namespace: opts.namespace }));
      printJson(page);
    });
  workflows
    .command('get <id>')
    .action(async (id: string, _opts, command: Command) => printJson(await withEngine(command, (engine) => engine.workflows.get(id))));
  workflows
    .command('delete <id>')
    .action(async (id: string, _opts, command: Command) => {
      await withEngine(command, (engine) => engine.workflows.delete(id));
      process.stdout.write(`deleted ${id}\n`);
    });

  const executions = program.command('executions').description('run and inspect executions (directly on the database, no HTTP)');
  executions
    .command('start <workflowId>')
    .description('trigger an execution; with --wait, run it here (if no server claims it first) and wait for the end')
    .option('-i, --input <key=value>', 'an input value (repeatable)', (value: string, previous: string[]) => [...previous, value], [])
    .option('-w, --wait', 'wait for the execution to end; exit code 1 unless it succeeds')
    .option('--timeout <seconds>', 'with --wait: give up after this many seconds', positiveInt, 3600)
    .action(async (workflowId: string, opts: { input: string[]; wait?: boolean; timeout: number }, command: Command) => {
      const inputs: Record<string, string> = {};
      for (const pair of opts.input) {
        const eq = pair.indexOf('=');
        if (eq <= 0) throw new InvalidArgumentError(`--input must be key=value, got '${pair}'`);
        inputs[pair.slice(0, eq)] = pair.slice(eq + 1);
      }
      const result = await withEngine(command, async (engine) => {
        const { execution } = await engine.executions.trigger(workflowId, { inputs, trigger: { type: 'cli' } }, CLI_PRINCIPAL);
        if (!opts.wait) return execution;
        engine.start({ schedules: false, retention: false });
        return engine.executions.wait(execution.id, opts.timeout * 1000);
      });
      printJson(result);
      if (opts.wait && result.state !== 'SUCCESS') process.exitCode = 1;
    });
  executions
    .command('list')
    .option('--workflow <id>', 'only this workflow')
    .option('--state <state>', 'only this state')
    .option('--limit <n>', 'page size', positiveInt, 50)
    .option('--offset <n>', 'skip this many', positiveInt, 0)
    .action(async (opts: { workflow?: string; state?: string; limit: number; offset: number }, command: Command) => {
      printJson(await withEngine(command, (engine) => engine.executions.list({ limit: opts.limit, offset: opts.offset, workflowId: opts.workflow, state: opts.state })));
    });
  executions
    .command('inspect <id>')
    .action(async (id: string, _opts, command: Command) => printJson(await withEngine(command, (engine) => engine.executions.get(id))));
  executions
    .command('cancel <id>')
    .action(async (id: string, _opts, command: Command) => {
      const execution = await withEngine(command, (engine) => engine.executions.cancel(id, CLI_PRINCIPAL));
      process.stdout.write(`${execution.id}: ${execution.state}\n`);
    });
  executions
    .command('logs <id>')
    .description('print the logs, oldest first; --follow keeps printing until the execution ends')
    .option('-f, --follow', 'keep printing new lines until the execution ends')
    .option('--after <logId>', 'only lines after this log id (the cursor the stream route takes)', positiveInt, 0)
    .action(async (id: string, opts: { follow?: boolean; after: number }, command: Command) => {
      // The same follower as GET /executions/:id/logs/stream, on the store (this command talks
      // to the database, not to a server): the same cursor, order and end.
      await withEngine(command, async (engine) => {
        const events = await engine.executions.follow(id, { after: opts.after }, { live: opts.follow === true });
        for await (const event of events) {
          if (event.type !== 'lines') continue;
          for (const line of event.lines) process.stdout.write(`${new Date(line.ts).toISOString()} ${line.level.padEnd(5)} ${line.taskId ?? '-'} ${line.message}\n`);
        }
      });
    });

  const apiKeys = program.command('api-keys').description('manage API keys (directly on the database; this is how the first key is minted)');
  apiKeys
    .command('create')
    .requiredOption('--scopes <list>', `comma-separated: ${SCOPES.join(', ')}`)
    .option('--label <label>', 'unique label')
    .option('--namespaces <list>', "comma-separated allow-list, e.g. 'team-a,ops.*'")
    .option('--expires-in <duration>', "e.g. '30d', '12h'", parseExpiresIn)
    .option('--rate-limit <requests/window>', "the key's own request limit per process, e.g. '100/1m'", parseRateLimitOption)
    .description('create a key and print its plaintext once')
    .action(async (opts: { scopes: string; label?: string; namespaces?: string; expiresIn?: number; rateLimit?: { requests: number; window: string } }, command: Command) => {
      const { key, plaintext } = await withEngine(command, (engine) =>
        engine.apiKeys.create(CLI_PRINCIPAL, {
          label: opts.label,
          scopes: opts.scopes.split(',').map((s) => s.trim()).filter(Boolean),
          namespaces: opts.namespaces ? opts.namespaces.split(',').map((s) => s.trim()).filter(Boolean) : null,
          expiresAt: opts.expiresIn ? Date.now() + opts.expiresIn : null,
          rateLimit: opts.rateLimit ?? null,
        }),
      );
      printKey(key, plaintext);
      process.stderr.write('Store the key now: it is not shown again.\n');
    });
  apiKeys
    .command('list')
    .option('--limit <n>', 'page size', positiveInt, 50)
    .option('--offset <n>', 'skip this many', positiveInt, 0)
    .action(async (opts: { limit: number; offset: number }, command: Command) => {
      const page = await withEngine(command, (engine) => engine.apiKeys.list(CLI_PRINCIPAL, opts.limit, opts.offset));
      for (const key of page.items) printKey(key);
    });
  apiKeys
    .command('revoke <id>')
    .action(async (id: string, _opts, command: Command) => {
      const key = await withEngine(command, (engine) => engine.apiKeys.revoke(CLI_PRINCIPAL, id));
      process.stdout.write(`revoked ${key.id} (${key.prefix})\n`);
    });
  apiKeys
    .command('rotate <id>')
    .option('--grace <seconds>', 'seconds the old key keeps working', positiveInt, 0)
    .action(async (id: string, opts: { grace: number }, command: Command) => {
      const { key, plaintext } = await withEngine(command, (engine) => engine.apiKeys.rotate(CLI_PRINCIPAL, id, opts.grace));
      printKey(key, plaintext);
      process.stderr.write('Store the key now: it is not shown again.\n');
    });

  return program;
}

if (require.main === module) {
  buildCli()
    .parseAsync(process.argv)
    .catch((error: unknown) => fail(error));
}
