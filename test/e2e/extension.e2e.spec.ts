/**
 * The extension surface, proven by examples/extension (issue 10 §5): a team's module, importing
 * only the public surface, booted with bootstrap(). Its route gets authentication, scopes, the
 * error shape and a place in the OpenAPI document; its own check and audit entry work; its
 * task type (a Nest provider with an injected service and its own config section) is validated
 * at apply with lines and runs; its settings are validated at startup like the core ones.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Injectable, Module } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { AutokestraModule, bootstrap, ConfigError, loadConfigWithSections, TaskType, type StartedServer, type TaskContext, type TaskDefinition } from 'autokestra';
import { GreetingsModule } from '../../examples/extension/greetings.module';
import { httpClient, randomKey, TEST_CONFIG, tempDir } from '../support/server';
import { expectError, YAML } from './helpers';
import { runToEnd, waitTerminal } from './engine-helpers';

const EXAMPLE = join(__dirname, '..', '..', 'examples', 'extension');

/** config/test.yaml plus the example's own section (and whatever `extra` adds) */
function configFile(dir: string, greetings: string, extra = ''): string {
  const path = join(dir, 'config.yaml');
  writeFileSync(path, `${readFileSync(TEST_CONFIG, 'utf8')}\n${greetings}\n${extra}`);
  return path;
}

const GREETINGS = 'greetings:\n  salutation: Howdy\n  maxRepeat: 3\n  namespace: greetings\n';

