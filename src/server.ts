import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { Module, type ModuleMetadata } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyReply, FastifyRequest } from 'fastify';
import helmet from 'helmet';
import type { Logger as PinoLogger } from 'pino';
import { AutokestraModule } from './autokestra.module';
import { staticKeyProblems } from './common/auth/static-keys';
import type { AppConfig } from './common/config/config.schema';
import { ConfigError, loadConfigWithSections, splitSections, type LoadConfigOptions, type LoadedConfig } from './common/config/load-config';
import { ApiError } from './common/errors/api-error';
import { buildOpenApiDocument } from './common/http/openapi-document';
import { sendError } from './common/errors/all-exceptions.filter';
import { installDirectRoutes } from './common/http/direct-routes';
import { protocolProblem, rawErrorResponse } from './common/http/protocol';
import { createRootLogger, redactUrl, type RootLogger } from './common/logging';
import { NestPinoLogger } from './common/nest-logger';
import { Metrics } from './common/metrics/metrics';
import { startMetricsListener, type MetricsListener } from './common/metrics/metrics-server';
import { LOG_FLUSH_TIMEOUT_MS } from './common/shutdown';
import type { Engine } from './engine/engine';
import type { TaskType } from './engine/tasks/task-type';
import { MCP_PATH } from './mcp/resource-metadata';
import { mcpRequestPolicy } from './modules/mcp/mcp.module';
import { dialectOf } from './engine/store/open-store';
import { VERSION } from './version';

export interface StartedServer {
  app: NestFastifyApplication;
  engine: Engine;
  url: string;
  /** the metrics listener's base URL (GET {metricsUrl}/metrics), when metrics.enabled */
  metricsUrl: string | null;
  logger: RootLogger;
  close(): Promise<void>;
}

export interface StartServerOptions {
  /** log destination (fd or file path); stdout by default */
  logDestination?: number | string;
  /** install SIGTERM/SIGINT handlers: bootstrap() does unless told not to; startServer() (tests, benchmarks) does not */
  shutdownHooks?: boolean;
  /** environment for the engine (workflow secrets); process.env by default */
  env?: NodeJS.ProcessEnv;
  /** task types added to the built-in ones; a taken name stops the start */
  taskTypes?: readonly TaskType[];
}

export interface BootstrapOptions extends StartServerOptions {
  /** the team's Nest modules, served beside Autokestra's with the same guard, filter, pipe and OpenAPI document */
  imports?: ModuleMetadata['imports'];
  /**
   * The settings: where to load them from (config file, environment; the defaults of `serve`
   * when absent), or an already loaded configuration whose top-level keys outside the core
   * settings are extension sections.
   */
  config?: LoadConfigOptions | (AppConfig & Record<string, unknown>);
}

/** The root of a served application: Autokestra and the team's modules side by side. */
@Module({})
class ApplicationModule {}

function isLoadedAppConfig(value: BootstrapOptions['config']): value is AppConfig & Record<string, unknown> {
  return typeof value === 'object' && value !== null && 'server' in value && 'engine' in value;
}

function resolveConfig(source: BootstrapOptions['config']): LoadedConfig {
  if (!isLoadedAppConfig(source)) return loadConfigWithSections(source ?? {});
  const { sections } = splitSections(source);
  return { config: source, sections };
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const MAX_JSON_DEPTH = 64;

/** Iterative (no recursion of its own): true when `value` nests deeper than `limit`. */
export function jsonDepthExceeds(value: unknown, limit: number): boolean {
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [current, depth] = stack.pop()!;
    if (current === null || typeof current !== 'object') continue;
    if (depth > limit) return true;
    for (const child of Array.isArray(current) ? current : Object.values(current)) {
      if (child !== null && typeof child === 'object') stack.push([child, depth + 1]);
    }
  }
  return false;
}

/** Static key entries must be long enough (checked before anything opens). */
export function assertStaticKeysValid(config: AppConfig): void {
  const problems = staticKeyProblems(config.server.apiKeys);
  if (problems.length) throw new ConfigError(problems);
}

function noKeyError(): ConfigError {
  return new ConfigError([
    'no API key can authenticate, and the API refuses to run unauthenticated. Either mint a managed key: ' +
      '`autokestra api-keys create --label admin --scopes admin` (or `npm run quickstart` locally), ' +
      'or configure a static key: AUTOKESTRA_API_KEYS=<key of >= 32 chars> (e.g. $(openssl rand -base64 32)) ' +
      'or server.apiKeys in config.yaml (plaintext or sha256:<hex>)',
  ]);
}

/**
 * Refuses to start without a usable key: a service reachable without auth is never the default.
 * Without static keys and without a database file yet, no managed key can exist: refuse before
 * creating anything.
 */
