import { Module, type DynamicModule } from '@nestjs/common';
import { APP_FILTER, APP_GUARD, APP_PIPE } from '@nestjs/core';
import type { Logger as PinoLogger } from 'pino';
import { ApiKeyGuard, FAILED_AUTH_LIMITER } from './common/auth/api-key.guard';
import { FailedAuthLimiter } from './common/auth/failed-auth-limiter';
import type { AppConfig } from './common/config/config.schema';
import { AllExceptionsFilter } from './common/errors/all-exceptions.filter';
import { ContentTypeGuard } from './common/http/content-type.guard';
import { createValidationPipe } from './common/http/validation';
import { APP_CONFIG, ROOT_LOGGER, ShutdownCoordinator } from './common/shutdown';
import type { Engine } from './engine/engine';
import { EngineModule } from './modules/engine/engine.module';
import { HealthModule } from './modules/health/health.module';
import { WorkflowsModule } from './modules/workflows/workflows.module';
import { ExecutionsModule } from './modules/executions/executions.module';
import { LogsModule } from './modules/logs/logs.module';
import { ApiKeysModule } from './modules/api-keys/api-keys.module';
import { AuditModule } from './modules/audit/audit.module';
import { ToolsModule } from './modules/tools/tools.module';
import { McpModule } from './modules/mcp/mcp.module';

export interface AppModuleOptions {
  config: AppConfig;
  engine: Engine;
  logger: PinoLogger;
}

/** Root module: global guard, filter and pipe are wired once here (docs/architecture.md). */
@Module({})
export class AppModule {
  static register({ config, engine, logger }: AppModuleOptions): DynamicModule {
    return {
      module: AppModule,
      imports: [
        EngineModule.forEngine(engine),
        HealthModule,
        WorkflowsModule,
        ExecutionsModule,
        LogsModule,
        ApiKeysModule,
        AuditModule,
        ToolsModule,
        McpModule.register(config),
      ],
      providers: [
        { provide: APP_CONFIG, useValue: config },
        { provide: ROOT_LOGGER, useValue: logger },
        { provide: FAILED_AUTH_LIMITER, useValue: new FailedAuthLimiter(config.auth.failedAttemptsLimit, config.auth.failedAttemptsWindowMs) },
        { provide: APP_GUARD, useClass: ApiKeyGuard },
        { provide: APP_GUARD, useClass: ContentTypeGuard },
        { provide: APP_FILTER, useClass: AllExceptionsFilter },
        { provide: APP_PIPE, useFactory: createValidationPipe },
        ShutdownCoordinator,
      ],
    };
  }
}