describe('examples/extension booted with bootstrap()', () => {
  const key = randomKey();
  const dir = tempDir('autokestra-extension-');
  let server: StartedServer;
  let request: ReturnType<typeof httpClient>;

  beforeAll(async () => {
    server = await bootstrap({
      imports: [GreetingsModule],
      config: { file: configFile(dir, GREETINGS), env: { AUTOKESTRA_API_KEYS: key, AUTOKESTRA_DATABASE_URL: join(dir, 'db.sqlite') } },
      logDestination: join(dir, 'server.log'),
      shutdownHooks: false,
    });
    request = httpClient(server.url, key);
  });

  afterAll(async () => {
    await server?.close();
  });

  it('the route answers with auth, validation and the error shape; its section configures the service', async () => {
    const anonymous = await request('POST', '/api/v1/greetings', { body: { name: 'team' }, auth: false });
    expectError(anonymous, 401, 'MISSING_API_KEY');
    const invalid = await request('POST', '/api/v1/greetings', { body: { name: '' } });
    expectError(invalid, 400, 'VALIDATION_ERROR');
    const unknownField = await request('POST', '/api/v1/greetings', { body: { name: 'x', extra: 1 } });
    expectError(unknownField, 400, 'VALIDATION_ERROR');
    const ok = await request('POST', '/api/v1/greetings', { body: { name: 'team' } });
    expect(ok.status).toBe(201);
    expect(ok.body).toEqual({ greeting: 'Howdy, team' });
    expect(ok.headers.get('x-request-id')).toBeTruthy();
    expect(ok.headers.get('cache-control')).toBe('no-store');
  });

  it('its scope and its own namespace check hold for managed keys, and both outcomes are audited', async () => {
    const reader = await request('POST', '/api/v1/api-keys', { body: { label: 'reader', scopes: ['workflows:read'] } });
    expect(reader.status).toBe(201);
    const elsewhere = await request('POST', '/api/v1/api-keys', { body: { label: 'billing-writer', scopes: ['executions:write'], namespaces: ['billing.*'] } });
    expect(elsewhere.status).toBe(201);
    const within = await request('POST', '/api/v1/api-keys', { body: { label: 'greeter', scopes: ['executions:write'], namespaces: ['greetings'] } });
    expect(within.status).toBe(201);

    const noScope = await request('POST', '/api/v1/greetings', { body: { name: 'a' }, auth: reader.body.key });
    const denied = expectError(noScope, 403, 'FORBIDDEN');
    expect(denied.details).toEqual({ requiredScopes: ['executions:write'] });
    const wrongNamespace = await request('POST', '/api/v1/greetings', { body: { name: 'b' }, auth: elsewhere.body.key });
    expect(expectError(wrongNamespace, 403, 'FORBIDDEN').message).toContain("'greetings'");
    const allowed = await request('POST', '/api/v1/greetings', { body: { name: 'c' }, auth: within.body.key });
    expect(allowed.status).toBe(201);

    const audit = await request('GET', '/api/v1/audit?action=greeting.create&limit=50');
    expect(audit.status).toBe(200);
    const entries = audit.body.items.map((e: any) => [e.outcome, e.actor, e.resourceId ?? null]);
    expect(entries, JSON.stringify(audit.body.items)).toEqual(
      expect.arrayContaining([
        ['failure', elsewhere.body.prefix, null],
        ['success', within.body.prefix, 'c'],
        ['success', 'static', 'team'],
      ]),
    );
    expect(JSON.stringify(audit.body)).not.toContain(key);
  });

  it('ConfigService reads the core settings and the validated section; the environment is not read through it', async () => {
    const config = server.app.get(ConfigService);
    expect(config.get('greetings.salutation')).toBe('Howdy');
    expect(config.get('greetings.style')).toBe('plain');
    expect(config.get('engine.workers')).toBe(server.engine.workerSlots);
    expect(config.get('PATH')).toBeUndefined();
  });

  it('OpenAPI lists the route as an authenticated operation of its own', async () => {
    const res = await request('GET', '/api/v1/openapi.json');
    const op = res.body.paths['/api/v1/greetings']?.post;
    expect(op).toBeDefined();
    expect(op.operationId).toBe('createGreeting');
    expect(op.tags).toEqual(['greetings']);
    expect(op.security).toEqual([{ bearer: [] }, { apiKey: [] }]); // from @Authenticated: bearer or X-API-Key
    expect(Object.keys(op.responses)).toEqual(expect.arrayContaining(['201', '400', '401', '403']));
    expect(op.requestBody.content['application/json'].schema.$ref).toBe('#/components/schemas/CreateGreetingDto');
  });

  it("the task type's unknown, missing and out-of-range properties are apply-time diagnostics with lines", async () => {
    const yaml = 'id: greet-bad\nnamespace: greetings\ntasks:\n  - id: greet\n    type: greetings.greet\n    nmae: team\n  - id: again\n    type: greetings.greet\n    name: x\n    repeat: 0\n  - id: third\n    type: greetings.greet\n';
    const res = await request('PUT', '/api/v1/workflows/greet-bad', { raw: yaml, contentType: YAML });
    const error = expectError(res, 400, 'INVALID_WORKFLOW');
    const problems = error.details.map((d: any) => [d.path, d.line]);
    expect(problems, JSON.stringify(error.details)).toEqual(expect.arrayContaining([['tasks[0].nmae', 6], ['tasks[1].repeat', 10]]));
    expect(error.details.find((d: any) => d.path === 'tasks[0].nmae').message).toMatch(/unknown property/);
    const missing = error.details.find((d: any) => d.path.startsWith('tasks[2]'));
    expect([missing?.message, missing?.line]).toEqual([expect.stringMatching(/missing required property 'name'/), expect.any(Number)]);
    expect((await request('GET', '/api/v1/workflows/greet-bad')).status).toBe(404);
  });

  it('the example workflow runs to SUCCESS with the injected service; the section bounds it', async () => {
    const yaml = readFileSync(join(EXAMPLE, 'greet.workflow.yaml'), 'utf8');
    const applied = await request('PUT', '/api/v1/workflows/greet-the-team', { raw: yaml, contentType: YAML });
    expect(applied.status).toBe(201);
    const api = { request };
    const done = await runToEnd(api, 'greet-the-team', { inputs: { who: 'platform' } });
    const greet = done.taskRuns.find((r: any) => r.taskId === 'greet');
    expect(greet.outputs).toEqual({ greeting: 'Howdy, platform', repeated: 2 });
    const logs = await request('GET', `/api/v1/executions/${done.id}/logs?limit=100`);
    const messages = logs.body.items.map((l: any) => l.message);
    expect(messages.filter((m: string) => m === 'Howdy, platform')).toHaveLength(2);
    expect(messages).toContain('Howdy, platform (2 times)');

    // repeat 5 is a valid property (1-10) but above greetings.maxRepeat (3): the task's own failure kind
    const tooLong = yaml.replace('repeat: 2', 'repeat: 5').replace('id: greet-the-team', 'id: greet-too-long');
    expect((await request('PUT', '/api/v1/workflows/greet-too-long', { raw: tooLong, contentType: YAML })).status).toBe(201);
    const triggered = await request('POST', '/api/v1/workflows/greet-too-long/executions', { body: {} });
    expect(triggered.status).toBe(202);
    const failed = await waitTerminal(api, triggered.body.id);
    expect(failed.state).toBe('FAILED');
    expect(failed.taskRuns.find((r: any) => r.taskId === 'greet').error.kind).toBe('GREETING_TOO_LONG');
  });
});