export function assertAuthPossible(config: AppConfig): void {
  const url = config.database.url;
  if (config.server.apiKeys.length === 0 && dialectOf(url) === 'sqlite' && (url === ':memory:' || !existsSync(url))) throw noKeyError();
}

export async function assertAuthConfigured(engine: Engine): Promise<void> {
  if (engine.apiKeys.hasStaticKeys || (await engine.apiKeys.hasActiveManagedKey())) return;
  throw noKeyError();
}

/**
 * Helmet's headers, computed once: the same policy as running helmet per request, without
 * running a dozen middlewares per request (which halved throughput when measured).
 */
function securityHeadersFromHelmet(): Record<string, string> {
  const headers: Record<string, string> = {};
  const response = {
    setHeader: (name: string, value: string | number) => (headers[name.toLowerCase()] = String(value)),
    removeHeader: (name: string) => delete headers[name.toLowerCase()],
  };
  helmet({
    contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } },
    frameguard: { action: 'deny' },
    referrerPolicy: { policy: 'no-referrer' },
    strictTransportSecurity: false,
    crossOriginEmbedderPolicy: false,
  })({} as never, response as never, () => undefined);
  return headers;
}

/** Past the drain delay and the engine's grace, this much more for closing the store and exiting. */
export const SHUTDOWN_MARGIN_MS = 3000;

/**
 * One signal always ends the process: the graceful path gets the drain delay plus the engine's
 * grace plus a margin, then the process exits regardless of what it was waiting for (a request
 * that never ends, a log destination that never drains). The timer is unref'd, so a shutdown
 * that finishes sooner is not held by it.
 */
function armShutdownDeadline(config: AppConfig, logger: PinoLogger): void {
  const deadlineMs = config.server.drainDelayMs + config.engine.shutdownGraceMs + SHUTDOWN_MARGIN_MS;
  const arm = (signal: NodeJS.Signals) => {
    setTimeout(() => {
      try {
        logger.error({ signal, deadlineMs }, 'shutdown did not finish in time; exiting');
      } catch {
        /* the log destination may be what is stuck */
      }
      process.exit(1);
    }, deadlineMs).unref();
  };
  process.once('SIGTERM', arm);
  process.once('SIGINT', arm);
}

/**
 * Opens the engine (migrating the store), builds the Nest app on Fastify and listens: the way
 * `autokestra serve` runs (it is `bootstrap()` with nothing added). A team's `imports` and
 * `taskTypes` join the built-in ones; their routes get authentication, scopes, the error shape,
 * the request hardening and a place in the OpenAPI document (docs/extending.md).
 */
