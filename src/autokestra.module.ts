import { Global, Module, type DynamicModule, type InjectionToken, type ModuleMetadata, type OptionalFactoryDependency, type Provider } from '@nestjs/common';
import { APP_FILTER, APP_GUARD, APP_PIPE, DiscoveryModule } from '@nestjs/core';
import { ApiKeyGuard } from './common/auth/api-key.guard';
import { FAILED_AUTH_LIMITER, RequestAuthenticator } from './common/auth/request-authenticator';
import { FailedAuthLimiter } from './common/auth/failed-auth-limiter';
import { AuditService } from './common/audit.service';
import { configProviders } from './common/config/config-sections';
import type { AppConfig } from './common/config/config.schema';
import { openEngine } from './common/engine-factory';
import { EngineProvider } from './common/engine.provider';
import { AllExceptionsFilter } from './common/errors/all-exceptions.filter';
import { ContentTypeGuard } from './common/http/content-type.guard';
import { createValidationPipe } from './common/http/validation';
import { createRootLogger, type RootLogger } from './common/logging';
import { APP_CONFIG, ROOT_LOGGER, ShutdownCoordinator } from './common/shutdown';
import { TaskTypeExplorer } from './common/task-type-provider';
import { Engine } from './engine/engine';
import type { TaskType } from './engine/tasks/task-type';
import { ApiKeysModule } from './modules/api-keys/api-keys.module';
import { AuditModule } from './modules/audit/audit.module';
import { ExecutionsModule } from './modules/executions/executions.module';
import { HealthModule } from './modules/health/health.module';
import { LogsModule } from './modules/logs/logs.module';
import { McpModule } from './modules/mcp/mcp.module';
import { ToolsModule } from './modules/tools/tools.module';
import { WorkflowsModule } from './modules/workflows/workflows.module';

export interface AutokestraModuleOptions {
  /** the validated core settings (loadConfig / loadConfigWithSections) */
  config: AppConfig;
  /** top-level settings outside the core ones: the extension sections, validated by the modules that declare them */
  sections?: Record<string, unknown>;
  /** task types beside the built-in ones and the `@TaskType()` providers */
  taskTypes?: readonly TaskType[];
  /** the root logger; one writing JSON lines to stdout per `config.logging` when absent */
  logger?: RootLogger;
  /** environment for workflow secrets; process.env by default */
  env?: NodeJS.ProcessEnv;
  /** called with the engine as soon as it is open (bootstrap closes it if the start fails later) */
  onEngineOpened?: (engine: Engine) => void;
}

export interface AutokestraModuleAsyncOptions {
  imports?: ModuleMetadata['imports'];
  inject?: (InjectionToken | OptionalFactoryDependency)[];
  useFactory: (...args: never[]) => AutokestraModuleOptions | Promise<AutokestraModuleOptions>;
}

const AUTOKESTRA_OPTIONS = Symbol('AUTOKESTRA_OPTIONS');

/**
 * What every module may inject (global): the options, the configuration (ConfigService,
 * APP_CONFIG), the root logger, the engine and its Nest face (EngineProvider). The engine is
 * built here, in DI, by the same factory the CLI uses.
 */
@Global()
@Module({})
class AutokestraCoreModule {
  static withOptions(options: Provider, imports: ModuleMetadata['imports'] = []): DynamicModule {
    const providers: Provider[] = [
      options,
      ...configProviders(AUTOKESTRA_OPTIONS),
      {
        provide: ROOT_LOGGER,
        useFactory: (o: AutokestraModuleOptions) => o.logger ?? createRootLogger(o.config.logging.level, undefined, { credentials: o.config.server.apiKeys, format: o.config.logging.format }),
        inject: [AUTOKESTRA_OPTIONS],
      },
      {
        provide: Engine,
        useFactory: async (o: AutokestraModuleOptions, logger: RootLogger) => {
          const engine = await openEngine(o.config, { logger: logger.child({ component: 'engine' }), env: o.env, taskTypes: o.taskTypes });
          // workflow secrets are masked in server log lines too, at the point each line is written
          logger.maskSecretsWith?.(engine.secrets.masker);
          o.onEngineOpened?.(engine);
          return engine;
        },
        inject: [AUTOKESTRA_OPTIONS, ROOT_LOGGER],
      },
      { provide: EngineProvider, useFactory: (engine: Engine) => new EngineProvider(engine), inject: [Engine] },
      {
        provide: FAILED_AUTH_LIMITER,
        useFactory: (config: AppConfig) => new FailedAuthLimiter(config.auth.failedAttemptsLimit, config.auth.failedAttemptsWindowMs),
        inject: [APP_CONFIG],
      },
      RequestAuthenticator,
      AuditService,
      TaskTypeExplorer,
    ];
    return {
      module: AutokestraCoreModule,
      imports: [DiscoveryModule, ...imports],
      providers,
      exports: providers.filter((p) => p !== TaskTypeExplorer).map((p) => (typeof p === 'function' ? p : (p as { provide: InjectionToken }).provide)),
    };
  }
}

/**
 * Autokestra as a Nest module: the API v1 routes, MCP, the global API-key guard, error filter
 * and validation pipe, the engine. `bootstrap()` serves it on Fastify with the HTTP hardening;
 * a team adds its own modules beside it (docs/extending.md).
 */
@Module({})
export class AutokestraModule {
  static forRoot(options: AutokestraModuleOptions): DynamicModule {
    return AutokestraModule.build(AutokestraCoreModule.withOptions({ provide: AUTOKESTRA_OPTIONS, useValue: options }));
  }

  /** Nest's usual async form: the options from a factory that may inject other providers. */
  static forRootAsync(options: AutokestraModuleAsyncOptions): DynamicModule {
    return AutokestraModule.build(
      AutokestraCoreModule.withOptions({ provide: AUTOKESTRA_OPTIONS, useFactory: options.useFactory as (...args: unknown[]) => unknown, inject: options.inject ?? [] }, options.imports),
    );
  }

  private static build(core: DynamicModule): DynamicModule {
    return {
      module: AutokestraModule,
      imports: [core, HealthModule, WorkflowsModule, ExecutionsModule, LogsModule, ApiKeysModule, AuditModule, ToolsModule, McpModule],
      providers: [
        { provide: APP_GUARD, useClass: ApiKeyGuard },
        { provide: APP_GUARD, useClass: ContentTypeGuard },
        { provide: APP_FILTER, useClass: AllExceptionsFilter },
        { provide: APP_PIPE, useFactory: createValidationPipe },
        // Here, not in the global core module: Nest runs shutdown hooks nearest the root first, and
        // readiness must turn 503 (and the drain delay pass) before the health module stops.
        ShutdownCoordinator,
      ],
    };
  }
}