describe('the extension section at startup', () => {
  const key = randomKey();
  const start = (greetings: string, extra = '') => {
    const dir = tempDir('autokestra-extension-config-');
    return bootstrap({
      imports: [GreetingsModule],
      config: { file: configFile(dir, greetings, extra), env: { AUTOKESTRA_API_KEYS: key, AUTOKESTRA_DATABASE_URL: join(dir, 'db.sqlite') } },
      logDestination: join(dir, 'server.log'),
      shutdownHooks: false,
    });
  };

  it('reports every invalid setting of the section and every undeclared top-level key at once, one line each', async () => {
    const error = await start('greetings:\n  salutation: ""\n  maxRepeat: 99\n  colour: red\n', 'greetngs:\n  salutation: typo\n').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems;
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^greetings\.salutation: /),
        expect.stringMatching(/^greetings\.maxRepeat: .*10/),
        'greetings.colour: unknown setting',
        expect.stringMatching(/^greetngs: unknown setting/),
      ]),
    );
    expect(problems).toHaveLength(4);
  });

  it('without the module, its section is an unknown setting like any typo', async () => {
    const dir = tempDir('autokestra-extension-config-');
    const error = await bootstrap({
      config: { file: configFile(dir, GREETINGS), env: { AUTOKESTRA_API_KEYS: randomKey(), AUTOKESTRA_DATABASE_URL: join(dir, 'db.sqlite') } },
      logDestination: join(dir, 'server.log'),
      shutdownHooks: false,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toEqual([expect.stringMatching(/^greetings: unknown setting/)]);
  });

  it('the defaults apply when the section is absent', async () => {
    const server = await start('');
    try {
      const res = await httpClient(server.url, key)('POST', '/api/v1/greetings', { body: { name: 'you' } });
      expect(res.status).toBe(201);
      expect(res.body).toEqual({ greeting: 'Hello, you' });
      expect(server.engine.taskTypes.names).toContain('greetings.greet');
    } finally {
      await server.close();
    }
  });
});

/** A second provider claiming a built-in name. */
@TaskType()
class ShadowLogTaskType implements TaskType {
  readonly name = 'log';
  readonly properties = {};
  async run(_task: TaskDefinition, _ctx: TaskContext): Promise<null> {
    return null;
  }
}

@Module({ providers: [ShadowLogTaskType] })
class ShadowModule {}

describe('task type providers at startup', () => {
  it('a @TaskType() provider whose name is taken stops the start, naming both origins', async () => {
    const dir = tempDir('autokestra-extension-dup-');
    const error = await bootstrap({
      imports: [ShadowModule],
      config: { file: configFile(dir, ''), env: { AUTOKESTRA_API_KEYS: randomKey(), AUTOKESTRA_DATABASE_URL: join(dir, 'db.sqlite') } },
      logDestination: join(dir, 'server.log'),
      shutdownHooks: false,
    }).catch((e: unknown) => e);
    expect(String((error as Error)?.message)).toMatch(/duplicate task type 'log': registered by built-in and again by provider ShadowLogTaskType/);
  });
});

@Injectable()
class SettingsSource {
  readonly databaseFile: string;
  constructor() {
    this.databaseFile = join(tempDir('autokestra-extension-async-'), 'db.sqlite');
  }
}

@Module({ providers: [SettingsSource], exports: [SettingsSource] })
class SettingsModule {}

describe('AutokestraModule.forRootAsync in a Nest application of its own', () => {
  it('builds the options from an injected provider and serves the API with its guard', async () => {
    const key = randomKey();
    const app = await NestFactory.create<NestFastifyApplication>(
      AutokestraModule.forRootAsync({
        imports: [SettingsModule],
        inject: [SettingsSource],
        useFactory: (source: SettingsSource) => loadConfigWithSections({ file: TEST_CONFIG, env: { AUTOKESTRA_API_KEYS: key, AUTOKESTRA_DATABASE_URL: source.databaseFile } }),
      }),
      new FastifyAdapter(),
      { logger: false },
    );
    try {
      await app.listen(0, '127.0.0.1');
      const url = await app.getUrl();
      const status = await fetch(`${url}/api/v1/status`, { headers: { authorization: `Bearer ${key}` } });
      expect(status.status).toBe(200);
      const anonymous = await fetch(`${url}/api/v1/workflows`);
      expect(anonymous.status).toBe(401);
      expect((await anonymous.json()).error.code).toBe('MISSING_API_KEY');
    } finally {
      await app.close();
    }
  });
});