export async function bootstrap(options: BootstrapOptions = {}): Promise<StartedServer> {
  const { config, sections } = resolveConfig(options.config);
  assertStaticKeysValid(config);
  assertAuthPossible(config);
  const logger = createRootLogger(config.logging.level, options.logDestination, { credentials: config.server.apiKeys, format: config.logging.format });
  // The metrics port is taken first: a port in use stops the start before anything is migrated.
  let metrics: Metrics | null = null;
  let metricsListener: MetricsListener | null = null;
  if (config.metrics.enabled) {
    metrics = new Metrics();
    metricsListener = await startMetricsListener(metrics, config.metrics.host, config.metrics.port);
  }
  // Opened inside DI (the Engine provider); known here so a start that fails later closes it.
  let opened: Engine | undefined;
  const abandon = async () => {
    await opened?.shutdown();
    await metricsListener?.close();
  };
  const securityHeaders = securityHeadersFromHelmet();
  const adapter = new FastifyAdapter({
    // Node enforces headersTimeout/requestTimeout only when it checks connections (every 30 s by
    // default): check often enough that a slow-drip client is cut off close to the timeout.
    // requireHostHeader: off, so that a missing Host is answered in the error shape (onRequest).
    http: { connectionsCheckingInterval: Math.max(100, Math.min(1000, Math.floor(config.server.headersTimeoutMs / 2))), requireHostHeader: false },
    bodyLimit: config.server.bodyLimitBytes,
    trustProxy: config.server.trustProxy as boolean,
    requestTimeout: config.server.requestTimeoutMs,
    connectionTimeout: config.server.requestTimeoutMs,
    keepAliveTimeout: config.server.keepAliveTimeoutMs,
    return503OnClosing: true,
    // Ids are checked by the routes (400 VALIDATION_ERROR), not cut off by the router (414).
    routerOptions: { maxParamLength: 1024 },
    // Router-level failures (bad percent-encoding, ...) leave in the one error shape too.
    frameworkErrors: (error: Error, request: FastifyRequest, reply: FastifyReply) => {
      reply.headers(securityHeaders);
      reply.header('x-request-id', request.id);
      sendError(reply, request, Object.assign(error, { statusCode: 400 }), { error: () => undefined });
    },
    // A malformed HTTP request never reaches a route: answer it in the error shape as well.
    clientErrorHandler: (error: Error & { code?: string }, socket: import('node:net').Socket) => {
      if (!socket.writable) return socket.destroy();
      socket.end(rawErrorResponse(400, 'Bad Request', 'VALIDATION_ERROR', 'malformed HTTP request', securityHeaders));
    },
    // A caller's X-Request-Id is kept when it is sane, so traces join up across services.
    genReqId: (req: IncomingMessage) => {
      const incoming = req.headers['x-request-id'];
      const id = typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
      (req as IncomingMessage & { requestId?: string }).requestId = id;
      return id;
    },
  });
  let app: NestFastifyApplication;
  let engine: Engine;
  let directRoutes: { verify(): void };
  try {
    const autokestra = AutokestraModule.forRoot({ config, sections, taskTypes: options.taskTypes, logger, env: options.env, onEngineOpened: (e) => (opened = e) });
    app = await NestFactory.create<NestFastifyApplication>({ module: ApplicationModule, imports: [autokestra, ...(options.imports ?? [])] }, adapter, {
      // Nest's own lines (and its report of a provider that failed to build, e.g. the engine on a
      // bad secrets file) go to the root logger, never as coloured text to stderr.
      logger: new NestPinoLogger(logger),
      abortOnError: false,
      // Fastify's own parsers (plus ours below) handle bodies; Nest's would shadow them.
      bodyParser: false,
    });
    engine = opened!;
    await assertAuthConfigured(engine);
    // the hot GETs (@DirectRoute()) skip Nest's per-request pipeline; swapped in as routes register
    directRoutes = installDirectRoutes(app, app.getHttpAdapter().getInstance(), logger.child({ component: 'http' }));
  } catch (error) {
    await abandon();
    throw error;
  }
  metrics?.attach(engine);
  // Nest's logger writes to the same root logger (JSON, scrubbed). Access lines come from a
  // Fastify onResponse hook below: per-request logging middleware cost ~45 % of throughput.
  app.useLogger(new NestPinoLogger(logger));
  const fastify = app.getHttpAdapter().getInstance();
  fastify.server.headersTimeout = config.server.headersTimeoutMs;

  // An empty JSON body means "no body" (POST .../executions with no inputs is fine); anything
  // else goes through Fastify's own parser, which guards against prototype poisoning.
  const parseJson = fastify.getDefaultJsonParser('error', 'error');
  fastify.removeContentTypeParser('application/json');
  fastify.addContentTypeParser('application/json', { parseAs: 'string' }, (req: FastifyRequest, body: string | Buffer, done: (err: Error | null, body?: unknown) => void) => {
    if (body.length === 0 || (typeof body === 'string' && body.trim() === '')) return done(null, undefined);
    parseJson(req, body as string, (error: Error | null, parsed?: unknown) => {
      if (error) return done(error);
      // Validation walks bodies recursively: refuse absurd nesting here, before anything does.
      if (jsonDepthExceeds(parsed, MAX_JSON_DEPTH)) {
        return done(new ApiError('VALIDATION_ERROR', `the JSON body is nested deeper than ${MAX_JSON_DEPTH} levels`, [{ field: 'body', message: `nesting deeper than ${MAX_JSON_DEPTH} levels` }]));
      }
      done(null, parsed);
    });
  });
  fastify.addContentTypeParser(
    ['application/yaml', 'text/yaml', 'application/x-yaml'],
    { parseAs: 'string' },
    (_req: FastifyRequest, body: string | Buffer, done: (err: Error | null, body?: unknown) => void) => done(null, body),
  );
  const accessLog = logger.child({ component: 'http' });
  const mcpPolicy = mcpRequestPolicy(config);
  // Security headers on every response; HSTS only when the request came over TLS (directly,
  // or per X-Forwarded-Proto from a trusted proxy): on plain HTTP it would be meaningless.
  fastify.addHook('onRequest', (request: FastifyRequest, reply: FastifyReply, done: () => void) => {
    reply.headers(securityHeaders);
    reply.header('x-request-id', request.id);
    // answers are per key and change with every write: no cache may keep them
    reply.header('cache-control', 'no-store');
    if (request.protocol === 'https') reply.header('strict-transport-security', 'max-age=31536000; includeSubDomains');
    const problem = protocolProblem(request.raw);
    if (problem !== null) {
      sendError(reply, request, new ApiError('VALIDATION_ERROR', problem), { error: () => undefined });
      return;
    }
    // DNS-rebinding defence for /mcp, before authentication: a browser page's request is
    // refused whatever credentials it carries (src/mcp/request-policy.ts).
    if (request.routeOptions.url === MCP_PATH) {
      const refused = mcpPolicy.problem(request.headers);
      if (refused !== null) {
        sendError(reply, request, new ApiError('FORBIDDEN', refused), { error: () => undefined });
        return;
      }
    }
    done();
  });
  // CONNECT asks for a tunnel; Node hands it to a 'connect' listener or drops the connection
  // without a word. No route serves it: answer as for any route that does not exist.
  fastify.server.on('connect', (_req: IncomingMessage, socket: import('node:net').Socket) => {
    socket.on('error', () => socket.destroy());
    socket.end(rawErrorResponse(404, 'Not Found', 'NOT_FOUND', 'CONNECT is not supported: this server is not a proxy', securityHeaders));
  });
  // A client that goes away mid-body is not a server error: noted at info, never as an error.
  fastify.addHook('onRequestAbort', (request: FastifyRequest, done: () => void) => {
    (request as FastifyRequest & { clientAborted?: boolean }).clientAborted = true;
    accessLog.info({ reqId: request.id, req: { method: request.method, url: redactUrl(request.url), remoteAddress: request.ip } }, 'request aborted by the client');
    done();
  });
  // One access line per request, with its id (the id is also in X-Request-Id and error lines).
  fastify.addHook('onResponse', (request: FastifyRequest, reply: FastifyReply, done: () => void) => {
    const status = reply.statusCode;
    if ((request as FastifyRequest & { clientAborted?: boolean }).clientAborted) return done();
    const line = { reqId: request.id, req: { method: request.method, url: redactUrl(request.url), remoteAddress: request.ip }, res: { statusCode: status }, responseTime: Math.round(reply.elapsedTime) };
    if (status >= 500) accessLog.error(line, 'request completed');
    else if (status >= 400) accessLog.warn(line, 'request completed');
    else accessLog.info(line, 'request completed');
    done();
  });
  // Request durations by route pattern (bounded label values); no hook at all without metrics.
  if (metrics) {
    const observed = metrics;
    fastify.addHook('onResponse', (request: FastifyRequest, reply: FastifyReply, done: () => void) => {
      observed.observeRequest(request.method, request.routeOptions.url, reply.statusCode, reply.elapsedTime);
      done();
    });
  }
  // Errors raised by Fastify itself (body parsing, limits) reach the global filter through
  // Nest's own error handler, which wraps them as HttpException with the original as `cause`.

  const document = buildOpenApiDocument(app);
  fastify.get('/api/v1/openapi.json', (_req: FastifyRequest, reply: FastifyReply) => {
    reply.header('cache-control', 'no-cache').send(document);
  });

  // useProcessExit: exit 0 once drained, instead of re-raising the signal (exit 143)
  if (options.shutdownHooks ?? true) {
    app.enableShutdownHooks(['SIGTERM', 'SIGINT'], { useProcessExit: true });
    armShutdownDeadline(config, logger);
  }
  try {
    // initializes first: the extension sections are checked and the @TaskType() providers join here
    await app.listen(config.server.port, config.server.host);
    directRoutes.verify();
  } catch (error) {
    await abandon();
    await app.close().catch(() => undefined);
    throw error;
  }
  engine.start();
  const address = fastify.server.address();
  const port = typeof address === 'object' && address ? address.port : config.server.port;
  const host = config.server.host === '0.0.0.0' || config.server.host === '::' ? '127.0.0.1' : config.server.host;
  const url = `http://${host}:${port}`;
  const metricsUrl = metricsListener?.url ?? null;
  logger.info({ url, metricsUrl, database: engine.getStateStore().dialect, version: VERSION }, 'autokestra listening');

  let closing: Promise<void> | undefined;
  return {
    app,
    engine,
    url,
    metricsUrl,
    logger,
    // Metrics stay scrapable while the engine drains; they close last.
    close: () =>
      (closing ??= app
        .close()
        .then(async () => {
          metrics?.detach();
          await metricsListener?.close();
        })
        .then(() => logger.flushWithin?.(LOG_FLUSH_TIMEOUT_MS))),
  };
}

/** bootstrap() for the tests and benchmarks: an already loaded configuration, no signal handlers unless asked. */
export function startServer(config: AppConfig, options: StartServerOptions & Pick<BootstrapOptions, 'imports'> = {}): Promise<StartedServer> {
  return bootstrap({ ...options, config: config as AppConfig & Record<string, unknown>, shutdownHooks: options.shutdownHooks ?? false });
}
